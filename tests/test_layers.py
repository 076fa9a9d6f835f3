"""The import rules the layers keep, read from the source (an AST walk of ``src/paperboy``).

* The doors (pages, the API, the CLI, the scheduler, ``/metrics``) hold no SQL: they call the
  tables' owners, so every door shares each owner's rules. Type names for a connection or engine
  are all they import from SQLAlchemy.
* No module imports another module's private (``_``-prefixed) names: what a module shares is
  public, so the module can change its insides without breaking a caller it does not know of.
* No import cycle anywhere in ``paperboy``: layers import one way.
* The doors sit side by side: ``api/`` never imports ``web/`` nor the reverse; what both need
  (``http/``: the page cache, the one cached-response road, error statuses, the app container)
  imports neither, and ``app.py`` alone, above both, wires them together. Routes reach the running
  site through ``http.site.site_of``, never through loose ``app.state`` attributes.
* Each table is written (insert, update, delete) only by its owner's package (``OWNERS``). Reading
  is freer: a domain module may read another package's table for a view or a ranking (trending
  joins votes and papers); the doors read nothing (the first rule).

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "src" / "paperboy"


# The doors: they parse input, call one owner or view function and render.
DOORS = ("paperboy.web", "paperboy.api", "paperboy.cli", "paperboy.jobs.scheduler", "paperboy.metrics", "paperboy.scrape")
SQLALCHEMY_TYPES = {"Connection", "Engine", "Row"}



# Which package writes each table (docs/architecture.md, "Table owners").
OWNERS = {
    **dict.fromkeys(("papers", "paper_authors", "paper_categories", "site_state"), "paperboy.store"),
    **dict.fromkeys(("users", "sessions", "api_tokens", "rate_limits"), "paperboy.accounts"),
    **dict.fromkeys(("votes", "comments", "authorship_claims", "audit_log"), "paperboy.community"),
    **dict.fromkeys(("subscribers", "digest_deliveries"), "paperboy.digest"),
    **dict.fromkeys(("outbox", "outbox_bodies"), "paperboy.mail"),
    "job_runs": "paperboy.jobs",
    "paper_embeddings": "paperboy.search",
    **dict.fromkeys(("harvest_checkpoints", "backfill_state", "request_slots"), "paperboy.ingest"),
}


def modules(root: Path = PACKAGE) -> dict[str, ast.Module]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return found


def _is_package(tree_name: str, trees: dict[str, ast.Module]) -> bool:
    return any(other.startswith(tree_name + ".") for other in trees)


def imports(name: str, tree: ast.Module, trees: dict[str, ast.Module]) -> Iterable[tuple[ast.AST, str, str | None]]:
    """(node, imported module, imported name or None) for every import in the module, relative ones
    resolved; ``from package import submodule`` names the submodule."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if _is_package(name, trees) else name.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                base = ".".join(here + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield (node, submodule, None) if submodule in trees else (node, base, alias.name)


def graph(trees: dict[str, ast.Module]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in trees}
    for name, tree in trees.items():
        for _, target, _ in imports(name, tree, trees):
            while target not in trees and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in trees and target != name:
                edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def private_imports(trees: dict[str, ast.Module]) -> set[tuple[str, str, str]]:
    found = set()
    for name, tree in trees.items():
        for _, module, imported in imports(name, tree, trees):
            if imported and imported.startswith("_") and not imported.startswith("__") and module != name and _within(module, ("paperboy",)):
                found.add((name, module, imported))
    return found


def sql_in_doors(trees: dict[str, ast.Module]) -> list[str]:
    found = []
    for name, tree in trees.items():
        if not _within(name, DOORS):
            continue
        for node, module, imported in imports(name, tree, trees):
            if module == "paperboy.store.schema" or (module == "paperboy.store" and imported == "schema"):
                found.append(f"{name}:{node.lineno} imports the tables (paperboy.store.schema)")
            elif module.split(".")[0] == "sqlalchemy" and not (module == "sqlalchemy" and imported in SQLALCHEMY_TYPES):
                found.append(f"{name}:{node.lineno} imports {module}{'.' + imported if imported else ''}")
    return found


def writes(trees: dict[str, ast.Module]) -> set[tuple[str, str]]:
    """(module, table) for each ``insert(t)``/``update(t)``/``delete(t)`` or ``t.insert()``… on a
    table imported from ``paperboy.store.schema``."""
    found = set()
    for name, tree in trees.items():
        tables = {alias.asname or alias.name: alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                  and node.module == "paperboy.store.schema" for alias in node.names}  # fmt: skip
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("insert", "update", "delete") and node.args and isinstance(node.args[0], ast.Name):
                table = tables.get(node.args[0].id)
            elif isinstance(func, ast.Attribute) and func.attr in ("insert", "update", "delete") and isinstance(func.value, ast.Name):
                table = tables.get(func.value.id)
            else:
                continue
            if table is not None:
                found.add((name, table))
    return found


def test_the_doors_hold_no_sql():
    assert sql_in_doors(modules()) == []


def test_no_module_imports_another_modules_private_names():
    assert private_imports(modules()) == set()


def test_no_import_cycle():
    assert cycles(graph(modules())) == []


def test_the_site_sends_its_mail_with_the_digests_hooks():
    """``mail.outbox.deliver_pending`` knows nothing of the digest; a door calling it directly would
    mail readers who unsubscribed. The site's delivery is ``digest.delivery.deliver``."""
    trees = modules()
    callers = {name for name, tree in trees.items() for _, module, imported in imports(name, tree, trees)
               if imported == "deliver_pending" and module in ("paperboy.mail", "paperboy.mail.outbox")}  # fmt: skip
    callers |= {name for name, tree in trees.items() for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and node.attr == "deliver_pending"}  # outbox.deliver_pending(…)
    assert callers <= {"paperboy.mail", "paperboy.digest.delivery"}


def test_every_table_has_an_owner():
    from paperboy.store.schema import metadata

    assert set(OWNERS) == set(metadata.tables)


def test_each_table_is_written_by_its_owner_alone():
    strangers = {(module, table) for module, table in writes(modules()) if not _within(module, (OWNERS[table],))}
    assert strangers == set()


def test_the_checks_see_what_they_refuse(tmp_path):
    """Each check finds a planted case, so an empty answer above means there is none."""
    package = tmp_path / "paperboy"
    (package / "web").mkdir(parents=True)
    (package / "digest").mkdir()
    (package / "mail").mkdir()
    for folder in (package, package / "web", package / "digest", package / "mail"):
        (folder / "__init__.py").write_text("")
    (package / "web" / "page.py").write_text("from sqlalchemy import Connection, select\nfrom paperboy.store.schema import votes\n")
    (package / "digest" / "send.py").write_text("from .subscriptions import _COLUMNS\n")
    (package / "digest" / "subscriptions.py").write_text("def f():\n    from paperboy.mail import outbox\n")
    (package / "mail" / "outbox.py").write_text("from paperboy.digest.send import x\n")
    (package / "digest" / "votes.py").write_text(
        "from sqlalchemy import update\nfrom paperboy.store.schema import votes as v, papers\n"
        "def f(conn):\n    conn.execute(update(v))\n    conn.execute(papers.delete())\n    conn.execute(select(papers))\n")
    trees = modules(package)
    assert sql_in_doors(trees) == ["paperboy.web.page:1 imports sqlalchemy.select", "paperboy.web.page:2 imports the tables (paperboy.store.schema)"]
    assert private_imports(trees) == {("paperboy.digest.send", "paperboy.digest.subscriptions", "_COLUMNS")}
    assert cycles(graph(trees)) == [["paperboy.digest.send", "paperboy.digest.subscriptions", "paperboy.mail.outbox"]]
    assert writes(trees) == {("paperboy.digest.votes", "votes"), ("paperboy.digest.votes", "papers")}


def crossings(trees: dict[str, ast.Module], package: str, forbidden: tuple[str, ...]) -> set[tuple[str, str]]:
    """(module in ``package``, forbidden module it imports)."""
    return {(name, target) for name, tree in trees.items() if _within(name, (package,))
            for _, target, _ in imports(name, tree, trees) if _within(target, forbidden)}  # fmt: skip


def test_the_api_imports_nothing_from_the_pages():
    assert crossings(modules(), "paperboy.api", ("paperboy.web",)) == set()


def test_the_pages_import_nothing_from_the_api():
    assert crossings(modules(), "paperboy.web", ("paperboy.api",)) == set()


def test_what_both_doors_share_imports_neither():
    assert crossings(modules(), "paperboy.http", ("paperboy.web", "paperboy.api", "paperboy.app")) == set()


def test_the_running_site_is_reached_through_its_container_only():
    """``app.state`` holds one attribute, ``site``, written once by create_app and read by
    ``site_of``: no other line reads or writes attributes on it (they were ~100 untyped uses)."""
    container = {("app.py", "app.state.site = site"), ("http/site.py", "return holder.app.state.site")}
    loose = []
    for path in PACKAGE.rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bapp\.state\.\w", line) and (path.relative_to(PACKAGE).as_posix(), line.split("#")[0].strip()) not in container:
                loose.append(f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}")
    assert loose == []


def test_the_door_checks_see_what_they_refuse(tmp_path):
    package = tmp_path / "paperboy"
    for folder in ("api", "web", "http"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "api" / "v1.py").write_text("def f():\n    from paperboy.web.search_pages import run\n")
    (package / "web" / "pages.py").write_text("from paperboy import api\n")
    (package / "http" / "cache.py").write_text("from paperboy.app import create_app\n")
    (package / "app.py").write_text("")
    (package / "web" / "search_pages.py").write_text("")
    trees = modules(package)
    assert crossings(trees, "paperboy.api", ("paperboy.web",)) == {("paperboy.api.v1", "paperboy.web.search_pages")}
    assert crossings(trees, "paperboy.web", ("paperboy.api",)) == {("paperboy.web.pages", "paperboy.api")}
    assert crossings(trees, "paperboy.http", ("paperboy.web", "paperboy.api", "paperboy.app")) == {("paperboy.http.cache", "paperboy.app")}
