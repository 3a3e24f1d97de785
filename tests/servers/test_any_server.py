"""The same real-server behaviour under hypercorn, uvicorn and granian (``any_server``):
callbacks, streaming, origin refusal, logout and an administrator's close (4401), the
1001 close on SIGTERM, resume after a dropped socket, and the hostile-input limits.

The helpers are the hypercorn tests' own (tests/transport, tests/authclient.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from quartdash import CloseCode
from quartdash.testing.servers import SERVERS, Server, TcpProxy, log_shows, serve
from quartdash.testing.wsclient import (
    ResumingClient,
    call,
    callback_request,
    echo_rtt,
    open_socket,
)
from tests.authclient import SECRET, TOKEN, admin, closed_code, login, logout, session_socket, who
from tests.transport.test_hostile import MB, PeakRss, _bomb
from tests.transport.test_resume import _counters, _events, _go, _response
from tests.transport.test_server import ALLOWED, _closed_with

AUTH_ENV = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN}


@pytest.fixture(scope="module", params=SERVERS)
def any_server(request: pytest.FixtureRequest) -> str:
    """The name of the ASGI server each test of this module runs under."""
    return str(request.param)


@pytest.fixture(scope="module")
def echo(any_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(any_server, "examples.echo:app", tmp_path_factory.mktemp("echo"),
               env={"QUARTDASH_ALLOWED_ORIGINS": ALLOWED}) as server:
        yield server


@pytest.fixture(scope="module")
def auth(any_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(any_server, "examples.auth_admin:app", tmp_path_factory.mktemp("auth"),
               env=AUTH_ENV, ready_path="/login") as server:
        yield server


@pytest.fixture(scope="module")
def hostile(any_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(any_server, "tests.apps.hostile_app:app",
               tmp_path_factory.mktemp("hostile")) as server:
        yield server


async def test_callbacks_answer(echo: Server) -> None:
    async with open_socket(echo.url) as ws:
        rtts = [await echo_rtt(ws, i) for i in range(20)]
        response, _ = await call(ws, callback_request("u", "ghost", "children", [("in", "value", 1)]))
        assert response["payload"]["status"] == "error"
        await echo_rtt(ws, 21)  # a refused request leaves the socket open
    assert max(rtts) < 1.0


async def test_streams_2000_set_props_in_order(echo: Server) -> None:
    async with open_socket(echo.url) as ws:
        request = callback_request("go", "done", "children", [("go", "n_clicks", 2000)])
        response, before = await call(ws, request, timeout=30)
    values = [m["payload"]["props"]["children"] for m in before
              if m["type"] == "set_props" and m["payload"]["componentId"] == "prog"]
    assert values == list(range(1, 2001))
    assert response["payload"]["data"]["response"]["done"]["children"] == "done"


@pytest.mark.parametrize("origin", ["https://example.com.evil.net", "null", "http://localhost:3001"])
async def test_a_foreign_origin_gets_403_before_any_socket(echo: Server, origin: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with open_socket(echo.url, origin=origin):
            pass
    assert info.value.response.status_code == 403
    async with open_socket(echo.url, origin="https://a.example.com") as ws:
        await echo_rtt(ws, 1)  # an allowed one still gets in


async def test_logout_and_an_admin_close_send_4401_to_every_socket(auth: Server) -> None:
    """Two pages of one login, one of them streaming: a logout closes both with 4401
    (notice, then the close frame); so does an administrator's close of a user."""
    for user, end in (("alice", "logout"), ("bob", "admin")):
        cookie = login(auth.url, user)
        async with session_socket(auth.url, cookie) as quiet, \
                session_socket(auth.url, cookie) as busy:
            assert await who(quiet) == f"Signed in as {user}"
            await who(busy)
            if end == "logout":
                assert logout(auth.url, cookie).status_code == 303
            else:
                assert admin(auth.url, "POST", f"users/{user}/close", token=TOKEN).json() == {
                    "closed": 2}
            for ws in (quiet, busy):
                code, _ = await closed_code(ws, timeout=5)
                assert code == CloseCode.SESSION_ENDED, (end, code)


async def test_sigterm_closes_every_socket_with_1001_and_the_notice(
        any_server: str, tmp_path: Path) -> None:
    with serve(any_server, "examples.echo:app", tmp_path) as server:
        async with open_socket(server.url) as ws1, open_socket(server.url) as ws2:
            await echo_rtt(ws1, 0)
            await echo_rtt(ws2, 0)
            started = time.perf_counter()
            server.proc.send_signal(signal.SIGTERM)
            for ws in (ws1, ws2):
                seen: list[str] = []
                with pytest.raises(ConnectionClosed) as info:
                    async with asyncio.timeout(5):
                        while True:
                            seen.append(str(await ws.recv()))
                assert info.value.rcvd is not None, "a close frame, not a dropped connection"
                assert info.value.rcvd.code == CloseCode.GOING_AWAY
                assert json.loads(seen[-1]) == {"type": "quartdash_close", "v": 1,
                                                "code": 1001, "reason": "server restarting"}
            closed_after = time.perf_counter() - started
            await asyncio.to_thread(server.proc.wait, 10)
        assert closed_after < 1.0, closed_after
        assert "closed 2 WebSocket(s) with 1001" in server.log
        assert "Traceback" not in server.log


async def test_a_socket_of_the_apps_own_does_not_hold_the_stop(
        any_server: str, tmp_path: Path) -> None:
    """A WebSocket route of the app's own beside quartdash's: on SIGTERM quartdash's
    socket gets 1001, and the stop does not wait for the other one (under uvicorn it
    held the stop for quartdash's whole 10 s)."""
    from websockets.asyncio.client import connect

    with serve(any_server, "tests.apps.plain_ws_app:app", tmp_path) as server:
        plain_url = server.url.replace("http://", "ws://") + "/plain"
        async with open_socket(server.url) as ours, \
                connect(plain_url, open_timeout=10) as plain:
            await echo_rtt(ours, 0)
            await plain.send("hi")
            assert await asyncio.wait_for(plain.recv(), 5) == "hi"
            started = time.perf_counter()
            server.proc.send_signal(signal.SIGTERM)
            assert (await closed_code(ours, timeout=5))[0] == CloseCode.GOING_AWAY
            await asyncio.to_thread(server.proc.wait, 10)
        stopped_after = time.perf_counter() - started
    # The drain (2 s at most here: the test servers' graceful timeout), then the server's
    # own stop; never quartdash's 10 s hold.
    assert stopped_after < 6.0, stopped_after


async def test_a_dropped_socket_resumes_with_every_event(any_server: str, tmp_path: Path) -> None:
    env = {"QUARTDASH_RESUME_GRACE": "5", "STREAM_RATE": "1000"}
    with serve(any_server, "tests.apps.stream_app:app", tmp_path, env=env) as server:
        proxy = TcpProxy(int(server.url.rsplit(":", 1)[1]))
        try:
            async with ResumingClient(proxy.url) as client:
                welcome = await client.connect()
                assert client.ws is not None
                await client.ws.send(_go("g1", 1000))
                await client.until(lambda m: m.get("type") == "quartdash_event"
                                   and m["payload"]["data"] >= 200)
                proxy.cut()  # a reset, no close frame, frames in flight lost
                again = await client.connect(resume=True)
                assert again["resumed"] is True and again["id"] == welcome["id"]
                await client.until(_response("g1"), timeout=30)
            assert _events(client) == list(range(1, 1001))
            assert _counters(client)[-1] == 1000
        finally:
            proxy.close()


async def test_oversized_messages_get_1009_and_floods_4429(any_server: str,
                                                          hostile: Server) -> None:
    """Over max_message_bytes: 1009; past the rate limit: 4429; a bystander keeps
    answering. granian resets a connection whose peer is still sending when the app
    has closed it (the flood's close frame is then lost on the client's side): there
    the server's log shows the 4429."""
    async with open_socket(hostile.url) as bystander:
        await echo_rtt(bystander, 1)
        async with open_socket(hostile.url) as big:
            await big.send("x" * (MB + 10))
            code, _ = await _closed_with(big)
            assert code == CloseCode.MESSAGE_TOO_BIG
        async with open_socket(hostile.url) as flood:
            with contextlib.suppress(ConnectionClosed):
                for _ in range(6000):
                    await flood.send('{"type":"heartbeat"}')
            if any_server == "granian":
                await log_shows(hostile, "closing WebSocket with 4429")
            else:
                code, _ = await _closed_with(flood)
                assert code == CloseCode.RATE_LIMITED
        assert await echo_rtt(bystander, 2) < 1.0


async def test_a_compression_bomb_costs_little(any_server: str, hostile: Server) -> None:
    """Two deflated frames of 48 MiB (about 100 KiB on the wire): where permessage-
    deflate is negotiated, inflation stops at max_message_bytes (1009); granian does not
    negotiate it at all."""
    async with open_socket(hostile.url, compression="deflate") as ws:
        negotiated = bool(ws.protocol.extensions)
    assert negotiated == (any_server != "granian")
    if not negotiated:
        return
    with PeakRss(hostile) as rss:
        code = await _bomb(hostile, 2, 48 * MB)
    print(f"{any_server}: 48 MiB frames: +{rss.growth_mb:.1f} MB, close code {code}")
    # Measured: hypercorn +0.8 MB, uvicorn +1.8 MB (+16 MB before its ws_max_size was
    # lowered to max_message_bytes, 1 MiB here).
    assert rss.growth_mb <= 8, f"the worker grew by {rss.growth_mb:.1f} MB"
    assert code == CloseCode.MESSAGE_TOO_BIG
