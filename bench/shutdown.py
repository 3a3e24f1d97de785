"""How long hypercorn takes to stop with sockets open: SIGTERM to its main process (as
Docker and Kubernetes send it), then the time to the first close frame a client gets,
to every socket closed, and to the process's exit.

    python -m bench.shutdown [--sockets 20] [--runs 5] [--workers 1 2] [--graceful 3]

Each run serves ``examples/echo.py`` on a fresh hypercorn (this interpreter, hypercorn's
own defaults but for ``--graceful-timeout``, 3 s unless told), opens the sockets (each
answers one echo first, so it is admitted), sends SIGTERM and waits; every wait has a
timeout. It prints each run, then the median and range per worker count.

What the phases measure: up to "all closed" is quartdash's work (hypercorn's stop
flag seen, every socket closed with 1001 and answered, ``_compat/hypercorn.py``);
from there to "exit" it is the processes' own teardown (each worker's interpreter
finalisation, then hypercorn's main process joining them), which a busy machine
stretches. A sync callback still running in a thread holds its worker's exit until
it returns (Python joins the thread pool at exit); this bench runs none.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from quartdash.testing.servers import hypercorn
from quartdash.testing.wsclient import echo_rtt, open_socket

TARGET = "examples.echo:app"
# All the sockets come from 127.0.0.1: lift the per-address socket limit.
# Every socket at once (no drain), which is what this bench has always measured: how
# fast a stopping server closes them all.
ENV = {"QUARTDASH_MAX_CONNECTIONS_PER_ADDRESS": "0", "QUARTDASH_DRAIN_SECONDS": "0"}
#: Bound on every wait of one run (the graceful timeout is added).
WAIT = 30.0


async def _closed(ws: Any, started: float) -> tuple[float, int | None]:
    """When ``ws`` closed (seconds after ``started``) and the close code it got (None:
    the connection was dropped without a close frame)."""
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as closed:
        return time.perf_counter() - started, closed.rcvd.code if closed.rcvd else None


async def one_run(workers: int, sockets: int, graceful: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, hypercorn(
        TARGET, Path(tmp), workers=workers, env=ENV,
        args=("--graceful-timeout", f"{graceful:g}"),
    ) as server:
        clients = [await open_socket(server.url).__aenter__() for _ in range(sockets)]
        try:
            for i, ws in enumerate(clients):
                await echo_rtt(ws, i)
            started = time.perf_counter()
            server.proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(WAIT + graceful):
                closes = await asyncio.gather(*(_closed(ws, started) for ws in clients))
                await asyncio.to_thread(server.proc.wait, WAIT + graceful)
            exited = time.perf_counter() - started
        finally:
            for ws in clients:
                ws.transport.abort()
        codes = sorted({code for _, code in closes}, key=lambda c: -1 if c is None else c)
        return {
            "first_close": min(t for t, _ in closes),
            "all_closed": max(t for t, _ in closes),
            "exit": exited,
            "codes": codes,
            "returncode": server.proc.returncode,
        }


def _summary(values: list[float]) -> str:
    return (f"median {statistics.median(values):.2f} s "
            f"(range {min(values):.2f}-{max(values):.2f})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--graceful", type=float, default=3.0,
                        help="hypercorn's --graceful-timeout (its default: 3)")
    args = parser.parse_args()
    results: dict[int, list[dict[str, Any]]] = {w: [] for w in args.workers}
    for n in range(args.runs):  # interleaved: the machine's load swings between runs
        for workers in args.workers:
            run = await one_run(workers, args.sockets, args.graceful)
            results[workers].append(run)
            print(f"run {n + 1} -w {workers}: first close {run['first_close']:.3f} s, "
                  f"all closed {run['all_closed']:.3f} s, exit {run['exit']:.3f} s, "
                  f"codes {run['codes']}, exit code {run['returncode']}", flush=True)
    print(f"\n{args.sockets} sockets, --graceful-timeout {args.graceful:g}, {args.runs} runs")
    for workers, runs in results.items():
        print(f"-w {workers}: first close {_summary([r['first_close'] for r in runs])}; "
              f"all closed {_summary([r['all_closed'] for r in runs])}; "
              f"exit {_summary([r['exit'] for r in runs])}")


if __name__ == "__main__":
    asyncio.run(main())
