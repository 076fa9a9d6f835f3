"""``python -m paperboy.cli``: what ``paperboy serve`` starts its background worker with."""

from paperboy.cli import main

main()
