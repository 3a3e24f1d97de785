"""Against a real hypercorn on 127.0.0.1: round trips, streaming, isolation of sync
callbacks, several workers, the origin matrix and hostile input."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from quartdash.testing.servers import Server, hypercorn
from quartdash.testing.wsclient import (
    call,
    callback_request,
    echo_rtt,
    messages,
    open_socket,
    post_slow,
    worst_rtt_while,
)

ALLOWED = "https://*.example.com,http://localhost:3000"


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"QUARTDASH_ALLOWED_ORIGINS": ALLOWED}
    with hypercorn("examples.echo:app", tmp_path_factory.mktemp("echo"), env=env) as server:
        yield server


async def test_echo_round_trip(echo: Server) -> None:
    async with open_socket(echo.url) as ws:
        rtts = [await echo_rtt(ws, i) for i in range(20)]
    assert max(rtts) < 1.0


# Streaming 2,000 set_props in order is tested under every server, hypercorn included,
# in tests/servers/test_any_server.py.


@pytest.mark.parametrize("transport", ["websocket", "http"])
async def test_sync_callback_does_not_delay_other_sockets(echo: Server, transport: str) -> None:
    async with open_socket(echo.url) as slow_ws, open_socket(echo.url) as fast_ws:
        await echo_rtt(fast_ws, 0)  # warm
        if transport == "http":
            slow = asyncio.create_task(post_slow(echo.url))
        else:
            slow = asyncio.create_task(call(slow_ws, callback_request("s", "slow-out", "children", [("slow", "n_clicks", 1)]), timeout=10))
        worst, probes = await worst_rtt_while(fast_ws, slow)
        result = await slow
    data = result if transport == "http" else result[0]["payload"]["data"]
    assert data["response"]["slow-out"]["children"] == "slow 1"
    assert probes > 20, "the fast socket should answer many times during the 1 s callback"
    assert worst < 0.05, f"worst round trip beside a sync callback: {worst * 1000:.1f} ms"


async def test_three_workers_answer_websocket_first_contact(tmp_path: Path) -> None:
    with hypercorn("examples.echo:app", tmp_path, workers=3, ready_path=None) as server:
        failures = []
        for i in range(20):  # 20 fresh connections, no HTTP request ever made
            async with open_socket(server.url) as ws:
                response, _ = await call(ws, callback_request(f"w{i}", "out", "children", [("in", "value", i)]))
                if response["payload"].get("status") != "ok":
                    failures.append(response["payload"])
        assert failures == []


ORIGIN_MATRIX = [
    # (origin header, expected: accepted?)
    ("{url}", True),
    ("{url_upper}", True),
    ("https://127.0.0.1:{port}", False),
    ("http://127.0.0.1:{other}", False),
    ("http://localhost:{port}", False),
    ("http://localhost:3000", True),
    ("http://localhost:3001", False),
    ("https://a.example.com", True),
    ("https://deep.a.example.com", True),
    ("https://example.com", False),
    ("https://badexample.com", False),
    ("http://a.example.com", False),
    ("https://a.example.com:8443", False),
    ("https://example.com.evil.net", False),
    ("null", False),
    ("{url}/path", False),
    ("http://user@127.0.0.1:{port}", False),
]


@pytest.mark.parametrize(("template", "accepted"), ORIGIN_MATRIX)
async def test_origin_matrix(echo: Server, template: str, accepted: bool) -> None:
    port = echo.url.rsplit(":", 1)[1]
    origin = template.format(url=echo.url, url_upper=echo.url.upper().replace("HTTP://", "http://"),
                             port=port, other=int(port) + 1)
    if accepted:
        async with open_socket(echo.url, origin=origin) as ws:
            await ws.send('{"type":"heartbeat"}')
            assert messages(await asyncio.wait_for(ws.recv(), 5)) == [{"type": "heartbeat_ack"}]
        return
    with pytest.raises(InvalidStatus) as info:
        async with open_socket(echo.url, origin=origin):
            pass
    assert info.value.response.status_code == 403
    assert json.loads(info.value.response.body)["error"]
    await _poll(lambda: f"origin={origin!r}" in echo.log)  # logged with origin and address


async def test_missing_origin_is_refused(echo: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", int(echo.url.rsplit(":", 1)[1]))
    writer.write(
        b"GET /_dash-ws-callback HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    status = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert b" 403 " in status


async def _poll(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _closed_with(ws: object) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as info:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()  # type: ignore[attr-defined]
    assert info.value.rcvd is not None, "the server should send a close frame"
    return info.value.rcvd.code, info.value.rcvd.reason


HOSTILE = [
    ("oversized", lambda: "x" * (1024 * 1024 + 10), 1009),
    ("not json", lambda: "hello there", 1008),
    ("array", lambda: "[1,2,3]", 1008),
    ("unknown type", lambda: '{"type":"launch"}', 1008),
    ("bad payload", lambda: '{"type":"callback_request","requestId":"r","payload":{"output":1}}', 1008),
    ("binary", lambda: b"\x00\x01\x02", 1003),
]


@pytest.mark.parametrize(("name", "frame", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_hostile_frames_close_only_their_socket(echo: Server, name: str, frame: object, code: int) -> None:
    async with open_socket(echo.url) as bystander, open_socket(echo.url) as hostile:
        await echo_rtt(bystander, 1)
        await hostile.send(frame())  # type: ignore[operator]
        got, reason = await _closed_with(hostile)
        assert got == code
        assert reason
        await echo_rtt(bystander, 2)  # the other connection never noticed


async def test_flood_closes_with_4429_and_others_keep_answering(echo: Server) -> None:
    async with open_socket(echo.url) as bystander, open_socket(echo.url) as flood:
        for _ in range(6000):
            await flood.send('{"type":"heartbeat"}')
        got, _ = await _closed_with(flood)
        assert got == 4429
        assert await echo_rtt(bystander, 3) < 1.0


async def test_unknown_callback_answers_and_socket_lives(echo: Server) -> None:
    async with open_socket(echo.url) as ws:
        response, _ = await call(ws, callback_request("u", "ghost", "children", [("in", "value", 1)]))
        assert response["payload"]["status"] == "error"
        assert "not found" in response["payload"]["message"]
        await echo_rtt(ws, 4)


def test_no_client_error_logged_a_traceback(echo: Server) -> None:
    # runs after the hostile tests in this module (pytest keeps file order)
    log = echo.log
    assert "closing WebSocket with 1009" in log
    assert "closing WebSocket with 4429" in log
    assert "Traceback" not in log
