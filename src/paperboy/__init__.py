"""Paperboy: a self-hostable Daily Papers — a daily, community-curated feed of research papers."""

__version__ = "0.1.0"
