"""The live admin page and its socket: who is admitted (401, 403, 200; the handshake
refused before it is accepted), the token sign-in and its cookie, the snapshots and
what they say, the close when the admin's session ends, the per-worker cap. Against
``examples.auth_admin`` on a real hypercorn with metrics on; metrics off and an app
with no admin in process; the snapshot's grouping and the rates as pure functions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import requests
from quart.testing.connections import WebsocketResponseError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from quartdash import CloseCode, QuartDash, html
from quartdash.auth.admin import SIGN_IN_COOKIE, SIGN_IN_SECONDS
from quartdash.cluster.models import ConnectionInfo
from quartdash.observe import admin_page
from quartdash.observe.admin_page import (
    ADMIN_SOCKETS_PER_WORKER,
    INTERVAL,
    MAX_ROWS,
    METRICS_OFF,
    RateMeter,
    snapshot,
)
from quartdash.testing.servers import Server, hypercorn
from tests.authclient import (
    COOKIE,
    HTTP_TIMEOUT,
    SECRET,
    TOKEN,
    closed_code,
    login,
    logout,
    session_socket,
    who,
)

PAGE = "/_quartdash/admin/"
ENV = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN, "QUARTDASH_METRICS": "1"}
#: A snapshot comes every INTERVAL: a wait for one allows this much.
FRAME_WAIT = INTERVAL + 5.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with hypercorn("examples.auth_admin:app", tmp_path_factory.mktemp("admin-page"), env=ENV,
                   ready_path="/login") as running:
        yield running


def get(base: str, path: str = PAGE, *, cookies: dict[str, str] | None = None,
        headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(base + path, cookies=cookies, headers=headers, timeout=HTTP_TIMEOUT,
                        allow_redirects=False)


def post(base: str, path: str, *, origin: str | None, cookies: dict[str, str] | None = None,
         data: dict[str, str] | None = None) -> requests.Response:
    headers = {"Origin": origin} if origin is not None else {}
    return requests.post(base + path, cookies=cookies, headers=headers, data=data,
                         timeout=HTTP_TIMEOUT, allow_redirects=False)


def live_url(base: str) -> str:
    return base.replace("http://", "ws://") + PAGE + "live"


def admin_socket(base: str, *, origin: str | None = "same", cookies: dict[str, str] | None = None,
                 token: str | None = None) -> connect:
    """The page's socket, as a page of ``origin`` (``"same"``: the app's own) sends it."""
    headers = {}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    from websockets.typing import Origin

    return connect(live_url(base), origin=Origin(base if origin == "same" else origin)
                   if origin is not None else None, additional_headers=headers, open_timeout=10)


async def handshake_status(base: str, **kwargs: Any) -> int:
    """The HTTP status a refused handshake got (never accepted)."""
    with pytest.raises(InvalidStatus) as refused:
        async with admin_socket(base, **kwargs):
            pass
    return int(refused.value.response.status_code)


async def frame(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(FRAME_WAIT):
        data: dict[str, Any] = json.loads(await ws.recv())
    return data


async def snapshot_where(ws: ClientConnection, condition: Any,
                         timeout: float = 10.0) -> dict[str, Any]:
    """The first snapshot for which ``condition`` holds."""
    async with asyncio.timeout(timeout):
        while True:
            data = await frame(ws)
            if data["type"] == "snapshot" and condition(data):
                return data


def admin_cookie(base: str) -> dict[str, str]:
    return {COOKIE: login(base, "admin")}


def signed_in(base: str) -> dict[str, str]:
    """Sign in on the page's form with the token: the cookie it sets."""
    response = post(base, PAGE + "signin", origin=base, data={"token": TOKEN})
    assert response.status_code == 303, response.text
    return {SIGN_IN_COOKIE: response.cookies[SIGN_IN_COOKIE]}


# --- the page ---------------------------------------------------------------------------------
def test_the_page_admits_as_the_admin_api_does(server: Server) -> None:
    base = server.url
    anonymous = get(base)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert 'name="token"' in anonymous.text  # the sign-in form, for a token-only admin
    assert get(base, headers={"Authorization": "Bearer wrong"}).status_code == 403
    not_admin = get(base, cookies={COOKIE: login(base, "bob")})
    assert not_admin.status_code == 403 and "not an administrator" in not_admin.text
    for credentials in ({"cookies": admin_cookie(base)},
                        {"headers": {"Authorization": f"Bearer {TOKEN}"}}):
        page = get(base, **credentials)  # type: ignore[arg-type]
        assert page.status_code == 200, credentials
        assert page.headers["Content-Type"].startswith("text/html")
        assert 'id="connections"' in page.text
        policy = page.headers["Content-Security-Policy"]
        # Its own inline script and style, by hash; nothing else, no framing.
        assert "script-src 'sha256-" in policy and "frame-ancestors 'none'" in policy
        assert "http" not in policy and "unsafe" not in policy
        assert page.headers["Cache-Control"] == "no-store"


def test_the_token_signs_in_with_a_limited_cookie(server: Server) -> None:
    base = server.url
    wrong = post(base, PAGE + "signin", origin=base, data={"token": TOKEN + "x"})
    assert wrong.status_code == 403 and SIGN_IN_COOKIE not in wrong.cookies
    # A post from another site, or from no page at all, is refused as a login is.
    for origin in ("http://evil.example", None):
        refused = post(base, PAGE + "signin", origin=origin, data={"token": TOKEN})
        assert refused.status_code == 403 and SIGN_IN_COOKIE not in refused.cookies, origin
    response = post(base, PAGE + "signin", origin=base, data={"token": TOKEN})
    assert response.status_code == 303 and response.headers["Location"] == "./"
    header = response.headers["Set-Cookie"]
    for attribute in ("HttpOnly", "SameSite=Strict", f"Path={PAGE}",
                      f"Max-Age={SIGN_IN_SECONDS}"):
        assert attribute in header, header
    assert TOKEN not in header
    cookie = {SIGN_IN_COOKIE: response.cookies[SIGN_IN_COOKIE]}
    assert get(base, cookies=cookie).status_code == 200
    # The admin API admits it too (the page's buttons), with the cross-site check.
    assert get(base, PAGE + "connections", cookies=cookie).status_code == 200
    closing = PAGE + "connections/no-such-socket/close"
    assert post(base, closing, origin=None, cookies=cookie).status_code == 403
    assert post(base, closing, origin="http://evil.example", cookies=cookie).status_code == 403
    closed = post(base, closing, origin=base, cookies=cookie)
    assert closed.status_code == 200 and closed.json() == {"closed": 0}
    # Not a credential outside the admin routes' path, nor once tampered with.
    tampered = {SIGN_IN_COOKIE: cookie[SIGN_IN_COOKIE][:-2] + "xx"}
    assert get(base, cookies=tampered).status_code == 401
    out = post(base, PAGE + "signout", origin=base, cookies=cookie)
    assert out.status_code == 303
    assert out.headers["Set-Cookie"].startswith(f"{SIGN_IN_COOKIE}=;")
    assert "Max-Age=0" in out.headers["Set-Cookie"]


# --- the socket -----------------------------------------------------------------------------
async def test_the_handshake_is_refused_before_it_is_accepted(server: Server) -> None:
    base = server.url
    admin = admin_cookie(base)
    assert await handshake_status(base) == 401
    assert await handshake_status(base, cookies={COOKIE: login(base, "bob")}) == 403
    assert await handshake_status(base, token="wrong-token") == 403
    # A page of another site, with the admin's cookie: refused, Dash's rules or not.
    assert await handshake_status(base, cookies=admin, origin="http://evil.example") == 403
    assert await handshake_status(base, origin="http://evil.example") == 403
    # A cookie without an Origin comes from no page: refused. The token needs none.
    assert await handshake_status(base, cookies=admin, origin=None) == 403
    async with admin_socket(base, token=TOKEN, origin=None) as ws:
        assert (await frame(ws))["by"] == "token"
    assert "Traceback" not in server.log


async def test_snapshots_show_every_socket_and_the_rates(server: Server) -> None:
    base = server.url
    bob = login(base, "bob")
    async with admin_socket(base, cookies=admin_cookie(base)) as ws:
        hello = await frame(ws)
        assert hello == {"type": "hello", "by": "user", "user": "admin", "interval": INTERVAL}
        async with session_socket(base, bob) as bobs:
            assert await who(bobs) == "Signed in as bob"
            seen = await snapshot_where(
                ws, lambda s: any(c["user"] == "bob" for c in s["connections"]))
            [row] = [c for c in seen["connections"] if c["user"] == "bob"]
            assert row["origin"] == base and row["worker"] and row["topics"] == []
            assert row["opened_at"] <= seen["now"]
            assert any(s["user"] == "bob" and s["sockets"] == 1 for s in seen["sessions"])
            assert seen["counts"]["users"] >= 1 and seen["metrics_off"] is None
            # From the second sample on, the rates of this host's counters.
            rated = await snapshot_where(ws, lambda s: s["rates"] is not None)
            assert set(rated["rates"]) == {"callbacks", "frames", "closes"}
            assert all(value >= 0 for value in rated["rates"].values())
        await snapshot_where(ws, lambda s: all(c["user"] != "bob" for c in s["connections"]))


async def test_the_socket_closes_when_the_admins_session_ends(server: Server) -> None:
    base = server.url
    cookie = login(base, "admin")
    async with admin_socket(base, cookies={COOKIE: cookie}) as ws:
        assert (await frame(ws))["type"] == "hello"
        await frame(ws)
        started = time.perf_counter()
        assert (await asyncio.to_thread(logout, base, cookie)).status_code == 303
        code, at = await closed_code(ws, timeout=FRAME_WAIT)
    assert code == CloseCode.SESSION_ENDED
    assert at - started < INTERVAL + 2.0, at - started


async def test_a_sign_in_cookie_opens_the_socket_and_a_frame_from_the_page_closes_it(
        server: Server) -> None:
    base = server.url
    async with admin_socket(base, cookies=signed_in(base)) as ws:
        assert (await frame(ws))["by"] == "sign-in"
        await ws.send("anything")
        code, _ = await closed_code(ws, timeout=FRAME_WAIT)
    assert code == CloseCode.POLICY_VIOLATION


async def test_admin_sockets_per_worker_are_capped(server: Server) -> None:
    base = server.url
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(ADMIN_SOCKETS_PER_WORKER):
            ws = await stack.enter_async_context(admin_socket(base, token=TOKEN, origin=None))
            assert (await frame(ws))["type"] == "hello"
        async with admin_socket(base, token=TOKEN, origin=None) as extra:
            # The notice first, as on every quartdash socket, then the close.
            notice = await frame(extra)
            assert notice["type"] == "quartdash_close" and notice["code"] == 1013, notice
            with pytest.raises(ConnectionClosed):
                await frame(extra)
        assert extra.close_code == CloseCode.TRY_AGAIN_LATER
        assert extra.close_reason.startswith("too many admin pages open")
    # Each socket gave its place back when it closed.
    async with admin_socket(base, token=TOKEN, origin=None) as ws:
        assert (await frame(ws))["type"] == "hello"


# --- in process: metrics off, no admin ---------------------------------------------------------
def make_app(**kwargs: Any) -> QuartDash:
    app = QuartDash(__name__, **kwargs)
    app.layout = html.Div("admin page test")
    return app


@contextlib.asynccontextmanager
async def served(app: QuartDash) -> AsyncIterator[Any]:
    async with app.server.test_app() as test_app:
        yield test_app.test_client()


async def test_with_metrics_off_the_page_says_how_to_turn_them_on() -> None:
    app = make_app(admin_token=TOKEN)
    bearer = {"Authorization": f"Bearer {TOKEN}", "Origin": "http://localhost"}
    async with served(app) as client, client.websocket(PAGE + "live", headers=bearer) as ws:
        assert json.loads(await ws.receive())["type"] == "hello"
        first = json.loads(await ws.receive())
    assert first["rates"] is None and first["metrics_off"] == METRICS_OFF
    assert "QUARTDASH_METRICS=1" in METRICS_OFF


async def test_the_address_without_its_slash_leads_to_the_page() -> None:
    async with served(make_app(admin_token=TOKEN)) as client:
        moved = await client.get(PAGE.rstrip("/"))
    # The page's URLs (its socket, the API) are relative to the address with the slash.
    assert moved.status_code in (301, 308) and moved.headers["Location"].endswith(PAGE)


async def test_no_page_where_no_admin_api_is_mounted() -> None:
    async with served(make_app()) as client:
        # Dash's catch-all route answers with the app's own page.
        assert "quartdash admin" not in (await (await client.get(PAGE)).get_data(as_text=True))
        with pytest.raises(WebsocketResponseError) as refused:
            async with client.websocket(PAGE + "live", headers={"Origin": "http://localhost"}):
                pass
    assert refused.value.response.status_code == 400  # no such socket route


async def test_behind_a_tls_proxy_the_sign_in_cookie_is_secure_and_opaque() -> None:
    """Behind a proxy that ends TLS (``trust_proxy_headers``), the request's own scheme is
    http: the cookie must still be ``Secure``. Two sign-ins give unrelated cookies: what
    a cookie carries is a random nonce, nothing one could test guesses of the token
    against (the token is in the signature's salt)."""
    app = make_app(admin_token=TOKEN, trust_proxy_headers=True)
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "admin.example.com",
               "Origin": "https://admin.example.com"}
    async with served(app) as client:
        cookies = []
        for _ in range(2):
            response = await client.post(PAGE + "signin", form={"token": TOKEN},
                                         headers=headers)
            assert response.status_code == 303
            header = response.headers["Set-Cookie"]
            assert "; Secure" in header, header
            cookies.append(header.split(";", 1)[0].split("=", 1)[1])
        # A Basic login of a proxy in front leaves the cookie to say who the caller is.
        admitted = await client.get(PAGE, headers={
            "Authorization": "Basic dXNlcjpwYXNz",
            "Cookie": f"{SIGN_IN_COOKIE}={cookies[0]}"})
        assert admitted.status_code == 200
    payloads = [cookie.split(".", 1)[0] for cookie in cookies]
    assert payloads[0] != payloads[1]


# --- pure ---------------------------------------------------------------------------------------
def info(n: int, user: str | None, session: str | None, topics: tuple[str, ...] = (),
         worker: str = "w1", running: int = 0) -> ConnectionInfo:
    return ConnectionInfo(f"c{n}", user, session, "http://x", "127.0.0.1", "ua", float(n),
                          float(n), worker, running, topics)


def test_snapshot_groups_sessions_and_topics() -> None:
    infos = [info(1, "alice", "s1", ("room:a",)), info(2, "alice", "s1", ("room:a", "room:b"), "w2"),
             info(3, "bob", "s2", ("room:a",), running=2), info(4, None, None)]
    shown = snapshot(infos, 10.0, {"callbacks": 1.0, "frames": 2.0, "closes": 0.0}, True)
    assert shown["counts"] == {"connections": 4, "sessions": 2, "users": 2, "topics": 2,
                               "workers": 2, "callbacks_running": 2}
    assert shown["sessions"] == [
        {"session": "s1", "user": "alice", "sockets": 2, "opened_at": 1.0, "workers": 2},
        {"session": "s2", "user": "bob", "sockets": 1, "opened_at": 3.0, "workers": 1}]
    assert shown["topics"] == [
        {"topic": "room:a", "subscribers": 3, "users": ["alice", "bob"]},
        {"topic": "room:b", "subscribers": 1, "users": ["alice"]}]
    assert [row["id"] for row in shown["connections"]] == ["c1", "c2", "c3", "c4"]
    assert "remote_addr" not in shown["connections"][0]  # what the page shows, no more
    assert shown["metrics_off"] is None
    json.dumps(shown)  # one JSON frame


def test_snapshot_rows_are_bounded_and_the_counts_whole() -> None:
    many = [info(n, f"u{n}", f"s{n}", (f"t{n}",)) for n in range(MAX_ROWS + 7)]
    shown = snapshot(many, 0.0, None, False)
    assert len(shown["connections"]) == len(shown["sessions"]) == MAX_ROWS
    assert len(shown["topics"]) == MAX_ROWS
    assert shown["counts"]["connections"] == shown["counts"]["topics"] == MAX_ROWS + 7
    assert shown["metrics_off"] == METRICS_OFF


def test_rates_are_per_second_deltas_never_negative() -> None:
    meter = RateMeter({"callbacks": "quartdash_callbacks_total"})
    assert meter.update({"quartdash_callbacks_total": 10.0}, 100.0) is None
    assert meter.update({"quartdash_callbacks_total": 30.0}, 102.0) == {"callbacks": 10.0}
    assert meter.update({}, 103.0) == {"callbacks": 0.0}  # a worker's files went away
    assert meter.update({"quartdash_callbacks_total": 5.0}, 103.0) is None  # no time passed


def test_the_page_writes_client_strings_as_text_only() -> None:
    script = (admin_page.STATIC / "admin.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "document.write" not in script and "eval(" not in script
    page = admin_page.Documents.load().page
    assert "http://" not in page and "https://" not in page  # nothing from elsewhere
