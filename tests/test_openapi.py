"""The OpenAPI document describes every public endpoint, and schemathesis finds no answer that breaks it.

schemathesis (its command line, against a live server on loopback) generates requests from
/openapi.json — bounded: a few examples an operation, a fixed seed — and checks each answer: no
server error, a documented status, the documented content type, a body that matches the schema.
It runs twice: anonymously (writes get the documented 401) and with a write token (writes run,
including their rate limits). Submissions are left out of the token run: they ask arXiv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import serve
from paperboy.accounts.api_tokens import create_token
from paperboy.accounts.users import create_user
from paperboy.config import Settings
from paperboy.store.db import make_engine, write_transaction

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture(scope="module")
def api_server(slice_db, tmp_path_factory):
    from paperboy.app import create_app

    path = tmp_path_factory.mktemp("openapi") / "paperboy.db"
    path.write_bytes(slice_db.read_bytes())
    engine = make_engine(f"sqlite:///{path}")
    with write_transaction(engine) as conn:
        user = create_user(conn, "fuzzer", "fuzzer@example.org", "correct horse battery staple")
        secret = create_token(conn, user.id, "schemathesis", "write").secret
    engine.dispose()
    app = create_app(Settings(database_url=f"sqlite:///{path}", data_dir=str(path.parent), secret_key="test-secret").resolved())
    with serve(app) as url:
        yield url, secret


def test_the_document_lists_the_api_and_no_pages(api_server):
    import httpx

    url, _ = api_server
    doc = httpx.get(url + "/openapi.json").json()
    paths = set(doc["paths"])
    assert {"/api/daily_papers", "/api/papers/search", "/api/papers/{arxiv_id}", "/papers/{arxiv_id}.md", "/api/v1/trending",
            "/api/v1/papers/{arxiv_id}/vote", "/api/v1/papers/{arxiv_id}/comments", "/api/v1/users/{username}", "/api/v1/submissions"} <= paths  # fmt: skip
    assert not {"/", "/search", "/papers/{arxiv_id}", "/login", "/settings/tokens", "/healthz"} & paths
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            assert "422" not in op["responses"] or "HTTPValidationError" not in str(op["responses"]["422"]), (method, path)
            errors = [code for code in op["responses"] if code.startswith(("4", "5"))]
            assert errors, (method, path)  # every operation documents how it refuses
    assert doc["components"]["securitySchemes"]["HTTPBearer"] == {"type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["HTTPBearer"]["description"]}


def test_api_docs_page_serves_swagger_ui_from_here(api_server):
    import httpx

    url, _ = api_server
    html = httpx.get(url + "/api/docs").text
    assert "swagger-ui-bundle.js" in html and "https://" not in html.split("<body>")[0]  # nothing from elsewhere
    assert httpx.get(url + "/api/docs").headers["content-security-policy"].startswith("default-src 'self'")


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "token"])
def test_schemathesis_finds_nothing(api_server, authenticated, tmp_path):
    url, secret = api_server
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if exe is None:
        pytest.skip("schemathesis is a test dependency: pip install -e '.[test]'")
    cmd = [exe, "run", f"{url}/openapi.json", "--checks", CHECKS, "--max-examples", "8", "--seed", "20261202",
           "--phases", "examples,fuzzing", "--request-timeout", "30", "--no-color"]  # fmt: skip
    if authenticated:
        cmd += ["--header", f"Authorization: Bearer {secret}", "--exclude-path", "/api/v1/submissions"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "HOME": str(tmp_path)}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout.split("Test cases:")[-1].split("\n")[1]
