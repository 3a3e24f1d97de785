"""Every Python sample of docs/migrating-from-flask.md, run from the page itself against a
real app: Quart's test client where only HTTP is involved, a real hypercorn where a
WebSocket is, a real redis-server for the shared cache.

A sample is the ```python block after a ``<!-- sample: NAME -->`` line; it runs in a
namespace holding ``app`` (a fresh ``QuartDash``), ``server`` (its Quart app) and the
names that stand for the reader's own code (``API_TOKEN``, ``load_sales``...). The page
also makes claims in prose (which Flask names fail on a Quart server, what a plain ``def``
hook can read, what a socket callback cannot); those are checked here too."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import json
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import quart
import requests
from quart_auth import QuartAuth
from werkzeug.datastructures import FileStorage

from quartdash import Input, Output, QuartDash, html
from quartdash.app import MIGRATION_DOC
from quartdash.testing.servers import Server, hypercorn, redis_server
from quartdash.testing.wsclient import call, callback_request, open_socket
from tests import ROOT
from tests.authclient import closed_code, login, logout, session_socket, who

DOC = ROOT / MIGRATION_DOC
SAMPLE = re.compile(r"<!-- sample: ([\w-]+) -->\n```python\n(.*?)```", re.S)
TOKEN = "docs-api-token-0123456789"
SECRET = "9f2c4e1a7b3d5f6081a2c3e4f5061728394a5b6c7d8e9f00"
PASSWORD = "correct horse battery staple"
HTTP_TIMEOUT = 10.0


def samples() -> dict[str, str]:
    return dict(SAMPLE.findall(DOC.read_text()))


def make_app(**kwargs: Any) -> QuartDash:
    app = QuartDash(__name__, **kwargs)
    app.layout = html.Div([html.Div(id=i) for i in
                           ("name", "greeting", "probe", "year", "sales", "who")])
    return app


def run_sample(name: str, app: QuartDash | None = None, **names: Any) -> dict[str, Any]:
    """Execute the page's sample ``name``; its namespace afterwards."""
    app = app if app is not None else make_app()
    namespace: dict[str, Any] = {"__name__": __name__, "app": app, "server": app.server,
                                 **names}
    exec(compile(samples()[name], f"{DOC}:{name}", "exec"), namespace)
    return namespace


@contextlib.asynccontextmanager
async def client_of(app: QuartDash) -> AsyncIterator[Any]:
    async with app.server.test_app() as test_app:
        yield test_app.test_client()


def callback_body(output: str, inputs: list[tuple[str, str, Any]]) -> dict[str, Any]:
    """An HTTP callback request as Dash's renderer posts it (one output)."""
    payload: dict[str, Any] = json.loads(callback_request("h", *output.split("."), inputs))
    return dict(payload["payload"])


def answer(response: dict[str, Any], output: str) -> Any:
    component, prop = output.split(".")
    return response["response"][component][prop]


# --- the page itself ------------------------------------------------------------------

TESTED = {"flask-hook", "quart-hook", "routes", "run-sync", "layout-request",
          "callback-request", "login", "caching", "config"}


def test_every_python_sample_on_the_page_is_run_here() -> None:
    text = DOC.read_text()
    assert text.count("```python") == len(SAMPLE.findall(text)), "a sample without a name"
    assert set(samples()) == TESTED


#: The table's Quart column: what is awaited, and what is called as in Flask.
AWAITED = ["make_response", "render_template", "render_template_string", "send_file",
           "flash"]
SAME = ["abort", "redirect", "url_for", "jsonify", "has_request_context"]
PROXIES = ["session", "g", "current_app", "request"]  # context-bound, as Flask's


def test_the_table_awaits_exactly_what_quart_makes_async() -> None:
    table = DOC.read_text().split("## Flask names and their Quart equivalents")[1]
    table = table.split("\n## ")[0]
    for name in AWAITED:
        assert inspect.iscoroutinefunction(getattr(quart, name)), name
        assert f"await {name}(" in table, name
    for name in SAME:
        value = getattr(quart, name)
        assert not inspect.iscoroutinefunction(value), name
        assert f"`{name}(" in table, name
    for name in PROXIES:
        assert name in vars(quart), name
        assert f"`{name}`" in table or f"import {name}`" in table, name
    request_class = quart.Request
    for method in ("get_json", "get_data"):
        assert inspect.iscoroutinefunction(getattr(request_class, method)), method
        assert f"await request.{method}()" in table
    for attribute in ("form", "files"):  # awaitable properties
        assert isinstance(getattr(request_class, attribute), property)
        assert f"await request.{attribute}" in table
    run_sync = quart.utils.run_sync
    assert "await run_sync(func)(*args)" in table and callable(run_sync)


# --- how Flask code fails -------------------------------------------------------------

async def test_the_flask_hook_answers_500_as_the_page_says(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()
    run_sample("flask-hook", app, API_TOKEN=TOKEN)
    async with client_of(app) as client:
        response = await client.get("/", headers={"X-Token": TOKEN})
    assert response.status_code == 500
    assert "Working outside of request context" in caplog.text


def _flask_names() -> dict[str, Callable[[], Any]]:
    import flask

    return {
        "request": lambda: flask.request.path,
        "session": lambda: flask.session.get("k"),
        "g": lambda: getattr(flask.g, "k", None),
        "current_app": lambda: flask.current_app.name,
        "url_for": lambda: flask.url_for("x"),
        "make_response": lambda: flask.make_response("x"),
        "jsonify": lambda: flask.jsonify(k=1),
        "abort": lambda: flask.abort(403),
        "redirect": lambda: flask.redirect("/elsewhere"),
    }


async def test_which_flask_names_fail_on_the_quart_server() -> None:
    """The page: Flask's request, session, g, current_app, url_for, make_response and
    jsonify raise "Working outside of ... context"; abort and redirect happen to work."""
    app = make_app()
    outcomes: dict[str, str] = {}
    for name, use in _flask_names().items():
        async def view(name: str = name, use: Callable[[], Any] = use) -> Any:
            try:
                return use()
            except RuntimeError as exc:
                outcomes[name] = str(exc).splitlines()[0]
                return "failed"
        app.server.add_url_rule(f"/flask/{name}", f"flask_{name}", view)
    async with client_of(app) as client:
        statuses = {name: (await client.get(f"/flask/{name}")).status_code
                    for name in _flask_names()}
    failing = {"request", "session", "g", "current_app", "url_for", "make_response",
               "jsonify"}
    assert set(outcomes) == failing, outcomes
    assert all(re.match(r"Working outside of (request|application) context", text)
               for text in outcomes.values()), outcomes
    assert statuses["abort"] == 403 and statuses["redirect"] == 302


# --- routes and hooks -----------------------------------------------------------------

async def test_the_quart_hook_and_routes() -> None:
    app = make_app()
    run_sample("quart-hook", app, API_TOKEN=TOKEN)
    run_sample("routes", app)
    headers = {"X-Token": TOKEN, "X-Client": "docs"}
    async with client_of(app) as client:
        assert (await client.get("/")).status_code == 200  # pages need no token
        refused = await client.post("/api/notes", json={"text": "hi"})
        assert refused.status_code == 401
        first = await client.post("/api/notes", json={"text": "hello"}, headers=headers)
        assert first.status_code == 201
        assert await first.get_json() == {"saved": "hello", "count": 1, "client": "docs"}
        assert any(c.startswith("last_note=hello;") and "HttpOnly" in c
                   for c in first.headers.get_all("Set-Cookie"))
        second = await client.post("/api/notes", json={"text": "again"}, headers=headers)
        assert (await second.get_json())["count"] == 2  # the session cookie came back
        bad = await client.post("/api/notes", json=[1], headers=headers)
        assert bad.status_code == 400
        upload = await client.post(
            "/api/upload", headers=headers, form={"name": "n"},
            files={"file": FileStorage(stream=io.BytesIO(b"12345"), filename="f.txt")},
        )
        assert await upload.get_json() == {"name": "n", "bytes": 5}
        moved = await client.get("/notes")
        assert moved.status_code == 301 and moved.headers["Location"] == "/"


async def test_a_plain_def_hook_runs_in_a_thread_and_reads_quart_request() -> None:
    """The page: a plain ``def`` hook works, in a thread, with ``quart.request`` there."""
    app = make_app()
    seen: list[tuple[str, str | None]] = []

    @app.server.before_request
    def plain_hook() -> None:
        seen.append((threading.current_thread().name, quart.request.headers.get("X-Probe")))

    async with client_of(app) as client:
        assert (await client.get("/", headers={"X-Probe": "p"})).status_code == 200
    assert seen and seen[0][1] == "p"
    assert seen[0][0] != threading.main_thread().name


async def test_run_sync_keeps_the_loop_free() -> None:
    """While ``load_report`` blocks, the same process still serves other requests: the
    blocking call waits for one of them. Without ``run_sync`` this would deadlock until
    the timeout."""
    started, release = threading.Event(), threading.Event()
    threads: list[str] = []

    def load_report(year: int) -> dict[str, int]:
        threads.append(threading.current_thread().name)
        started.set()
        assert release.wait(10)
        return {"year": year}

    app = make_app()
    run_sample("run-sync", app, load_report=load_report)
    async with client_of(app) as client:
        report = asyncio.ensure_future(client.get("/api/report/2024"))
        assert await asyncio.to_thread(started.wait, 10)
        other = await asyncio.wait_for(client.get("/_dash-layout"), 10)
        assert other.status_code == 200  # served while load_report blocks
        release.set()
        response = await asyncio.wait_for(report, 10)
    assert await response.get_json() == {"year": 2024}
    assert threads[0] != threading.main_thread().name


async def test_a_layout_function_reads_quart_request() -> None:
    app = make_app()
    run_sample("layout-request", app)
    async with client_of(app) as client:
        dark = await client.get("/_dash-layout", headers={"Cookie": "theme=dark"})
        plain = await client.get("/_dash-layout")
    assert "theme: dark" in await dark.get_data(as_text=True)
    assert "theme: light" in await plain.get_data(as_text=True)


# --- callbacks: a real hypercorn, over HTTP and WebSocket -----------------------------

def callback_app() -> QuartDash:
    """The callback-request sample, plus a probe of what the page says about
    ``quart.request`` inside a callback (served by hypercorn: see the test below)."""
    app = make_app()
    run_sample("callback-request", app)

    @app.callback(Output("probe", "children"), Input("probe", "id"))
    def probe(_: str) -> str:
        try:
            return f"request at {quart.request.path}"
        except RuntimeError as exc:
            return str(exc).splitlines()[0]

    return app


@pytest.fixture(scope="module")
def callback_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with hypercorn(f"{__name__}:callback_app()", tmp_path_factory.mktemp("cb")) as server:
        yield server


def _http_callback(server: Server, output: str, inputs: list[tuple[str, str, Any]],
                   **headers: str) -> Any:
    response = requests.post(server.url + "/_dash-update-component",
                             json=callback_body(output, inputs), headers=headers,
                             timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return answer(response.json(), output)


async def test_callbacks_read_cookies_and_headers_from_dash_ctx(callback_server: Server) -> None:
    name = [("name", "value", "Ann")]
    over_http = _http_callback(callback_server, "greeting.children", name,
                               Cookie="theme=dark", **{"User-Agent": "DocsTest/1.0"})
    assert over_http == "hello Ann (dark, DocsTest)"
    async with open_socket(callback_server.url, additional_headers={"Cookie": "theme=dark"},
                           user_agent_header="DocsTest/1.0") as ws:
        response, _ = await call(ws, callback_request("g", "greeting", "children", name))
    assert response["payload"]["data"]["response"]["greeting"]["children"] == over_http


async def test_quart_request_is_missing_in_a_socket_callback(callback_server: Server) -> None:
    """The page: over the WebSocket, ``quart.request`` raises; over HTTP it is there."""
    probe = [("probe", "id", "probe")]
    over_http = _http_callback(callback_server, "probe.children", probe)
    assert over_http == "request at /_dash-update-component"
    async with open_socket(callback_server.url) as ws:
        response, _ = await call(ws, callback_request("p", "probe", "children", probe))
    assert response["payload"]["data"]["response"]["probe"]["children"] == \
        "Not within a request context"


# --- logins ---------------------------------------------------------------------------

def login_app() -> QuartDash:
    """The login sample as its own module would be (hypercorn serves ``.server``)."""
    namespace = {"__name__": __name__}
    exec(compile(samples()["login"], f"{DOC}:login", "exec"), namespace)
    app: QuartDash = namespace["app"]
    return app


def _me(base: str, cookie: str | None = None) -> requests.Response:
    return requests.get(base + "/api/me", cookies={"QUART_AUTH": cookie} if cookie else None,
                        timeout=HTTP_TIMEOUT)


def _sign_in(base: str, password: str, origin: str) -> int:
    """A login form posted from a page of ``origin``: the status."""
    return requests.post(base + "/login", data={"username": "alice", "password": password},
                         headers={"Origin": origin}, timeout=HTTP_TIMEOUT).status_code


async def test_the_login_sample_binds_sockets_to_the_session(tmp_path: Path) -> None:
    env = {"DEMO_PASSWORD": PASSWORD, "QUARTDASH_SECRET_KEY": SECRET}
    with hypercorn(f"{__name__}:login_app().server", tmp_path, env=env) as server:
        base = server.url
        assert _me(base).status_code == 401
        assert _sign_in(base, "wrong", base) == 401
        assert _sign_in(base, PASSWORD, "http://evil.test") == 403  # a forged login
        cookie = login(base, "alice", password=PASSWORD)
        assert _me(base, cookie).json() == {"user": "alice"}
        async with session_socket(base, None) as anonymous:
            assert (await closed_code(anonymous))[0] == 4401
        async with session_socket(base, cookie) as ws:
            assert await who(ws) == "signed in as alice"
            assert logout(base, cookie).status_code == 303
            assert (await closed_code(ws))[0] == 4401
        assert _me(base, cookie).status_code == 401  # the cookie is revoked


def test_quart_auth_reads_its_config_once_when_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page: set QUART_AUTH_* before ``QuartDash(...)`` binds quart-auth."""
    monkeypatch.setenv("QUARTDASH_SECRET_KEY", SECRET)
    early = quart.Quart(__name__)
    early.config["QUART_AUTH_DURATION"] = 3600
    early_auth = QuartAuth()
    QuartDash(__name__, server=early, auth=early_auth)
    assert early_auth.duration == 3600
    late_auth = QuartAuth()
    late = QuartDash(__name__, auth=late_auth)
    late.server.config["QUART_AUTH_DURATION"] = 3600
    assert late_auth.duration != 3600


# --- caching --------------------------------------------------------------------------

async def test_the_cache_sample_with_a_real_redis(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, list[Any]] = {"sales": [], "regions": []}

    def load_sales(year: int) -> dict[str, int]:
        calls["sales"].append((year, threading.current_thread().name))
        return {"total": year * 10}

    def load_regions(region: str) -> list[str]:
        calls["regions"].append(region)
        return ["fr", "de", "it"]

    with redis_server(tmp_path) as redis:
        monkeypatch.setenv("CACHE_URL", redis.url)
        app = make_app()
        namespace = run_sample("caching", app, load_sales=load_sales,
                               load_regions=load_regions)
        cache = namespace["cache"]
        try:
            async with client_of(app) as client:
                async def sales(year: int) -> str:
                    body = callback_body("sales.children", [("year", "value", year)])
                    response = await client.post("/_dash-update-component", json=body)
                    assert response.status_code == 200
                    return str(answer(await response.get_json(), "sales.children"))

                assert await sales(2024) == "2024: 20240 (3 regions)"
                assert await sales(2024) == "2024: 20240 (3 regions)"
                assert [year for year, _ in calls["sales"]] == [2024]  # the second from Redis
                assert 0 < await cache.ttl("sales:2024") <= 600
                assert await sales(2025) == "2025: 20250 (3 regions)"
            assert [year for year, _ in calls["sales"]] == [2024, 2025]
            assert calls["regions"] == ["eu"]  # lru_cache: once per process
            assert calls["sales"][0][1] != threading.main_thread().name  # run_sync
        finally:
            await cache.aclose()
            namespace["region_names"].cache_clear()


# --- configuration --------------------------------------------------------------------

async def test_the_config_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample's settings take effect; a callback request is held to the lower of
    ``max_message_bytes`` and ``MAX_CONTENT_LENGTH``, as the page says."""
    monkeypatch.setenv("QUARTDASH_SECRET_KEY", SECRET)
    app = make_app(max_message_bytes=4 * 1024 * 1024)

    @app.callback(Output("greeting", "children"), Input("name", "value"))
    def size(value: str) -> int:
        return len(value)

    @app.server.post("/echo-size")
    async def echo_size() -> dict[str, int]:
        return {"bytes": len(await quart.request.get_data())}

    run_sample("config", app)
    assert app.server.secret_key == SECRET

    async def callback(client: Any, value: str) -> Any:
        """Posted as a browser does, with its Content-Length."""
        body = json.dumps(callback_body("greeting.children", [("name", "value", value)]))
        return await client.post("/_dash-update-component", data=body.encode(), headers={
            "Content-Type": "application/json", "Content-Length": str(len(body))})

    big = "x" * (1536 * 1024)  # over MAX_CONTENT_LENGTH, under max_message_bytes
    async with client_of(app) as client:
        small = await client.post("/echo-size", data=b"12345")
        assert await small.get_json() == {"bytes": 5}
        assert (await client.post("/echo-size", data=big.encode())).status_code == 413
        assert (await callback(client, big)).status_code == 413
        fits = await callback(client, big[: 512 * 1024])
        assert answer(await fits.get_json(), "greeting.children") == 512 * 1024
    default = make_app()  # MAX_CONTENT_LENGTH 16 MiB: max_message_bytes (1 MiB) holds
    default.callback(Output("greeting", "children"), Input("name", "value"))(len)
    async with client_of(default) as client:
        assert (await callback(client, big)).status_code == 413


# --- running --------------------------------------------------------------------------

def test_the_hypercorn_command_uses_options_hypercorn_has() -> None:
    text = DOC.read_text()
    command = next(line for line in text.splitlines() if line.startswith("hypercorn "))
    help_text = subprocess.run([sys.executable, "-m", "hypercorn", "--help"],
                               capture_output=True, text=True, timeout=60,
                               check=True).stdout
    for option in re.findall(r"(?<= )-{1,2}[a-z-]+", command):
        assert re.search(rf"(^|[ ,]){re.escape(option)}\b", help_text, re.M), option
