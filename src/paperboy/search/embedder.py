"""What search needs from an embedding model, and how loading one fails.

Search, indexing and the tests' fake model meet here rather than at the onnxruntime runtime
(:mod:`paperboy.search.embed`), so that nothing but that runtime imports it.
"""

from __future__ import annotations

__all__ = ["EmbeddingModelError"]


class EmbeddingModelError(RuntimeError):
    """The embedding model cannot be found or loaded: missing package, folder or files, bad model."""
