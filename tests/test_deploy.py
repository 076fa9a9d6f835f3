"""The deployment files in deploy/: compose and systemd have the shape docs/deployment.md describes,
name only real settings, and agree with each other (proxy upstreams, ports, health checks). No image
is pulled: compose.yaml is read with PyYAML (and `docker compose config` checks it when docker has
the compose plugin); systemd units are parsed and `systemd-analyze verify` runs where it exists."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import fields
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from conftest import free_port, serve
from paperboy.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
SETTINGS = {f.metadata["env"] for f in fields(Settings)}
WEB_SERVICES = {"web1", "web2"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def caddy_upstreams(path: Path) -> tuple[list[str], dict[str, str]]:
    """The reverse_proxy upstreams of a Caddyfile and the directives of its reverse_proxy block."""
    text = path.read_text()
    m = re.search(r"^\s*reverse_proxy\s+([^{\n]+)\{(.*?)\}", text, re.S | re.M)
    assert m, f"no reverse_proxy block in {path}"
    options = dict(line.split(None, 1) for line in m.group(2).strip().splitlines() if line.strip() and not line.strip().startswith("#"))
    return m.group(1).split(), {k: v.strip() for k, v in options.items()}


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


# -- compose --------------------------------------------------------------------------------------


def test_compose_has_the_database_two_web_servers_a_worker_a_proxy_and_a_relay(compose):
    services = compose["services"]
    assert set(services) == {"db", "migrate", *WEB_SERVICES, "worker", "proxy", "smtp"}
    assert services["db"]["image"].startswith("pgvector/pgvector:pg16")
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    for name in ("migrate", *WEB_SERVICES, "worker"):
        assert services[name]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert services[name]["image"] == services["web1"]["image"]  # one image for all
    assert services["migrate"]["command"] == ["paperboy", "db", "upgrade"] and services["migrate"]["restart"] == "no"
    assert services["worker"]["command"] == ["paperboy", "worker"]
    for name in WEB_SERVICES:
        command = services[name]["command"]
        assert command[:2] == ["paperboy", "serve"] and "--no-worker" in command and option(command, "--host") == "0.0.0.0"


def test_compose_starts_in_order_on_health_checks(compose):
    services = compose["services"]
    for name in ("migrate", *WEB_SERVICES, "worker"):
        assert services[name]["depends_on"]["db"] == {"condition": "service_healthy"}
    for name in (*WEB_SERVICES, "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["proxy"]["depends_on"] == {name: {"condition": "service_healthy"} for name in WEB_SERVICES}
    for name in WEB_SERVICES:  # a dependency on service_healthy needs a healthcheck to wait for
        port = option(services[name]["command"], "--port")
        test = services[name]["healthcheck"]["test"]
        assert f"http://127.0.0.1:{port}/healthz" in test and test[:4] == ["CMD", "python", "-m", "paperboy.web.probe"]


def test_compose_wires_the_settings_to_the_other_services(compose):
    services = compose["services"]
    db_env = services["db"]["environment"]
    for name in ("migrate", *WEB_SERVICES, "worker"):
        env = services[name]["environment"]
        url = urlsplit(env["PAPERBOY_DATABASE_URL"].replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in deploy/.env}", "pw"))
        assert url.scheme == "postgresql+psycopg" and url.hostname == "db" and url.port == 5432
        assert url.username == db_env["POSTGRES_USER"] and url.path == "/" + db_env["POSTGRES_DB"]
        assert "POSTGRES_PASSWORD" in env["PAPERBOY_DATABASE_URL"] and "POSTGRES_PASSWORD" in db_env["POSTGRES_PASSWORD"]
        assert env["PAPERBOY_SMTP_HOST"] in services  # the relay service
        assert env["PAPERBOY_SECRET_KEY"].startswith("${PAPERBOY_SECRET_KEY:?")  # the same for both web servers, never generated per container
        proxy_ip = services["proxy"]["networks"]["paperboy"]["ipv4_address"]
        assert env["PAPERBOY_TRUSTED_PROXIES"] == proxy_ip  # only Caddy may set X-Forwarded-*
    subnet = compose["networks"]["paperboy"]["ipam"]["config"][0]["subnet"]
    assert proxy_ip.startswith(subnet.rsplit(".", 1)[0] + ".")


def test_the_proxy_balances_over_exactly_the_web_services(compose):
    services = compose["services"]
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]
    upstreams, options = caddy_upstreams(DEPLOY / "Caddyfile")
    assert sorted(upstreams) == sorted(f"{name}:{option(services[name]['command'], '--port')}" for name in WEB_SERVICES)
    assert options["health_uri"] == "/healthz"


def test_the_dockerfile_installs_paperboy_and_serves_it():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert re.search(r'^RUN pip install "\.\[postgres\]"', text, re.M)
    assert re.search(r'^CMD \["paperboy", "serve", "--no-worker", "--host", "0.0.0.0", "--port", "8000"\]$', text, re.M)
    assert re.search(r"^USER paperboy$", text, re.M)
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for needed in ("pyproject.toml", "README.md", "src/"):  # what `pip install .` reads
        assert f"!{needed}" in ignore


def _reverse_proxies(node) -> list[dict]:
    if isinstance(node, dict):
        found = [node] if node.get("handler") == "reverse_proxy" else []
        return found + [h for v in node.values() for h in _reverse_proxies(v)]
    if isinstance(node, list):
        return [h for v in node for h in _reverse_proxies(v)]
    return []


CADDY_UNPACKED = Path("/opt/paperboy-test-tools/usr/bin/caddy")  # where scripts/install-system-deps puts it


def _caddy() -> str:
    caddy = shutil.which("caddy") or next((str(p) for p in [CADDY_UNPACKED] if p.exists()), None)
    if not caddy:  # scripts/install-system-deps (run by `make test`) unpacks it: CI never skips this
        if os.environ.get("CI"):
            pytest.fail(f"caddy not found on PATH or at {CADDY_UNPACKED}: run scripts/install-system-deps")
        pytest.skip("caddy is not here (scripts/install-system-deps unpacks Debian's)")
    return caddy


def _adapted(caddy: str, caddyfile: Path) -> dict:
    """The Caddyfile as Caddy reads it (its JSON config), the site being papers.example.org."""
    r = subprocess.run([caddy, "adapt", "--adapter", "caddyfile", "--config", str(caddyfile)], capture_output=True, text=True,
                       env=dict(os.environ, SITE_DOMAIN="papers.example.org"), timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("caddyfile", [DEPLOY / "Caddyfile", SYSTEMD / "Caddyfile"], ids=["compose", "systemd"])
def test_caddy_accepts_the_caddyfiles(caddyfile):
    (proxy,) = _reverse_proxies(_adapted(_caddy(), caddyfile))
    upstreams, _ = caddy_upstreams(caddyfile)
    assert [u["dial"] for u in proxy["upstreams"]] == upstreams  # what the other tests read is what Caddy reads
    assert proxy["health_checks"]["active"]["uri"] == "/healthz"


@pytest.mark.parametrize("caddyfile", [DEPLOY / "Caddyfile", SYSTEMD / "Caddyfile"], ids=["compose", "systemd"])
def test_the_public_proxy_answers_metrics_with_404_and_never_passes_it_on(caddyfile, tmp_path):
    """Caddy runs the Caddyfile's own config (plain HTTP on a loopback port, the upstreams pointed at a
    loopback stand-in that records every path it gets): pages go through, /metrics in any spelling
    does not — Prometheus scrapes each web server at its own address."""
    caddy = _caddy()
    seen: list[str] = []

    async def upstream(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = (await receive())["type"]  # lifespan.startup, then lifespan.shutdown
                await send({"type": f"{message}.complete"})
                if message == "lifespan.shutdown":
                    return
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"from a web server"})

    config = _adapted(caddy, caddyfile)
    config["admin"] = {"disabled": True}
    (server,) = config["apps"]["http"]["servers"].values()
    port = free_port()
    server["listen"] = [f"127.0.0.1:{port}"]
    server["automatic_https"] = {"disable": True}
    with serve(upstream) as url:
        for proxy in _reverse_proxies(config):
            proxy["upstreams"] = [{"dial": urlsplit(url).netloc}]
        (tmp_path / "caddy.json").write_text(json.dumps(config))
        proc = subprocess.Popen([caddy, "run", "--config", str(tmp_path / "caddy.json")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while True:  # until Caddy listens
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert proc.poll() is None, proc.stderr.read().decode()
                    assert time.monotonic() < deadline, "caddy did not start listening"
                    time.sleep(0.05)

            def get(path: str) -> tuple[int, bytes]:
                request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": "papers.example.org"})
                try:
                    with urllib.request.urlopen(request, timeout=10) as r:
                        return r.status, r.read()
                except urllib.error.HTTPError as e:
                    return e.code, e.read()

            assert get("/papers/2606.00001") == (200, b"from a web server")
            for path in ("/metrics", "/metrics/", "/metrics?format=text", "/METRICS", "/%6Detrics"):
                assert get(path)[0] == 404, path
            assert [p for p in seen if "etrics" in p.lower()] == [] and "/papers/2606.00001" in seen, seen
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _compose_plugin() -> str | None:
    docker = shutil.which("docker")
    if not docker:
        return None
    r = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    return docker if r.returncode == 0 else None


def test_docker_compose_accepts_the_file(tmp_path):
    docker = _compose_plugin()
    if not docker:
        pytest.skip("docker with the compose plugin is not installed here (`docker compose version` fails)")
    env = dict(os.environ, POSTGRES_PASSWORD="pw", PAPERBOY_SECRET_KEY="k")
    r = subprocess.run([docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "-q"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    missing = subprocess.run([docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "-q"], capture_output=True, text=True,
                             env={k: v for k, v in env.items() if k != "PAPERBOY_SECRET_KEY"}, cwd=tmp_path)  # fmt: skip
    assert missing.returncode != 0 and "PAPERBOY_SECRET_KEY" in missing.stderr


# -- systemd --------------------------------------------------------------------------------------


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True, interpolation=None, comment_prefixes=("#", ";"))
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string((SYSTEMD / name).read_text(), source=name)
    return parser


def test_systemd_units_have_the_compose_shape():
    web, worker, migrate = unit("paperboy-web@.service"), unit("paperboy-worker.service"), unit("paperboy-migrate.service")
    assert web["Service"]["ExecStart"].split()[1:] == ["serve", "--no-worker", "--host", "127.0.0.1", "--port", "%i"]
    assert web["Service"]["ExecStartPost"].endswith("-m paperboy.web.probe http://127.0.0.1:%i/healthz --wait 60")
    assert worker["Service"]["ExecStart"].split()[1:] == ["worker"]
    assert migrate["Service"]["ExecStart"].split()[1:] == ["db", "upgrade"]
    assert migrate["Service"]["Type"] == "oneshot" and migrate["Service"]["RemainAfterExit"] == "yes"
    binary = migrate["Service"]["ExecStart"].split()[0]
    for u in (web, worker):
        assert "paperboy-migrate.service" in u["Unit"]["Requires"].split() and "paperboy-migrate.service" in u["Unit"]["After"].split()
        assert u["Service"]["ExecStart"].split()[0] == binary
        assert u["Service"]["Restart"] == "on-failure"
    for u in (web, worker, migrate):
        assert u["Service"]["EnvironmentFile"] == "/etc/paperboy/paperboy.env" and u["Service"]["User"] == "paperboy"


def test_the_systemd_proxy_balances_over_the_enabled_web_instances():
    wanted = unit("paperboy.target")["Unit"]["Wants"].split()
    ports = sorted(m.group(1) for w in wanted if (m := re.fullmatch(r"paperboy-web@(\d+)\.service", w)))
    assert len(ports) == 2 and "paperboy-worker.service" in wanted
    upstreams, options = caddy_upstreams(SYSTEMD / "Caddyfile")
    assert sorted(upstreams) == [f"127.0.0.1:{p}" for p in ports] and options["health_uri"] == "/healthz"
    env = dict(line.split("=", 1) for line in (SYSTEMD / "paperboy.env.example").read_text().splitlines() if line and not line.startswith("#"))
    assert env["PAPERBOY_TRUSTED_PROXIES"] == "127.0.0.1"  # Caddy on the same machine


def test_the_backup_timer_runs_a_custom_format_dump():
    service, timer = unit("paperboy-backup.service"), unit("paperboy-backup.timer")
    assert "pg_dump -Fc" in service["Service"]["ExecStart"] and service["Service"]["Type"] == "oneshot"
    assert timer["Timer"]["OnCalendar"] and timer["Install"]["WantedBy"] == "timers.target"


def test_systemd_analyze_verifies_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed here")
    venv_bin = Path(sys.executable).parent  # the units' /opt/paperboy/venv/bin, as installed here
    if not (venv_bin / "paperboy").exists():
        pytest.skip(f"no paperboy command beside {sys.executable}")
    names = []
    for path in SYSTEMD.iterdir():
        if path.suffix in (".service", ".timer", ".target"):
            text = path.read_text().replace("/opt/paperboy/venv/bin/", f"{venv_bin}/")
            name = path.name.replace("@.service", "@8001.service")
            (tmp_path / name).write_text(text)
            if path.name.endswith("@.service"):
                (tmp_path / path.name).write_text(text)
            names.append(str(tmp_path / name))
    r = subprocess.run([analyze, "verify", "--man=no", *names], capture_output=True, text=True, env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"))
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


# -- both -----------------------------------------------------------------------------------------


def deployment_texts() -> dict[str, str]:
    files = [p for p in DEPLOY.rglob("*") if p.is_file()] + [ROOT / "docs" / "deployment.md"]
    return {str(p.relative_to(ROOT)): p.read_text() for p in files}


def test_every_variable_named_in_the_deployment_files_is_a_setting():
    named = {(path, name) for path, text in deployment_texts().items() for name in re.findall(r"\bPAPERBOY_[A-Z0-9_]+", text)}
    unknown = sorted(f"{path}: {name}" for path, name in named if name not in SETTINGS)
    assert not unknown, f"not Settings fields (config.py): {unknown}"
    assert len({name for _, name in named}) >= 8  # the check looks at something


def test_the_probe_says_whether_the_site_is_healthy(tmp_path):
    from paperboy.store.db import make_engine, upgrade
    from paperboy.app import create_app

    url = f"sqlite:///{tmp_path / 'p.db'}"
    upgrade(make_engine(url))
    app = create_app(Settings(database_url=url, data_dir=str(tmp_path), secret_key="k").resolved())

    def probe(*args):
        return subprocess.run([sys.executable, "-m", "paperboy.web.probe", *args], capture_output=True, text=True, timeout=60)

    with serve(app) as base:
        assert probe(f"{base}/healthz").returncode == 0
        assert probe(f"{base}/no-such-page").returncode == 1
    closed = probe(f"http://127.0.0.1:{free_port()}/healthz", "--wait", "1")
    assert closed.returncode == 1 and "is not healthy" in closed.stderr
