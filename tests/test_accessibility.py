"""Accessibility in a real browser: axe-core on every page type (logged out and in, light and dark,
laptop and phone), plus the keyboard and phone-layout promises of issue #14 that axe cannot see.

axe-core is an npm package: the test set-up fetches its tarball from the npm registry once (version
and sha512 integrity pinned below, taken from the registry's metadata), keeps it under ~/.cache, and
injects ``axe.min.js`` into the pages under test. It is never served to users.
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import urllib.request
from pathlib import Path

import pytest

from conftest import ARTIFACTS, serve
from test_browser import CHROMIUM, browser  # noqa: F401 - the shared browser fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (apt-get install chromium); CI always runs these",
    ),
]

AXE_VERSION = "4.10.3"
AXE_TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz"
# `dist.integrity` of https://registry.npmjs.org/axe-core/4.10.3
AXE_INTEGRITY = "sha512-Xm7bpRXnDSX2YE2YFfBk2FnF0ep6tmG7xPh8iHee8MIcrgq762Nkce856dYtJYLkuIoYZvGfTs/PbZhideTcEg=="
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paperboy-tests"

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PAPER = "2606.30212"
PASSWORD = "correct horse battery staple"


def _integrity_ok(data: bytes) -> bool:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode() == AXE_INTEGRITY


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe.min.js of the pinned axe-core, from the npm registry (cached, integrity-checked)."""
    tarball = CACHE / f"axe-core-{AXE_VERSION}.tgz"
    data = tarball.read_bytes() if tarball.exists() else b""
    if not _integrity_ok(data):
        try:
            with urllib.request.urlopen(AXE_TARBALL, timeout=60) as response:
                data = response.read()
        except OSError as e:
            pytest.fail(f"cannot fetch axe-core {AXE_VERSION} from the npm registry ({AXE_TARBALL}): {e}. "
                        f"The accessibility tests need it once; it is then cached in {tarball}.")  # fmt: skip
        if not _integrity_ok(data):
            pytest.fail(f"{AXE_TARBALL} does not match the pinned integrity {AXE_INTEGRITY}: refusing to run it")
        CACHE.mkdir(parents=True, exist_ok=True)
        tarball.write_bytes(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.extractfile("package/axe.min.js").read().decode()


@pytest.fixture(scope="module")
def site(slice_db, tmp_path_factory):
    from paperboy.config import Settings
    from paperboy.web.app import create_app

    path = tmp_path_factory.mktemp("a11y") / "site.db"
    path.write_bytes(slice_db.read_bytes())
    settings = Settings(database_url=f"sqlite:///{path}", data_dir=str(path.parent), secret_key="a11y-secret").resolved()
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def member(browser, site):  # noqa: F811
    """The storage state of a member who has upvoted a paper and commented on it."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{site}/signup")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("E-mail").fill("ada@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{site}/")
    page.goto(f"{site}/papers/{PAPER}")
    page.locator("button.vote-button").click()
    page.locator('button.vote-button[aria-pressed="true"]').wait_for()
    page.get_by_label("Add a comment").fill("A comment with a link https://example.org and $x^2$.")
    page.get_by_role("button", name="Comment", exact=True).click()
    page.locator(".comment-body").first.wait_for()
    state = context.storage_state()
    context.close()
    return state


PUBLIC = [
    "/", "/papers/week/2026-W27", "/papers/month/2026-06", "/papers/trending", f"/papers/{PAPER}",
    f"/papers/{PAPER}/related", "/search", "/search?q=diffusion+models", "/login", "/signup", "/reset",
    "/u/ada", "/no-such-page", "/digest/subscribe",
]  # fmt: skip
MEMBERS = ["/submit", "/settings/tokens", "/digest/settings"]

AXE_RUN = """async () => {
  const result = await axe.run(document, {
    resultTypes: ["violations"],
    rules: {"label-content-name-mismatch": {enabled: true}},
  });
  return result.violations.filter(v => v.impact !== "minor").map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ") + " :: " + n.failureSummary.split("\\n").slice(1, 3).join(" ")),
    count: v.nodes.length,
  }));
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", ["laptop", "phone"])
@pytest.mark.parametrize("logged_in", [False, True], ids=["visitor", "member"])
def test_no_axe_violations_on_any_page(browser, site, member, axe_source, scheme, viewport, logged_in):  # noqa: F811
    context = browser.new_context(viewport=LAPTOP if viewport == "laptop" else PHONE, color_scheme=scheme,
                                  is_mobile=viewport == "phone", has_touch=viewport == "phone", bypass_csp=True,
                                  storage_state=member if logged_in else None)  # fmt: skip
    page = context.new_page()
    found = {}
    for path in PUBLIC + (MEMBERS if logged_in else []):
        page.goto(site + path)
        if path.startswith(f"/papers/{PAPER}") and path.count("/") == 2:
            page.locator(".related li, .related p").first.wait_for()  # the related papers have loaded
        page.add_script_tag(content=axe_source)
        violations = page.evaluate(AXE_RUN)
        if violations:
            found[path] = violations
    context.close()
    assert not found, "axe-core violations:\n" + "\n".join(
        f"{path}: {v['impact']} {v['id']} ×{v['count']} ({v['help']}): " + " | ".join(v["nodes"])
        for path, vs in found.items() for v in vs
    )  # fmt: skip
