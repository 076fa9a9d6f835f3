"""Settings: every one documented, read from the environment in one place, checked when read."""

import ast
import re
from dataclasses import fields
from pathlib import Path

import pytest

from paperboy.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def _documented_variables() -> set[str]:
    """The variables named in the first column of docs/configuration.md's table (the README links it)."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `PAPERBOY_")]
    return {name for row in rows for name in re.findall(r"`(PAPERBOY_[A-Z0-9_]+)`", row.split("|")[1])}


def test_every_setting_is_in_the_configuration_doc():
    documented = _documented_variables()
    missing = [f.metadata["env"] for f in fields(Settings) if f.metadata["env"] not in documented]
    assert not missing, f"add these to the table in docs/configuration.md: {missing}"
    unknown = documented - {f.metadata["env"] for f in fields(Settings)}
    assert not unknown, f"docs/configuration.md documents variables Settings does not have: {unknown}"


def test_only_config_reads_the_environment():
    offenders = []
    for path in (ROOT / "src" / "paperboy").rglob("*.py"):
        if path.name == "config.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"os\.environ|os\.getenv", line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert not offenders, f"read settings through paperboy.config.Settings: {offenders}"


def _source_trees():
    for path in sorted((ROOT / "src" / "paperboy").rglob("*.py")):
        yield path.relative_to(ROOT), ast.parse(path.read_text())


def test_a_settings_default_is_written_only_in_settings():
    """``getattr(settings, "name", default)`` writes the default a second time, where it can drift
    from the one in Settings (and hides a caller that passes something else)."""
    offenders = []
    for path, tree in _source_trees():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
                    and len(node.args) == 3 and "settings" in ast.unparse(node.args[0])):  # fmt: skip
                offenders.append(f"{path}:{node.lineno} {ast.unparse(node)}")
    assert not offenders, f"read the attribute; its default belongs in Settings: {offenders}"


def test_every_settings_parameter_is_typed():
    """Each function handed the settings says so, whoever wrote it (the codemod that annotated them
    can be re-run after a merge)."""
    offenders = []
    for path, tree in _source_trees():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                offenders += [f"{path}:{node.lineno} {node.name}" for arg in a.posonlyargs + a.args + a.kwonlyargs
                              if arg.arg == "settings" and arg.annotation is None]  # fmt: skip
    assert not offenders, f"annotate these settings parameters with Settings: {offenders}"


@pytest.mark.parametrize("env, message", [
    ({"PAPERBOY_PAGE_SIZE": "0"}, "PAPERBOY_PAGE_SIZE must be at least 1"),
    ({"PAPERBOY_PAGE_SIZE": "many"}, "must be a whole number"),
    ({"PAPERBOY_HF_INTERVAL": "nan"}, "PAPERBOY_HF_INTERVAL must be at least 0"),
    ({"PAPERBOY_SMTP_SECURITY": "tls"}, "none, starttls or ssl"),
    ({"PAPERBOY_DAILY_AT": "8pm"}, "HH:MM"),
    ({"PAPERBOY_DAILY_TZ": "Mars/Olympus"}, "unknown time zone"),
    ({"PAPERBOY_ARXIV_HOLIDAYS": "Christmas"}, "YYYY-MM-DD"),
    ({"PAPERBOY_ARXIV_INTERVAL": "1"}, "at least 3 seconds"),
    ({"PAPERBOY_LOG_FORMAT": "xml"}, "PAPERBOY_LOG_FORMAT must be text or json"),
    ({"PAPERBOY_GRACEFUL_SHUTDOWN_SECONDS": "-1"}, "PAPERBOY_GRACEFUL_SHUTDOWN_SECONDS must be at least 0"),
])  # fmt: skip
def test_bad_settings_say_which_variable_is_wrong(tmp_path, env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env({"PAPERBOY_DATA_DIR": str(tmp_path), **env})


def test_a_faster_arxiv_pace_is_allowed_for_loopback_servers(tmp_path):
    local = {f"PAPERBOY_ARXIV_{k}_URL": "http://127.0.0.1:9/x" for k in ("API", "OAI", "RSS")}
    settings = Settings.from_env({"PAPERBOY_DATA_DIR": str(tmp_path), "PAPERBOY_ARXIV_INTERVAL": "0.01", **local})
    assert settings.arxiv_interval == 0.01
