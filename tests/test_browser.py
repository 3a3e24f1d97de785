"""What quartdash serves to the browser: its worker in Dash's config, its page script,
one worker URL per session; and the sources in renderer_patch/ match the built files
and pass their Node unit tests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest

from quartdash import QuartDash, html
from quartdash.browser import PAGE_SCRIPT, WORKER_SCRIPT
from tests import ROOT
from tests.auth.test_sessions import browser, make_app

NODE = shutil.which("node")


def page_config(html_text: str) -> dict[str, Any]:
    match = re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>',
                      html_text, re.S)
    assert match, "the page has Dash's config"
    config: dict[str, Any] = json.loads(match.group(1))
    return config


async def index(client: Any) -> tuple[str, dict[str, Any]]:
    response = await client.get("/")
    assert response.status_code == 200
    text = await response.get_data(as_text=True)
    return text, page_config(text)


async def test_the_page_loads_our_worker_and_page_script() -> None:
    app = QuartDash(__name__, login_url="/signin")
    app.layout = html.Div(id="x")
    async with app.server.test_app() as test_app:
        client = test_app.test_client()
        text, config = await index(client)
        worker_url = config["websocket"]["worker_url"]
        assert worker_url == app.browser.url(WORKER_SCRIPT), "no session: one worker for all pages"
        assert "dash-ws-worker" not in text
        assert config["quartdash"] == {"login_url": "/signin",
                                       "handover_url": "/_quartdash/handover"}
        page_url = app.browser.url(PAGE_SCRIPT)
        # the page script comes after the renderer's bundle and before it starts
        assert text.index(page_url) < text.index('id="_dash-renderer"')
        for url, marker in ((worker_url, "self.onconnect"), (page_url, "window.quartdash")):
            response = await client.get(url)
            assert response.status_code == 200
            assert response.headers["Content-Type"].startswith("text/javascript")
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert "immutable" in response.headers["Cache-Control"]
            assert marker in await response.get_data(as_text=True)
        stale = await client.get("/_quartdash/static/quartdash-page.js?v=old")
        assert stale.headers["Cache-Control"] == "no-cache"
        for name in ("nope.js", "quartdash-page.js.map", "__init__.py"):
            assert (await client.get(f"/_quartdash/static/{name}")).status_code == 404
        # a path that leaves the folder is no file of ours (Dash's page routes take it)
        escape = await client.get("/_quartdash/static/..%2f__init__.py")
        assert not escape.headers["Content-Type"].startswith("text/javascript")
        assert "import" not in await escape.get_data(as_text=True)


async def test_each_session_has_its_own_worker_and_the_url_reveals_nothing() -> None:
    app = make_app()
    async with app.server.test_app():
        alice, bob, nobody = browser(app), browser(app), browser(app)
        await alice.post("/login/alice")
        await bob.post("/login/alice")  # the same user in another browser: another session
        urls = {}
        for name, client in (("alice", alice), ("bob", bob), ("nobody", nobody)):
            _, config = await index(client)
            urls[name] = config["websocket"]["worker_url"]
        _, again = await index(alice)
        assert again["websocket"]["worker_url"] == urls["alice"], "stable within a session"
        assert len(set(urls.values())) == 3
        assert "&s=" not in urls["nobody"]
        for name in ("alice", "bob"):
            sessions = [i.session for i in await app.connections.list()]
            assert all(s not in urls[name] for s in sessions if s)
        # a logout and a new login in the same browser: a new worker
        await alice.post("/logout")
        await alice.post("/login/carol")
        _, after = await index(alice)
        assert after["websocket"]["worker_url"] not in urls.values()


def _node(*args: str) -> subprocess.CompletedProcess[str]:
    assert NODE, "node is needed for the browser side's tests (.ci/run installs it)"
    return subprocess.run([NODE, *args], cwd=ROOT / "renderer_patch", capture_output=True,
                          text=True, timeout=120, check=False)


def test_built_files_match_their_sources() -> None:
    result = _node("build.mjs", "--check")
    assert result.returncode == 0, result.stderr


def test_worker_unit_tests_pass_under_node() -> None:
    result = _node("--test", "test/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^# pass [1-9]", result.stdout, re.M)
    assert re.search(r"^# fail 0$", result.stdout, re.M)


@pytest.mark.parametrize("name", [WORKER_SCRIPT, PAGE_SCRIPT])
def test_built_files_parse(name: str) -> None:
    result = _node("--check", str(ROOT / "quartdash" / "static" / name))
    assert result.returncode == 0, result.stderr
