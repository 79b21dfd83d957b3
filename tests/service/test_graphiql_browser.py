"""GraphiQL from the shipped assets: the page and its assets over HTTP, and the IDE used in a real headless Chromium.

The browser test drives Debian's Chromium (SKD_CHROMIUM, else `chromium` or `chromium-browser` on PATH) with
Playwright, against a real uvicorn serving the real app on the real graph. Without a Chromium it skips, or
fails when CI is set (./setup.sh installs one with apt-get). Its screenshot goes to pytest's tmp dir, and to
SKD_TEST_ARTIFACTS too when that is set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from skd.core.settings import Settings
from skd.graph_schema.store import GraphStore
from skd.service.app import create_app
from skd.service.graphiql import SCRIPTS, STATIC_DIR, STYLESHEET, VERSIONS
from tests.service.conftest import API_KEY, LiveServer, service_settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Request

QUERY = "{ relations { name } }"
API_KEY_JSON = json.dumps({"X-API-Key": API_KEY}, indent=2)
HOW_TO_INSTALL = (
    "install Debian's Chromium (`sudo apt-get install -y chromium`, which ./setup.sh does) or set SKD_CHROMIUM"
)


def page_client(store: GraphStore, settings: Settings, graphiql: bool) -> TestClient:
    return TestClient(create_app(service_settings(settings, service_graphiql=graphiql), store=store))


def test_the_page_names_only_shipped_assets_on_its_own_origin(session_store: GraphStore, settings: Settings) -> None:
    with page_client(session_store, settings, graphiql=True) as client:
        page = client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        urls = re.findall(r'(?:src|href)="([^"]*)"', html)
        assert "://" not in html and "unpkg" not in html and "//" not in "".join(urls)
        assets = [u for u in urls if not u.startswith("data:")]
        assert sorted(assets) == sorted(f"graphiql/static/{a}" for a in (*SCRIPTS, STYLESHEET))
        assert "X-API-Key" in html and "isHeadersEditorEnabled: true" in html
        # the Content-Security-Policy lets the browser load from this origin only, and allows the inline script
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "http" not in csp
        (boot,) = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
        digest = base64.b64encode(hashlib.sha256(boot.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp

        for asset in assets:
            served = client.get(urljoin(str(page.url), asset))
            assert served.status_code == 200, asset
            assert served.content == (STATIC_DIR / asset.removeprefix("graphiql/static/")).read_bytes(), asset
            kind = "text/css" if asset.endswith(".css") else "javascript"
            assert kind in served.headers["content-type"], (asset, served.headers["content-type"])
        for package in VERSIONS:
            assert (STATIC_DIR / package / "LICENSE").read_text().startswith("MIT License"), package


def test_switched_off_there_is_no_page_and_no_assets(session_store: GraphStore, settings: Settings) -> None:
    with page_client(session_store, settings, graphiql=False) as client:
        assert client.get("/graphql", headers={"Accept": "text/html"}).status_code == 404
        assert client.get(f"/graphiql/static/{SCRIPTS[-1]}").status_code == 404
        answer = client.post("/graphql", json={"query": QUERY})  # the API itself is unchanged
        assert answer.status_code == 200 and {"name": "xWant"} in answer.json()["data"]["relations"]


def missing(what: str) -> NoReturn:
    """No browser to test with: a failure in CI (CI set), a skip elsewhere."""
    message = f"no {what} for the GraphiQL browser test"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def chromium_path() -> str:
    """The Chromium to drive: SKD_CHROMIUM, else `chromium` or `chromium-browser` on PATH."""
    given = os.environ.get("SKD_CHROMIUM")
    if given:
        if not Path(given).is_file():
            pytest.fail(f"SKD_CHROMIUM={given} is not a file")
        return given
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    missing(f"Chromium: {HOW_TO_INSTALL}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing('Playwright: .venv/bin/pip install -e ".[dev]" (./setup.sh does)')

    with sync_playwright() as playwright:
        # root (and many containers) cannot use Chromium's sandbox; the only page it opens is our own
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def live(session_store: GraphStore, settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(create_app(service_settings(settings), store=session_store)) as server:
        yield server


def cm_value(selector: str) -> str:
    """JavaScript: the text of the CodeMirror editor under `selector` (GraphiQL 3's editors are CodeMirror 5)."""
    return f"document.querySelector({json.dumps(selector + ' .CodeMirror')}).CodeMirror.getValue()"


@pytest.mark.slow
def test_graphiql_runs_a_query_in_a_real_browser(live: LiveServer, browser: Browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    started = time.monotonic()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(60_000)
    requests: list[Request] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    try:
        response = page.goto(f"{live.url}/graphql")
        assert response is not None and response.status == 200
        query_editor = page.locator(".graphiql-query-editor .CodeMirror")
        expect(query_editor).to_be_visible(timeout=60_000)

        # type the query as a person would (CodeMirror closes each brace, and overtypes it when it is typed)
        query_editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.press("Delete")
        page.keyboard.type(QUERY)
        page.keyboard.press("Escape")  # closes any completion list
        assert "".join(page.evaluate(cm_value(".graphiql-query-editor")).split()) == "".join(QUERY.split())
        # the headers editor is open with an X-API-Key entry; give it the key
        headers_editor = ".graphiql-editor-tool .graphiql-editor:not(.hidden)"
        assert "X-API-Key" in page.evaluate(cm_value(headers_editor))
        page.evaluate(f"{cm_value(headers_editor).removesuffix('.getValue()')}.setValue({json.dumps(API_KEY_JSON)})")

        page.locator(".graphiql-execute-button").click()
        result = page.locator(".graphiql-response")
        expect(result).to_contain_text("xWant", timeout=60_000)
        answer = json.loads(page.evaluate(cm_value(".graphiql-response")))
        assert {"name": "xWant"} in answer["data"]["relations"] and len(answer["data"]["relations"]) == 23

        shot = tmp_path / "graphiql.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        if os.environ.get("SKD_TEST_ARTIFACTS"):
            artifacts = Path(os.environ["SKD_TEST_ARTIFACTS"])
            artifacts.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, artifacts / shot.name)
    finally:
        context.close()

    # everything came from the service itself: the page, its four assets, then GraphQL requests
    origin = urlsplit(live.url)
    elsewhere = [r.url for r in requests if (urlsplit(r.url).scheme, urlsplit(r.url).netloc) != origin[:2]]
    assert not [u for u in elsewhere if not u.startswith("data:")], elsewhere
    paths = {urlsplit(r.url).path for r in requests}
    assert {f"/graphiql/static/{a}" for a in (*SCRIPTS, STYLESHEET)} <= paths
    ran = [r for r in requests if r.method == "POST" and json.loads(r.post_data or "{}").get("query") == QUERY]
    assert ran and all(r.headers.get("x-api-key") == API_KEY for r in ran), [r.headers for r in ran]
    assert not problems, problems
    print(f"GraphiQL in Chromium: {time.monotonic() - started:.1f} s, {len(requests)} requests, screenshot {shot}")
