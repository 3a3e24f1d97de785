"""A real hypercorn told to stop (SIGTERM to its main process, as an orchestrator does)
closes every socket with 1001, announced, and exits without waiting out its graceful
timeout: at once with ``drain_seconds=0``, otherwise in batches spread over the drain
window, oldest socket first, so the pages do not all reconnect at the same instant."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from pathlib import Path

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from quartdash import CloseCode
from quartdash.testing.servers import Server, hypercorn, log_shows, uvicorn
from quartdash.testing.wsclient import echo_rtt, open_socket

GRACEFUL = 2.0  # quartdash.testing.servers starts hypercorn with --graceful-timeout 2
NOTICE = {"type": "quartdash_close", "v": 1, "code": 1001, "reason": "server restarting"}


async def live_sockets(stack: contextlib.AsyncExitStack, server: Server,
                       count: int) -> list[ClientConnection]:
    """``count`` sockets of ``server``, opened one after the other (oldest first), each
    answering a round trip."""
    sockets = []
    for n in range(count):
        ws = await stack.enter_async_context(open_socket(server.url))
        await echo_rtt(ws, n)
        sockets.append(ws)
    return sockets


async def closed_with_1001(ws: ClientConnection, timeout: float) -> float:
    """Read ``ws`` until it closes; the moment it did (perf_counter), once checked
    that the close was a 1001 frame announced by the ``quartdash_close`` notice."""
    seen: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                seen.append(str(await ws.recv()))
    except ConnectionClosed as closed:
        at = time.perf_counter()
        assert closed.rcvd is not None, "a close frame, not a dropped connection"
        assert closed.rcvd.code == CloseCode.GOING_AWAY
    assert json.loads(seen[-1]) == NOTICE
    return at


async def test_drain_of_0_closes_sockets_with_1001_at_once(tmp_path: Path) -> None:
    env = {"QUARTDASH_DRAIN_SECONDS": "0"}
    with hypercorn("examples.echo:app", tmp_path, env=env) as server:
        async with open_socket(server.url) as ws1, open_socket(server.url) as ws2:
            await echo_rtt(ws1, 0)
            await echo_rtt(ws2, 0)
            started = time.perf_counter()
            server.proc.send_signal(signal.SIGTERM)
            for ws in (ws1, ws2):
                await closed_with_1001(ws, GRACEFUL + 3)
            closed_after = time.perf_counter() - started
            await asyncio.to_thread(server.proc.wait, 10)
            exited_after = time.perf_counter() - started
        # The worker polls hypercorn's stop flag every 0.05 s; well under the graceful wait.
        assert closed_after < 1.0, closed_after
        assert exited_after < GRACEFUL, exited_after
        assert server.proc.returncode == 0
        assert "closed 2 WebSocket(s) with 1001" in server.log
        assert "does not fit" not in server.log
        assert "Traceback" not in server.log


SOCKETS = 30
DRAIN = 3.0


async def test_the_drain_spreads_the_closes_over_its_window_oldest_first(
    tmp_path: Path,
) -> None:
    env = {"QUARTDASH_DRAIN_SECONDS": str(DRAIN)}
    # A graceful timeout the drain fits in (drain + 1 s), so nothing is cut short.
    with hypercorn("examples.echo:app", tmp_path, env=env,
                   args=("--graceful-timeout", "6")) as server:
        async with contextlib.AsyncExitStack() as stack:
            sockets = await live_sockets(stack, server, SOCKETS)
            started = time.perf_counter()
            server.proc.send_signal(signal.SIGTERM)
            times = await asyncio.gather(
                *(closed_with_1001(ws, DRAIN + 10) for ws in sockets))
            await asyncio.to_thread(server.proc.wait, 10)
        offsets = [t - started for t in times]
        assert server.proc.returncode == 0
        # Spread: at once, all 30 would close within a few hundredths of a second.
        # The drain closes one or two per 0.1 s batch; on a loaded machine a stalled
        # loop may bunch a few batches, hence the generous bound: no 0.3 s holds more
        # than a third of the sockets, and the closes span most of the window.
        ordered = sorted(offsets)
        crowd = max(sum(1 for t in ordered if start <= t < start + 0.3) for start in ordered)
        assert crowd <= SOCKETS // 3, (crowd, ordered)
        assert ordered[-1] - ordered[0] >= DRAIN / 2, ordered
        assert ordered[-1] < DRAIN + 2.0, ordered
        # Oldest first: the first third opened closes before the last third.
        third = SOCKETS // 3
        assert max(offsets[:third]) < min(offsets[-third:]), offsets
        assert f"closed {SOCKETS} WebSocket(s) with 1001 over" in server.log
        assert "Traceback" not in server.log


async def test_a_drain_longer_than_the_graceful_timeout_is_cut_to_fit(tmp_path: Path) -> None:
    """The default drain (2 s) under the test servers' --graceful-timeout 2: a warning at
    start, and the drain shortened so every socket still gets its 1001 in time."""
    with hypercorn("examples.echo:app", tmp_path) as server:
        async with contextlib.AsyncExitStack() as stack:
            sockets = await live_sockets(stack, server, 10)
            started = time.perf_counter()
            server.proc.send_signal(signal.SIGTERM)
            times = await asyncio.gather(*(closed_with_1001(ws, GRACEFUL + 5) for ws in sockets))
            await asyncio.to_thread(server.proc.wait, 10)
        assert server.proc.returncode == 0
        # Cut to graceful - 1 s = 1 s: spread (not at once), and over before the timeout.
        assert max(times) - min(times) >= 0.3, times
        assert max(times) - started < GRACEFUL, times
        assert "drain_seconds=2 does not fit the server's graceful timeout (2 s)" in server.log
        assert "closed 10 WebSocket(s) with 1001 over" in server.log


async def test_under_uvicorn_the_drain_fits_quartdashs_hold_of_its_stop(
        tmp_path: Path) -> None:
    """Under uvicorn quartdash holds the server's stop while it drains, 10 s at most
    (``_compat/uvicorn.py``): a 12 s drain is cut to 9 s, with a warning at start; the
    default (2 s) fits, and the drain closes the sockets spread out, each with 1001."""
    env = {"QUARTDASH_DRAIN_SECONDS": "12"}
    with uvicorn("examples.echo:app", tmp_path, env=env) as server:
        await log_shows(server, "drain_seconds=12 does not fit the server's graceful "
                                "timeout (10 s): a stop will close the sockets over 9 s")
    with uvicorn("examples.echo:app", tmp_path) as server:
        async with contextlib.AsyncExitStack() as stack:
            sockets = await live_sockets(stack, server, 10)
            server.proc.send_signal(signal.SIGTERM)
            times = await asyncio.gather(*(closed_with_1001(ws, 15) for ws in sockets))
            await asyncio.to_thread(server.proc.wait, 15)
        assert max(times) - min(times) >= 0.5, times  # 2 s window: spread, not at once
        assert "does not fit" not in server.log
        assert "closed 10 WebSocket(s) with 1001 over" in server.log
