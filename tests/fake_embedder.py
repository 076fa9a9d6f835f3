"""A deterministic stand-in for the embedding model: hashed bag of stemmed words, L2-normalised.

It is an :class:`~paperboy.search.embedder.Embedder` (the real model's document text included) and
makes texts that share words similar, so the search wiring (indexing, fusion, filters, related
papers) can be tested in milliseconds. The real model is tested in test_embed.py.
"""

from __future__ import annotations

import zlib

import numpy as np

from paperboy.search.embed import document_text
from paperboy.search.text import analyze


class FakeEmbedder:
    name = "fake-hash-64"
    dim = 64
    document_text = staticmethod(document_text)

    def __init__(self, fail_after: int | None = None):
        self.calls = 0
        self.fail_after = fail_after

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        for term in analyze(text):
            v[zlib.crc32(term.encode()) % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_documents(self, texts, batch_size: int = 64) -> np.ndarray:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("killed")
        return np.vstack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._one(text)
