"""What search needs from an embedding model, and how loading one fails.

Indexing, the search service and the tests' fake model depend on :class:`Embedder`, not on the
onnxruntime runtime (:class:`paperboy.search.embed.OnnxEmbedder`), so a stand-in needs no model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

__all__ = ["Embedder", "EmbeddingModelError"]


class Embedder(Protocol):
    """A text embedding model: float32, L2-normalised vectors, so cosine similarity is a dot product."""

    #: Stored with every vector: vectors of two models (or settings) never mix.
    name: str
    dim: int

    def document_text(self, title: str, abstract: str) -> str:
        """The text embedded for a paper (part of the model: its text hash decides what is re-embedded)."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``, shape ``(len(texts), dim)``, in input order."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one search query, shape ``(dim,)``."""
        ...


class EmbeddingModelError(RuntimeError):
    """The embedding model cannot be found or loaded: missing package, folder or files, bad model."""
