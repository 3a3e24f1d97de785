"""Sessions: the pure revocation list and token parsing, then the whole app in process
(real quart-auth, real Dash, Quart's test client): identity in callbacks, renew and
switch, signals, the per-session limit, persistent callbacks of an ended session, and
the registry under 200 concurrent sockets."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer
from quart import Quart
from quart_auth import (
    AuthUser,
    QuartAuth,
    current_user,
    login_required,
    login_user,
    logout_user,
    renew_login,
)

from quartdash import CloseCode, Input, Output, QuartDash, ctx, dcc, html, set_props, signals
from quartdash.auth.sessions import Revocations, SessionToken
from quartdash.cluster.models import Revocation
from quartdash.testing.wsclient import callback_request, inprocess_close, messages

SECRET = "in-process-secret-key-0123456789abcdef"
ORIGIN = {"Origin": "http://localhost"}
WS = "/_dash-ws-callback"


# --- the pure parts -------------------------------------------------------------------------
def token(user: str = "alice", session: str = "s1", issued: float = 100.0) -> SessionToken:
    return SessionToken(user, session, issued, issued + 10)


def test_revoked_session_and_user_cutoff() -> None:
    revocations = Revocations()
    revocations.add(Revocation(until=200, session="s1"))
    assert revocations.revoked(token(session="s1"))
    assert not revocations.revoked(token(session="s2"))
    revocations.add(Revocation(until=300, user="bob", before=150))
    assert revocations.revoked(token("bob", "s9", issued=150))  # the same second counts
    assert revocations.revoked(token("bob", "s9", issued=120))
    assert not revocations.revoked(token("bob", "s9", issued=151))  # a later login
    assert not revocations.revoked(token("carol", "s8", issued=120))
    revocations.purge(250)
    assert len(revocations) == 1 and not revocations.revoked(token(session="s1"))
    revocations.purge(300)
    assert len(revocations) == 0


# --- the app in process -------------------------------------------------------------------------
def make_app(**kwargs: Any) -> QuartDash:
    server = Quart(__name__)
    server.secret_key = SECRET
    app = QuartDash(__name__, server=server, auth=QuartAuth(cookie_secure=False), **kwargs)
    app.layout = html.Div([dcc.Input(id="in"), html.Div(id="out"), html.Div(id="aux")])

    @server.post("/login/<user>")
    async def login(user: str) -> str:
        login_user(AuthUser(user))
        return "ok"

    @server.post("/logout")
    async def logout() -> str:
        logout_user()
        return "ok"

    @server.post("/renew")
    async def renew() -> str:
        renew_login()
        return "ok"

    @server.get("/whoami")
    @login_required
    async def whoami() -> str:
        return str(current_user.auth_id)

    @app.callback(Output("out", "children"), Input("in", "value"))
    async def identity(_value: Any) -> str:
        return f"{ctx.user.auth_id if ctx.user else None}|{ctx.session_id}"

    return app


@pytest.fixture
async def app() -> AsyncIterator[QuartDash]:
    quartdash_app = make_app()
    async with quartdash_app.server.test_app():
        yield quartdash_app


def browser(app: QuartDash) -> Any:
    """A test client: one cookie jar, like one browser."""
    return app.server.test_client()


async def ask_identity(ws: Any) -> str:
    await ws.send(callback_request("who", "out", "children", [("in", "value", 1)]))
    async with asyncio.timeout(5):
        while True:
            for msg in messages(await ws.receive()):
                if msg.get("requestId") == "who":
                    return str(msg["payload"]["data"]["response"]["out"]["children"])


async def close_code(ws: Any) -> int:
    return await inprocess_close(ws)


def test_any_cookie_value_is_no_session_and_never_an_error() -> None:
    quartdash_app = make_app()
    sessions = quartdash_app.sessions
    assert sessions is not None

    @given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.hex())))
    def check(value: str) -> None:
        assert sessions.read(value, app=quartdash_app.server) is None

    check()


async def test_identity_reaches_callbacks_over_websocket_and_http(app: QuartDash) -> None:
    client = browser(app)
    async with client.websocket(WS, headers=ORIGIN) as ws:  # no login: 4401 at once
        assert await close_code(ws) == CloseCode.SESSION_ENDED
    await client.post("/login/alice")
    assert await app.connections.list() == []
    async with client.websocket(WS, headers=ORIGIN) as ws:
        over_ws = await ask_identity(ws)
        [info] = await app.connections.list(user="alice")
        await ask_identity(ws)
        [later] = await app.connections.list(user="alice")
    assert later.last_seen > info.last_seen >= info.opened_at  # each message counts
    user, session = over_ws.split("|")
    assert user == "alice" and session == info.session and len(session) >= 16
    body = {"output": "out.children", "outputs": {"id": "out", "property": "children"},
            "inputs": [{"id": "in", "property": "value", "value": 1}],
            "changedPropIds": ["in.value"], "state": []}
    response = await client.post("/_dash-update-component", json=body)
    assert (await response.get_json())["response"]["out"]["children"] == over_ws
    anonymous = await browser(app).post("/_dash-update-component", json=body)
    assert anonymous.status_code == 401  # with auth, HTTP callbacks need a login too
    assert await anonymous.get_json() == {"error": "authentication required"}


async def test_same_second_logins_are_distinct_sessions_and_renew_keeps_one(app: QuartDash) -> None:
    first, second = browser(app), browser(app)
    await first.post("/login/alice")
    await second.post("/login/alice")
    async with first.websocket(WS, headers=ORIGIN) as ws1, \
            second.websocket(WS, headers=ORIGIN) as ws2:
        id1, id2 = (await ask_identity(ws1)).split("|")[1], (await ask_identity(ws2)).split("|")[1]
        assert id1 != id2
        await first.post("/renew")
        assert (await ask_identity(ws1)).split("|")[1] == id1  # socket lives, same session
        async with first.websocket(WS, headers=ORIGIN) as ws3:  # with the renewed cookie
            assert (await ask_identity(ws3)).split("|")[1] == id1


async def test_revoked_cookie_is_no_login_in_any_route(app: QuartDash) -> None:
    client = browser(app)
    await client.post("/login/alice")
    stolen = client.cookie_jar  # what an attacker copied before the logout
    cookie = next(c.value for c in stolen if c.name == "QUART_AUTH")
    assert (await client.get("/whoami")).status_code == 200
    await client.post("/logout")
    thief = browser(app)
    response = await thief.get("/whoami", headers={"Cookie": f"QUART_AUTH={cookie}"})
    assert response.status_code == 401
    async with thief.websocket(WS, headers={**ORIGIN, "Cookie": f"QUART_AUTH={cookie}"}) as ws:
        assert await close_code(ws) == CloseCode.SESSION_ENDED


async def test_cookie_signed_before_quartdash_still_logs_in(app: QuartDash) -> None:
    plain = URLSafeTimedSerializer(SECRET, "quart auth salt",
                                   signer_kwargs={"digest_method": hashlib.sha512})
    legacy = plain.dumps("olga")
    client = browser(app)
    headers = {**ORIGIN, "Cookie": f"QUART_AUTH={legacy}"}
    async with client.websocket(WS, headers=headers) as ws:
        user, session = (await ask_identity(ws)).split("|")
    assert user == "olga" and len(session) == 22
    auth = app.auth
    assert auth is not None  # quart-auth's own API still sees the auth id and a datetime
    loaded = auth.serializer_class(SECRET, auth.salt).loads(legacy, return_timestamp=True)
    assert loaded[0] == "olga" and loaded[1].tzinfo is not None
    assert await app.connections.close(session=session) == 0
    async with client.websocket(WS, headers=headers) as ws:
        assert await close_code(ws) == CloseCode.SESSION_ENDED


async def test_signals_carry_what_they_document(app: QuartDash) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(name: str) -> Any:
        def receiver(sender: Any, **kwargs: Any) -> None:
            assert sender is app
            seen.append((name, kwargs))
        return receiver

    receivers = {name: record(name) for name in
                 ("session_started", "session_ended", "connection_opened", "connection_closed")}
    for name, receiver in receivers.items():
        getattr(signals, name).connect(receiver, sender=app)

    @signals.connection_opened.connect_via(app)
    def broken(_sender: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a faulty receiver must not break the socket")

    try:
        client = browser(app)
        await client.post("/login/alice")
        async with client.websocket(WS, headers=ORIGIN) as ws:
            session = (await ask_identity(ws)).split("|")[1]
            await client.post("/logout")
            assert await close_code(ws) == CloseCode.SESSION_ENDED
        async with asyncio.timeout(5):
            while len(seen) < 4:  # noqa: ASYNC110 - the last signal comes from a task
                await asyncio.sleep(0.01)
    finally:
        for name, receiver in receivers.items():
            getattr(signals, name).disconnect(receiver)
        signals.connection_opened.disconnect(broken)
    names = [name for name, _ in seen]
    assert names == ["session_started", "connection_opened", "session_ended", "connection_closed"]
    started, opened, ended, closed = (kwargs for _, kwargs in seen)
    assert started == {"session_id": session, "user": "alice"}
    assert opened["info"].session == session and opened["info"].user == "alice"
    assert ended == {"session_id": session, "user": "alice", "reason": "logout"}
    assert closed["code"] == CloseCode.SESSION_ENDED and closed["info"].id == opened["info"].id


async def test_connections_per_session_are_capped() -> None:
    app = make_app(max_connections_per_session=2)
    async with app.server.test_app():
        client = browser(app)
        await client.post("/login/alice")
        async with client.websocket(WS, headers=ORIGIN) as ws1, \
                client.websocket(WS, headers=ORIGIN) as ws2:
            await ask_identity(ws1)
            await ask_identity(ws2)
            async with client.websocket(WS, headers=ORIGIN) as ws3:
                assert await close_code(ws3) == CloseCode.TRY_AGAIN_LATER
            other = browser(app)  # another session is not affected
            await other.post("/login/alice")
            async with other.websocket(WS, headers=ORIGIN) as ws4:
                await ask_identity(ws4)
        async with client.websocket(WS, headers=ORIGIN) as ws5:  # room again
            await ask_identity(ws5)


async def test_persistent_callback_of_an_ended_session_stops() -> None:
    app = make_app()
    ticks: list[float] = []
    shutdown_seen_at_cancel: list[bool] = []
    stopped = asyncio.Event()

    @app.callback(persistent=True)
    async def ticker() -> None:
        try:
            while not ctx.websocket.is_shutdown:
                ticks.append(time.monotonic())
                set_props("aux", {"children": len(ticks)})
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            shutdown_seen_at_cancel.append(ctx.websocket.is_shutdown)
            raise
        finally:
            stopped.set()

    persistent_output = next(k for k in app.callback_map if k != "out.children")
    async with app.server.test_app():
        client = browser(app)
        await client.post("/login/alice")
        async with client.websocket(WS, headers=ORIGIN) as ws:
            request = json.loads(callback_request("p", "aux", "children", []))
            request["payload"]["output"] = persistent_output
            del request["payload"]["outputs"]
            await ws.send(json.dumps(request))
            async with asyncio.timeout(5):
                while len(ticks) < 3:
                    await ws.receive()
            await client.post("/logout")
            assert await close_code(ws) == CloseCode.SESSION_ENDED
        async with asyncio.timeout(5):
            await stopped.wait()
        count = len(ticks)
        await asyncio.sleep(0.1)  # ten ticks' worth: none may come
        assert len(ticks) == count
        assert shutdown_seen_at_cancel in ([], [True])


async def test_registry_stays_exact_under_200_concurrent_sockets(app: QuartDash) -> None:
    clients = []
    for i in range(4):
        client = browser(app)
        await client.post(f"/login/user{i}")
        clients.append(client)
    baseline = len(asyncio.all_tasks())
    opened, go = asyncio.Event(), asyncio.Event()
    ready = 0
    codes: list[int] = []

    async def one(n: int) -> None:
        nonlocal ready
        async with clients[n % 4].websocket(WS, headers=ORIGIN) as ws:
            await ask_identity(ws)
            ready += 1
            if ready == 200:
                opened.set()
            await go.wait()
            if n % 2:  # half leave by themselves, while the server closes everyone
                return
            codes.append(await close_code(ws))

    workers = [asyncio.create_task(one(n)) for n in range(200)]
    async with asyncio.timeout(30):
        await opened.wait()
    assert len(app.connections) == 200
    assert [len(await app.connections.list(user=f"user{i}")) for i in range(4)] == [50] * 4
    go.set()
    closed = await app.connections.close(everyone=True, reason="maintenance",
                                         code=CloseCode.GOING_AWAY)
    assert 100 <= closed <= 200
    async with asyncio.timeout(30):
        await asyncio.gather(*workers)
    async with asyncio.timeout(30):
        while len(app.connections) or len(asyncio.all_tasks()) > baseline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # nothing signals "every task has ended": poll
    assert await app.connections.list() == []
    assert codes == [CloseCode.GOING_AWAY] * 100


def test_configuration_mistakes_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="needs auth"):
        QuartDash(__name__, admin=lambda user: True)
    with pytest.raises(ValueError, match="cookie"):
        QuartDash(__name__, auth=QuartAuth(mode="bearer"))
    with pytest.raises(ValueError, match="exactly one"):
        asyncio.run(make_app().connections.close(user="a", session="b"))
    with pytest.raises(ValueError, match="not a close code"):
        asyncio.run(make_app().connections.close(everyone=True, code=1005))
    monkeypatch.delenv("QUARTDASH_SECRET_KEY", raising=False)
    with pytest.warns(UserWarning, match="secret key"):
        QuartDash(__name__, auth=True)


async def test_closing_by_session_or_user_ends_and_reports_each_session(app: QuartDash) -> None:
    ended: list[dict[str, Any]] = []

    def record(_sender: Any, **kwargs: Any) -> None:
        ended.append(kwargs)

    signals.session_ended.connect(record, sender=app)
    try:
        one, two = browser(app), browser(app)
        await one.post("/login/alice")
        await two.post("/login/alice")
        async with one.websocket(WS, headers=ORIGIN) as ws1, \
                two.websocket(WS, headers=ORIGIN) as ws2:
            first = (await ask_identity(ws1)).split("|")[1]
            second = (await ask_identity(ws2)).split("|")[1]
            assert await app.connections.close(session=first) == 1
            assert await close_code(ws1) == CloseCode.SESSION_ENDED
            assert ended == [{"session_id": first, "user": "alice", "reason": "closed"}]
            assert await app.connections.close(user="alice", code=4000) == 1
            assert await close_code(ws2) == 4000
            assert ended[1:] == [{"session_id": second, "user": "alice", "reason": "closed"}]
        assert (await two.get("/whoami")).status_code == 401  # revoked, as logout does
    finally:
        signals.session_ended.disconnect(record)
