"""A real hypercorn told to stop (SIGTERM to its main process, as an orchestrator does)
closes every socket with 1001 at once, announced, and exits without waiting out its
graceful timeout."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from quartdash import CloseCode
from quartdash.testing.servers import hypercorn
from quartdash.testing.wsclient import echo_rtt, open_socket

GRACEFUL = 2.0  # quartdash.testing.servers starts hypercorn with --graceful-timeout 2


async def test_server_stop_closes_sockets_with_1001_at_once(tmp_path: Path) -> None:
    with hypercorn("examples.echo:app", tmp_path) as server:
        async with open_socket(server.url) as ws1, open_socket(server.url) as ws2:
            await echo_rtt(ws1, 0)
            await echo_rtt(ws2, 0)
            started = time.perf_counter()
            server.proc.send_signal(signal.SIGTERM)
            for ws in (ws1, ws2):
                seen: list[str] = []
                try:
                    async with asyncio.timeout(GRACEFUL + 3):
                        while True:
                            seen.append(str(await ws.recv()))
                except ConnectionClosed as closed:
                    assert closed.rcvd is not None, "a close frame, not a dropped connection"
                    assert closed.rcvd.code == CloseCode.GOING_AWAY
                notice = json.loads(seen[-1])
                assert notice == {"type": "quartdash_close", "v": 1, "code": 1001,
                                  "reason": "server restarting"}
            closed_after = time.perf_counter() - started
            await asyncio.to_thread(server.proc.wait, 10)
            exited_after = time.perf_counter() - started
        # The worker polls hypercorn's stop flag every 0.1 s; well under the graceful wait.
        assert closed_after < 1.0, closed_after
        assert exited_after < GRACEFUL, exited_after
        assert server.proc.returncode == 0
        assert "closed 2 WebSocket(s) with 1001" in server.log
        assert "Traceback" not in server.log
