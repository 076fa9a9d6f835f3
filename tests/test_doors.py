"""The doors sit side by side: ``api/`` never imports ``web/`` nor the reverse, and what both need
(``http/``: the page cache, the cached-response road, error statuses, the app container) imports
neither. ``paperboy/app.py`` alone, above both, wires them together. Routes reach the running site
through ``http.site.site_of``, never through loose ``app.state`` attributes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "paperboy"

# Imports the search slice of issue #23 is removing (api's use of the search pages' runner); the
# lead deletes this list once that branch is merged. Nothing else may be added here.
ALLOWED = {
    ("paperboy.api.feeds", "paperboy.web.search_pages"),
    ("paperboy.api.citations", "paperboy.web.search_pages"),
    ("paperboy.api.v1", "paperboy.web.search_pages"),
}


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (functions' imports and type-only ones too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from paperboy import web`
    return found


def _module(path: Path) -> str:
    return ".".join(("paperboy", *path.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")


def _crossings(package: str, forbidden: tuple[str, ...]) -> set[tuple[str, str]]:
    out = set()
    for path in (SRC / package).rglob("*.py"):
        for target in _imports(path):
            hit = next((f for f in forbidden if target == f or target.startswith(f + ".")), None)
            if hit is not None:
                out.add((_module(path), target if target.count(".") < 3 else ".".join(target.split(".")[:3])))
    return out


def test_the_api_imports_nothing_from_the_pages():
    assert _crossings("api", ("paperboy.web",)) - ALLOWED == set()


def test_the_pages_import_nothing_from_the_api():
    assert _crossings("web", ("paperboy.api",)) == set()


def test_what_both_doors_share_imports_neither():
    assert _crossings("http", ("paperboy.web", "paperboy.api", "paperboy.app")) == set()


def test_the_allow_list_holds_only_imports_that_still_exist():
    """An entry whose import is gone is deleted, so the list shrinks to nothing as the search slice lands."""
    stale = {pair for pair in ALLOWED if pair not in _crossings("api", ("paperboy.web",))}
    assert not stale, f"remove from ALLOWED: {stale}"


def test_the_running_site_is_reached_through_its_container_only():
    """``app.state`` holds one attribute, ``site``, written once by create_app and read by
    ``site_of``: no other line reads or writes attributes on it (they were ~100 untyped uses)."""
    container = {("app.py", "app.state.site = site"), ("http/site.py", "return app.state.site")}
    loose = []
    for path in SRC.rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bapp\.state\.\w", line) and (path.relative_to(SRC).as_posix(), line.split("#")[0].strip()) not in container:
                loose.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert loose == []
