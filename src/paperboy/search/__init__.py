"""Search: hybrid keyword (BM25) + semantic (embeddings) over the archive, and related papers."""
