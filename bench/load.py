"""Load generator and soak test: many sockets, some streaming, on one server process.

    python -m bench.load [--sockets 2000] [--active 500] [--rate 10] [--seconds 30]
    python -m bench.load --soak 300        # minutes of it, sampling memory and tasks

One hypercorn worker serves ``bench.load_app``; this process opens ``--sockets``
WebSockets, and ``--active`` of them start a stream of set_props at ``--rate`` Hz.
Each update carries the server's clock; the delay to its arrival here is the
end-to-end latency (both processes share this machine's clock). Reported: latency
percentiles, updates received against expected, sockets dropped, and the server's
RSS and asyncio task count (``/_tasks`` of the load app) sampled every few seconds (the soak shows they stay flat).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from quartdash.testing.servers import Server, hypercorn
from quartdash.testing.wsclient import callback_request, open_socket


async def _client(server: Server, rate: float | None, latencies: list[float],
                  counts: list[int], stop: asyncio.Event, dropped: list[int]) -> None:
    try:
        async with open_socket(server.url, compression=None) as ws:
            await ws.send('{"type":"heartbeat"}')
            await asyncio.wait_for(ws.recv(), 60)
            if rate is None:
                await stop.wait()
                return
            await ws.send(callback_request("t", "end", "children", [("tick", "n_clicks", rate)]))
            while not stop.is_set():
                try:
                    frame = await asyncio.wait_for(ws.recv(), 5)
                except TimeoutError:
                    continue
                now = time.time()
                data = json.loads(frame)
                for message in data if isinstance(data, list) else [data]:
                    if message.get("type") == "set_props":
                        latencies.append(now - message["payload"]["props"]["children"])
                        counts[0] += 1
    except Exception:
        dropped[0] += 1


def _server_stats(server: Server) -> tuple[float, int]:
    """The server's RSS (MB) and its asyncio task count."""
    proc = psutil.Process(server.proc.pid)
    rss = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
    with urllib.request.urlopen(server.url + "/_tasks", timeout=10) as response:
        tasks = int(json.loads(response.read())["tasks"])
    return rss / 2**20, tasks


async def run(args: argparse.Namespace) -> dict[str, Any]:
    env = {"QUARTDASH_RATE_LIMIT": "1e9", "QUARTDASH_MAX_CONNECTIONS_PER_ADDRESS": "0"}
    with tempfile.TemporaryDirectory() as tmp, hypercorn("bench.load_app:app", Path(tmp), env=env) as server:
        stop = asyncio.Event()
        latencies: list[float] = []
        counts, dropped = [0], [0]
        tasks = []
        for i in range(args.sockets):
            rate = args.rate if i < args.active else None
            tasks.append(asyncio.create_task(_client(server, rate, latencies, counts, stop, dropped)))
            if i % 100 == 99:
                await asyncio.sleep(0.05)  # open in waves, as pages would
        await asyncio.sleep(3)  # every stream running
        latencies.clear()
        counts[0] = 0
        samples = []
        start = time.monotonic()
        duration = args.soak * 60 if args.soak else args.seconds
        while time.monotonic() - start < duration:
            await asyncio.sleep(min(5.0, duration))
            rss, ntasks = await asyncio.to_thread(_server_stats, server)
            samples.append((round(time.monotonic() - start), round(rss, 1), ntasks))
            if args.soak:
                print(f"t={samples[-1][0]} s  server RSS {rss:.1f} MB  tasks {ntasks}  "
                      f"updates {counts[0]}", flush=True)
        elapsed = time.monotonic() - start
        stop.set()
        await asyncio.gather(*tasks)
        lat = sorted(latencies)
        return {
            "sockets": args.sockets, "active": args.active, "rate_hz": args.rate,
            "seconds": round(elapsed), "updates": counts[0],
            "expected": round(args.active * args.rate * elapsed),
            "p50_ms": round(lat[len(lat) // 2] * 1e3, 1) if lat else None,
            "p99_ms": round(lat[int(len(lat) * 0.99)] * 1e3, 1) if lat else None,
            "max_ms": round(lat[-1] * 1e3, 1) if lat else None,
            "dropped": dropped[0], "rss_mb": [s[1] for s in samples],
            "tasks": [s[2] for s in samples],
            "rss_growth_mb": round(samples[-1][1] - samples[0][1], 1) if samples else None,
            "mean_rss_mb": round(statistics.mean(s[1] for s in samples), 1) if samples else None,
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--active", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--soak", type=float, default=0.0, help="minutes; samples every 5 s")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        print(json.dumps(asyncio.run(run(args)), indent=1))


if __name__ == "__main__":
    main()
