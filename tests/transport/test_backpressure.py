"""Bounded outbound queues (outbound.py, connection.py): a page that stops reading costs the server
a bounded amount of memory, set_props coalesce while it is behind, events never do,
and a socket whose send stays blocked is closed with 1013. Real hypercorn; the client
stops reading by not calling ``recv`` (websockets then stops reading the TCP socket)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from quartdash.testing.servers import Server, hypercorn, log_shows
from quartdash.testing.wsclient import callback_request, messages, open_socket

MB = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"STREAM_RATE": "1000", "QUARTDASH_SEND_TIMEOUT": "600"}
    with hypercorn("tests.apps.stream_app:app", tmp_path_factory.mktemp("bp"), env=env) as s:
        yield s


def _slow_reader(server: Server) -> Any:
    """A socket whose page stops reading as soon as it stops calling ``recv``: a small
    receive buffer, websockets' own buffer of one frame, and no compression (the padding
    would shrink to nothing)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    return open_socket(server.url, max_queue=1, sock=sock, compression=None)


def _rss(server: Server) -> int:
    proc = psutil.Process(server.proc.pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


async def _read_until(ws: Any, *request_ids: str, timeout: float) -> list[dict[str, Any]]:
    """Read until every request named has its response; every message read."""
    got: list[dict[str, Any]] = []
    waiting = set(request_ids)
    async with asyncio.timeout(timeout):
        while waiting:
            batch = messages(await ws.recv())
            got += batch
            waiting -= {m.get("requestId") for m in batch if m.get("type") == "callback_response"}
    return got


def _values(got: list[dict[str, Any]], component: str) -> list[int]:
    return [m["payload"]["props"]["children"] for m in got
            if m.get("type") == "set_props" and m["payload"]["componentId"] == component]


async def test_a_page_that_stops_reading_costs_bounded_memory(server: Server) -> None:
    """1,000 set_props a second (1 KB each, 30 MB in all) for 30 s into a socket nobody
    reads: the server grows by less than 10 MB, and when the page reads again it gets
    the latest value."""
    seconds, rate = 30, 1000
    async with _slow_reader(server) as ws:
        await ws.send(callback_request("p1", "props-done", "children",
                                       [("props", "n_clicks", seconds * rate)]))
        await asyncio.sleep(1)  # the stream is on and the socket's buffers fill
        before = _rss(server)
        peak = before
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(1)
            peak = max(peak, _rss(server))
        got = await _read_until(ws, "p1", timeout=60)
    growth = (peak - before) / MB
    counter = _values(got, "bulk")
    print(f"RSS growth while not reading: {growth:.1f} MB; {len(counter)} of "
          f"{seconds * rate} set_props delivered")
    assert growth < 10, f"the server grew by {growth:.1f} MB"
    assert counter[-1] == seconds * rate  # the latest value arrives
    assert len(counter) < seconds * rate // 2  # most were coalesced
    assert counter == sorted(counter)  # what arrives keeps its order


async def test_events_never_coalesce_while_props_do(server: Server) -> None:
    """Numbered events and small set_props beside a stream of 1 KB set_props, into a
    socket not read for 3 s: every event arrives once, in order; props coalesce."""
    n, bulk = 3000, 5000
    async with _slow_reader(server) as ws:
        await ws.send(callback_request("p1", "props-done", "children",
                                       [("props", "n_clicks", bulk)]))
        await ws.send(callback_request("g1", "done", "children", [("go", "n_clicks", n)]))
        await asyncio.sleep(3)  # not reading while most of the stream is sent
        got = await _read_until(ws, "g1", "p1", timeout=60)
    events = [m["payload"]["data"] for m in got if m.get("type") == "quartdash_event"]
    assert events == list(range(1, n + 1))
    counter, sizes = _values(got, "counter"), _values(got, "bulk")
    assert counter[-1] == n and counter == sorted(counter)
    assert sizes[-1] == bulk and sizes == sorted(sizes)
    assert len(sizes) < bulk  # coalesced while the socket was behind


async def test_changes_to_apply_never_coalesce(server: Server) -> None:
    """A ``Patch`` and ``extendData`` are changes, not states: while the socket is
    behind (not read for 3 s, 1 KB set_props beside them), every one still arrives,
    in order, though the plain set_props beside them coalesce."""
    n = 3000
    async with _slow_reader(server) as ws:
        await ws.send(callback_request("d1", "deltas-done", "children",
                                       [("deltas", "n_clicks", n)]))
        await asyncio.sleep(3)
        got = await _read_until(ws, "d1", timeout=60)
    applied = []
    for m in got:
        if m.get("type") != "set_props":
            continue
        props = m["payload"]["props"]
        if "extendData" in props:
            applied.append(props["extendData"][0]["y"][0][0])
        elif m["payload"]["componentId"] == "log":
            applied += [op["params"]["value"] for op in props["children"]["operations"]]
    assert applied == list(range(1, n + 1))
    sizes = _values(got, "bulk")
    assert sizes[-1] == n and len(sizes) < n


async def test_a_socket_blocked_past_the_limit_is_closed(tmp_path_factory: pytest.TempPathFactory) -> None:
    env = {"STREAM_RATE": "1000", "QUARTDASH_SEND_TIMEOUT": "2"}
    with hypercorn("tests.apps.stream_app:app", tmp_path_factory.mktemp("slow"), env=env) as s:
        async with _slow_reader(s) as ws:
            await ws.send(callback_request("p1", "props-done", "children",
                                           [("props", "n_clicks", 100_000)]))
            await log_shows(s, "client is not reading", timeout=15)
            # Reading again, the page finds its socket closed.
            with pytest.raises(Exception):  # noqa: B017 - ConnectionClosed
                async with asyncio.timeout(20):
                    while True:
                        await ws.recv()
        await log_shows(s, "code=1013")  # the registry's disconnect line
        # The server serves others as before.
        async with open_socket(s.url) as other:
            await other.send('{"type":"heartbeat"}')
            assert json.loads(await asyncio.wait_for(other.recv(), 10)) == {"type": "heartbeat_ack"}
