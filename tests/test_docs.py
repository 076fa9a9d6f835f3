"""The documentation keeps up with the code: every CLI command and option, every route, every link.

The README is a first page; the reference lives in docs/ (settings: tests/test_config.py). These
tests read the code's own lists — the typer app, the FastAPI routes — so a new command or URL that
nobody documented fails here, and so does a documented one that no longer exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from conftest import make_app
from paperboy.cli import app as cli_app
from paperboy.http.site import site_of

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: Routes no document lists, each with the reason.
UNDOCUMENTED_ROUTES = {
    "/static": "the stylesheet, scripts and icons the pages link (urls.md mentions it); nobody visits a URL there by itself",
}

_HEADING = re.compile(r"^(#+) (.*)$", re.MULTILINE)
_METHODS = "GET|POST|PUT|PATCH|DELETE"
#: A route as the docs write it, in backticks: "`GET /papers/date/{day}`".
_ROUTE = re.compile(rf"`((?:{_METHODS})) (/[^`\s]*)`")


# --- the CLI: docs/cli.md ------------------------------------------------------------------------


def _commands() -> dict[str, object]:
    """Every command and subcommand of ``paperboy`` (groups included) by its full name."""
    found: dict[str, object] = {}

    def walk(command, name: str) -> None:
        found[name] = command
        for sub_name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{name} {sub_name}")

    walk(typer.main.get_command(cli_app), "paperboy")
    return found


def _cli_sections() -> dict[str, str]:
    """docs/cli.md's sections by the command in their heading ("## `paperboy db`"), each up to the next heading."""
    text = (DOCS / "cli.md").read_text()
    headings = list(_HEADING.finditer(text))
    sections = {}
    for n, heading in enumerate(headings):
        named = re.fullmatch(r"`(paperboy[^`]*)`", heading.group(2).strip())
        if named:
            end = headings[n + 1].start() if n + 1 < len(headings) else len(text)
            sections[named.group(1)] = text[heading.end() : end]
    return sections


def test_every_cli_command_has_a_section_in_docs_cli():
    commands, sections = set(_commands()), set(_cli_sections())
    missing = sorted(commands - sections)
    assert not missing, f"add a heading (## `paperboy …`) for these commands to docs/cli.md: {missing}"
    unknown = sorted(sections - commands)
    assert not unknown, f"docs/cli.md has sections for commands paperboy does not have: {unknown}"


def test_every_cli_option_is_named_in_its_commands_section():
    sections = _cli_sections()
    missing = []
    for name, command in _commands().items():
        for param in command.params:
            if param.param_type_name != "option" or getattr(param, "hidden", False):
                continue
            spellings = param.opts + param.secondary_opts
            if not any(re.search(rf"`{re.escape(s)}[`\s=]", sections.get(name, "")) for s in spellings):
                missing.append(f"{name} {'/'.join(spellings)}")
    assert not missing, f"name these options (in backticks) in their command's section of docs/cli.md: {missing}"


# --- the routes: docs/urls.md and docs/api.md ----------------------------------------------------


@pytest.fixture
def fastapi_app(tmp_path):
    """The application as create_app builds it, unwrapped from its ASGI middleware; its routes are
    read, never called, so the database is never opened."""
    wrapped = make_app(f"sqlite:///{tmp_path}/unused.db", tmp_path)
    app = wrapped
    while not hasattr(app, "routes"):
        app = app.app
    yield app
    site_of(wrapped).engine.dispose()


def _routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route the application answers, path parameters without their
    converters ("{day:period}" is written "{day}"); HEAD goes with GET, so it is left out."""
    from fastapi.routing import iter_route_contexts

    routes = set()
    for route in iter_route_contexts(app.routes):  # routers included in routers, flattened
        if route.path in UNDOCUMENTED_ROUTES:
            continue
        methods = (route.methods or set()) - {"HEAD"}
        assert methods, f"{route.path} is not a plain endpoint: document it, or list it in UNDOCUMENTED_ROUTES with a reason"
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        routes |= {(method, path) for method in methods}
    return routes


def _documented_routes() -> set[tuple[str, str]]:
    return {(m.group(1), m.group(2)) for doc in ("urls.md", "api.md") for m in _ROUTE.finditer((DOCS / doc).read_text())}


def test_every_route_is_in_docs_urls_or_docs_api(fastapi_app):
    routes, documented = _routes(fastapi_app), _documented_routes()
    missing = sorted(f"{m} {p}" for m, p in routes - documented)
    assert not missing, f"list these routes (as `METHOD /path`) in docs/urls.md or docs/api.md: {missing}"
    unknown = sorted(f"{m} {p}" for m, p in documented - routes)
    assert not unknown, f"docs/urls.md or docs/api.md list routes the application does not have: {unknown}"


def test_routes_left_out_of_the_docs_exist(fastapi_app):
    """The exceptions stay honest: an entry for a route that is gone is removed."""
    assert set(UNDOCUMENTED_ROUTES) <= {getattr(route, "path", None) for route in fastapi_app.routes}


# --- links between the documents -----------------------------------------------------------------

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("doc", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    broken = []
    for target in _LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            broken.append(f"{target} (no file {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path})")
        elif anchor and path.suffix == ".md":
            anchors = {_anchor(h) for _, h in _HEADING.findall(path.read_text())}
            if anchor not in anchors:
                broken.append(f"{target} (no heading #{anchor} in {path.name})")
    assert not broken, f"broken links in {doc.relative_to(ROOT)}: {broken}"


def test_the_readme_is_a_first_page():
    """The README starts with the two set-up commands and stays short; the reference is in docs/."""
    text = (ROOT / "README.md").read_text()
    assert text.startswith("# Paperboy\n\n```sh\nsudo apt-get update && sudo apt-get install -y make python3-venv && make run ")
    assert len(text.splitlines()) <= 150
    for doc in ("urls.md", "api.md", "cli.md", "configuration.md", "architecture.md"):
        assert f"(docs/{doc})" in text, f"the README links docs/{doc}"
