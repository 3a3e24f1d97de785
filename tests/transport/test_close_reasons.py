"""The close reason of each kind of administrator's close, in process (real quart-auth,
real Dash, Quart's test client). All of them close with 4401; the reason is what tells
the page whether the login still holds (renderer_patch/src/policy.js ``closeNotice``):
a close of one connection or of everyone's leaves it, a close by session or user ends it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dash
import pytest
from hypothesis import given
from hypothesis import strategies as st
from quart.testing.connections import WebsocketDisconnectError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from quartdash import CloseCode, QuartDash, html
from quartdash.cluster.backplane import LocalBackplane
from quartdash.testing.servers import hypercorn
from quartdash.testing.wsclient import messages, ws_url
from quartdash.transport.limits import printable
from quartdash.transport.protocol import (
    CONNECTION_CLOSED,
    MAX_REASON_BYTES,
    PROTOCOL_VERSION,
    SIGNED_OUT,
    admin_reason,
    close_reason,
)
from tests.auth.test_sessions import ORIGIN, WS, app, ask_identity, browser
from tests.transport.test_inprocess import restore_hooks

__all__ = ["app", "restore_hooks"]  # the fixtures, used by name


async def announced_close(ws: Any) -> tuple[int, str]:
    """The code and reason of the ``quartdash_close`` message the server sends before
    closing, checked against the close frame's code."""
    announced: list[tuple[int, str]] = []
    try:
        async with asyncio.timeout(5):
            while True:
                announced += [(m["code"], m["reason"]) for m in messages(await ws.receive())
                              if m.get("type") == "quartdash_close"]
    except WebsocketDisconnectError as closed:
        assert [code for code, _ in announced] == [int(closed.args[0])]
    return announced[0]


def test_the_reason_names_the_kind_first_then_the_administrators_words() -> None:
    assert admin_reason(CONNECTION_CLOSED, None) == "connection closed by an administrator"
    assert admin_reason(CONNECTION_CLOSED, "") == CONNECTION_CLOSED
    assert admin_reason(SIGNED_OUT, "locked") == "signed out by an administrator: locked"


async def test_each_kind_of_close_says_whether_the_session_ended(app: QuartDash) -> None:
    clients = [browser(app) for _ in range(4)]
    for n, client in enumerate(clients):
        await client.post(f"/login/user{n}")
    async with clients[0].websocket(WS, headers=ORIGIN) as ws0, \
            clients[1].websocket(WS, headers=ORIGIN) as ws1, \
            clients[2].websocket(WS, headers=ORIGIN) as ws2, \
            clients[3].websocket(WS, headers=ORIGIN) as ws3:
        session = [(await ask_identity(ws)).split("|")[1] for ws in (ws0, ws1, ws2, ws3)]
        [conn] = await app.connections.list(user="user0")
        assert await app.connections.close(conn.id) == 1
        assert await announced_close(ws0) == (CloseCode.SESSION_ENDED, CONNECTION_CLOSED)
        assert await app.connections.close(session=session[1], reason="locked") == 1
        assert await announced_close(ws1) == (CloseCode.SESSION_ENDED, f"{SIGNED_OUT}: locked")
        assert await app.connections.close(user="user2") == 1
        assert await announced_close(ws2) == (CloseCode.SESSION_ENDED, SIGNED_OUT)
        assert await app.connections.close(everyone=True, reason="maintenance") == 1
        assert await announced_close(ws3) == (CloseCode.SESSION_ENDED,
                                              f"{CONNECTION_CLOSED}: maintenance")
    # Only the closes by session and user ended the login.
    assert [(await client.get("/whoami")).status_code for client in clients] == [200, 401, 401, 200]


@given(st.text(max_size=300))
def test_every_close_reason_fits_a_close_frame_and_shows_what_it_can(text: str) -> None:
    reason = close_reason(text)
    assert len(reason.encode()) <= MAX_REASON_BYTES
    shown = printable(text, MAX_REASON_BYTES)
    if len(shown.encode()) <= MAX_REASON_BYTES:
        assert reason == shown
    else:
        assert reason.endswith("...") and shown.startswith(reason[:-3])
    assert reason.isprintable()


def test_a_hook_s_long_reason_is_cut_on_a_character_boundary() -> None:
    reason = close_reason("é" * 100)  # 200 bytes
    assert reason == "é" * 60 + "..." and len(reason.encode()) == 123


@pytest.mark.parametrize("reason", ["refused", "é" * 100, "line one\nline two " + "x" * 200])
async def test_a_hooks_reason_of_any_length_reaches_the_page_with_its_code(
    tmp_path: Path, reason: str
) -> None:
    """A close frame takes 123 bytes of reason. A longer one from the app's hook was
    cut by the server's WebSocket layer in the frame but went whole (and unescaped)
    into the ``quartdash_close`` notice: the page saw two different reasons. Both now
    carry ``close_reason``'s text."""
    with hypercorn("tests.apps.hook_app:app", tmp_path) as server:
        async with connect(ws_url(server.url), origin=server.url, open_timeout=10,  # type: ignore[arg-type]
                           additional_headers={"X-Reason": quote(reason)}) as ws:
            notice = json.loads(await asyncio.wait_for(ws.recv(), 10))
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
    assert notice == {"type": "quartdash_close", "v": PROTOCOL_VERSION, "code": 4999,
                      "reason": close_reason(reason)}
    assert ws.close_code == 4999 and ws.close_reason == close_reason(reason)


async def _close_of(app: QuartDash, sent: list[str], headers: list[tuple[bytes, bytes]]
                    ) -> tuple[dict[str, Any], list[str]]:
    """Serve one socket through the app's own ASGI entry (real Quart, real Dash, no
    network), sending ``sent`` once accepted: the ``websocket.close`` it ends with, as
    the ASGI server gets it (the reason included, which Quart's test client drops),
    and the texts sent before it."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    closed: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    texts: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.accept":
            for text in sent:
                inbox.put_nowait({"type": "websocket.receive", "text": text})
        elif message["type"] == "websocket.send":
            texts.append(message["text"])
        elif message["type"] == "websocket.close" and not closed.done():
            closed.set_result(message)
            inbox.put_nowait({"type": "websocket.disconnect", "code": message["code"]})

    scope = {
        "type": "websocket", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws", "path": WS, "raw_path": WS.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 50000), "server": ("localhost", 80), "subprotocols": [],
        "extensions": {},
    }
    async with app.server.test_app():
        task = asyncio.ensure_future(app.server(scope, inbox.get, send))
        async with asyncio.timeout(10):
            close = await closed
            await task
    return close, texts


async def test_the_reasons_of_dash_hooks_go_through_close_reason(restore_hooks: None) -> None:
    """A ``websocket_connect`` or ``websocket_message`` hook of the app picks any text;
    the close frame and the notice before it carry it clipped and printable."""
    long_connect = "\x07refused: " + "é" * 100
    long_message = "no\nheartbeats " + "x" * 300

    @dash.hooks.websocket_connect()
    def connect_hook(ws: Any) -> Any:
        return ws.headers.get("x-verdict") != "no" or (4999, long_connect)

    @dash.hooks.websocket_message()
    def message_hook(ws: Any, message: dict[str, Any]) -> Any:
        return message.get("type") != "heartbeat" or (4998, long_message)

    app = QuartDash(__name__)
    app.layout = html.Div()
    origin = (b"origin", b"http://localhost")
    for headers, sent, code, text in (
        ([origin, (b"x-verdict", b"no")], [], 4999, long_connect),
        ([origin], ['{"type":"heartbeat"}'], 4998, long_message),
    ):
        close, texts = await _close_of(app, sent, headers)
        assert (close["code"], close["reason"]) == (code, close_reason(text))
        notices = [m for t in texts for m in messages(t) if m.get("type") == "quartdash_close"]
        assert [(m["code"], m["reason"]) for m in notices] == [(code, close_reason(text))]


class _FailingBackplane(LocalBackplane):
    """A backplane with a bug: announcing a socket raises what no caller expects."""

    async def announce(self, info: Any, session_limit: int | None) -> bool:
        raise RuntimeError("a bug in a backplane")


async def test_a_failure_in_the_sockets_handler_closes_it_with_1011(
        caplog: pytest.LogCaptureFixture) -> None:
    """The socket's handler fails (here, a custom backplane raises on admission): the
    page is told 1011 (reconnect with backoff), the notice first, and the log has the
    traceback. It used to end with no close from quartdash at all."""
    app = QuartDash(__name__, backplane=_FailingBackplane())
    app.layout = html.Div()
    close, texts = await _close_of(app, [], [(b"origin", b"http://localhost")])
    assert close["code"] == 1011 and close["reason"] == "internal error"
    assert [json.loads(text)["code"] for text in texts] == [1011]
    assert "a bug in a backplane" in caplog.text
