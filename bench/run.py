"""The benchmark: quartdash, stock Dash 4.4 on Quart and a bare Quart socket, one run.

    python -m bench.run [--rounds 3] [--rtt 1000] [--stream 5000] [--sockets 500]
                        [--baseline DIR]

quartdash is served twice, with metrics off (its default) and on
(``QUARTDASH_METRICS=public``, so the bench's scrape needs no credentials): a second
table gives every figure with metrics on over off, the cost of counting on the hot
path (the bar: a round trip no more than 5% slower). The scrape that ends the run
checks that the metrics-on server really counted.

``--baseline DIR`` adds another quartdash checkout (a git worktree of an earlier
commit, say) as one more server of the same run, and a column of this checkout's
figures over it: a change's before/after, measured side by side.

quartdash is also served by uvicorn and granian (one worker each, their defaults), and
a table gives each figure on every server over hypercorn's: which ASGI server to choose.

Each server is a real one on 127.0.0.1 (hypercorn unless named). Rounds are interleaved (every server is
measured once per round, in rotating order) and the table reports medians over rounds,
with ratios, because this machine's absolute speed swings between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

from quartdash.testing.servers import Server, hypercorn
from quartdash.testing.servers import serve as serve_on
from quartdash.testing.wsclient import (
    call,
    callback_request,
    echo_rtt,
    open_socket,
    post_slow,
    worst_rtt_while,
)

#: Name of quartdash's server with metrics on in the results.
METRICS_ON = "quartdash, metrics on"
#: quartdash under the other ASGI servers ("quartdash" itself is on hypercorn).
ON_UVICORN = "quartdash on uvicorn"
ON_GRANIAN = "quartdash on granian"
#: The ASGI server of each server of the run: hypercorn unless named here.
SERVED_BY = {ON_UVICORN: "uvicorn", ON_GRANIAN: "granian"}
TARGETS = {
    "quartdash": "examples.echo:app",
    METRICS_ON: "examples.echo:app",
    ON_UVICORN: "examples.echo:app",
    ON_GRANIAN: "examples.echo:app",
    "stock Dash": "bench.stock_echo:server",
    "bare Quart": "bench.bare:app",
}
# The bench is a tight loop, far beyond what a page sends, and its hundreds of sockets
# all come from 127.0.0.1: lift quartdash's rate limit and its per-address socket limit.
ENV = {"QUARTDASH_RATE_LIMIT": "1e9", "QUARTDASH_MAX_CONNECTIONS_PER_ADDRESS": "0"}
#: What a server's environment adds to ``ENV``. Each hypercorn counts in a metrics
#: directory of its own (``servers.hypercorn`` drops an inherited one).
EXTRA_ENV = {METRICS_ON: {"QUARTDASH_METRICS": "public"}}


def _rss(server: Server) -> int:
    proc = psutil.Process(server.proc.pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


def _cpu(server: Server) -> float:
    """CPU seconds the server's processes (hypercorn's and its workers') have run, every
    thread: from the scheduler's nanosecond counts on Linux, else psutil's ticks.

    What a change costs the server, apart from the wait behind the load generator and
    whatever else shares the machine, which swings the round trips of a busy machine
    by more than a few percent between rounds."""
    procs = [psutil.Process(server.proc.pid)]
    procs += procs[0].children(recursive=True)
    total = 0.0
    for proc in procs:
        try:
            tasks = list(Path(f"/proc/{proc.pid}/task").iterdir())
            total += sum(int((task / "schedstat").read_text().split()[0]) for task in tasks) / 1e9
        except (OSError, ValueError):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


async def rtt(server: Server, n: int) -> tuple[float, float, float]:
    """Round trip p50 and p99 (ms) and the server's CPU per round trip (µs)."""
    async with open_socket(server.url) as ws:
        for i in range(50):
            await echo_rtt(ws, i)
        cpu = _cpu(server)
        samples = sorted([await echo_rtt(ws, i) for i in range(n)])
        cpu = _cpu(server) - cpu
    return samples[len(samples) // 2] * 1e3, samples[int(len(samples) * 0.99)] * 1e3, cpu / n * 1e6


async def stream(server: Server, n: int) -> tuple[float, float]:
    """set_props per second to one client, and the server's CPU per set_props (µs)."""
    async with open_socket(server.url) as ws:
        cpu = _cpu(server)
        start = time.perf_counter()
        _response, before = await call(ws, callback_request("go", "done", "children", [("go", "n_clicks", n)]), timeout=120)
        elapsed = time.perf_counter() - start
        cpu = _cpu(server) - cpu
    got = [m for m in before if m.get("type") == "set_props"]
    assert len(got) == n, f"{len(got)} of {n} set_props arrived"
    return n / elapsed, cpu / n * 1e6


async def beside_sync(server: Server, transport: str) -> float:
    """Worst echo round trip on one socket while a 1 s sync callback runs elsewhere."""
    async with open_socket(server.url) as slow_ws, open_socket(server.url) as fast_ws:
        await echo_rtt(fast_ws, 0)
        if transport == "http":
            slow = asyncio.create_task(post_slow(server.url))
        else:
            slow = asyncio.create_task(call(slow_ws, callback_request("s", "slow-out", "children", [("slow", "n_clicks", 1)]), timeout=30))
        worst, _ = await worst_rtt_while(fast_ws, slow)
        await slow
    return worst * 1e3


async def idle_rss(server: Server, n: int) -> float:
    """Growth of the server's RSS per socket while ``n`` idle sockets are open."""
    before = _rss(server)
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(open_socket(server.url)) for _ in range(n)]
        for ws in sockets:  # every socket fully established on the server
            await ws.send('{"type":"heartbeat"}')
            await asyncio.wait_for(ws.recv(), 10)
        await asyncio.sleep(0.5)
        after = _rss(server)
    return (after - before) / n / 1024


async def fresh_idle_rss(name: str, tmp: Path, n: int) -> float:
    """``idle_rss`` on a server of its own: a server that has already served the other
    measures reuses memory it freed, and its per-socket growth is then noise (from
    -37 to +5 KB between rounds here). A fresh one, warmed by 50 sockets so code paths
    and pools exist, gives the first-touch cost of a socket, steady within 2 KB."""
    with serve(name, tmp) as server:
        await idle_rss(server, 50)
        return await idle_rss(server, n)


#: Name of the ``--baseline`` checkout's server in the results.
BASELINE = "quartdash baseline"
#: Where each server's code is imported from: this checkout unless set (``--baseline``).
SOURCES: dict[str, Path] = {}


def serve(name: str, tmp: Path) -> contextlib.AbstractContextManager[Server]:
    """``name``'s server, importing its code from its own source tree if it has one."""
    source = SOURCES.get(name)
    env = {**ENV, **EXTRA_ENV.get(name, {})}
    if name in SERVED_BY:
        return serve_on(SERVED_BY[name], TARGETS[name], tmp, env=env)
    if source is None:
        return hypercorn(TARGETS[name], tmp, env=env)
    return hypercorn(TARGETS[name], tmp, env={**env, "PYTHONPATH": str(source)}, cwd=source)


def counted_callbacks(server: Server) -> float:
    """The callbacks the server's scrape reports: without them the metrics-on figures
    would compare two servers with metrics off."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(server.url + "/_quartdash/metrics", timeout=30) as answer:
        families = text_string_to_metric_families(answer.read().decode())
    return sum(sample.value for family in families if family.name == "quartdash_callbacks"
               for sample in family.samples if sample.name == "quartdash_callbacks_total")


@contextlib.contextmanager
def servers(tmp: Path) -> Iterator[dict[str, Server]]:
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(serve(name, tmp)) for name in TARGETS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rtt", type=int, default=1000, help="round trips per measure")
    parser.add_argument("--stream", type=int, default=5000, help="set_props per measure")
    parser.add_argument("--sockets", type=int, default=500, help="idle sockets for RSS")
    parser.add_argument("--baseline", type=Path, help="another quartdash checkout to compare")
    args = parser.parse_args(argv)
    if args.baseline is not None:
        if not (args.baseline / "quartdash" / "__init__.py").is_file():
            parser.error(f"{args.baseline} holds no quartdash package")
        TARGETS[BASELINE] = TARGETS["quartdash"]
        SOURCES[BASELINE] = args.baseline.resolve()
    print(table(asyncio.run(measure(args))))


async def measure(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {name: {} for name in TARGETS}
    with tempfile.TemporaryDirectory() as tmp, servers(Path(tmp)) as running:
        names = list(TARGETS)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                server, out = running[name], results[name]
                p50, p99, cpu = await rtt(server, args.rtt)
                out.setdefault("rtt_p50", []).append(p50)
                out.setdefault("rtt_p99", []).append(p99)
                out.setdefault("rtt_cpu", []).append(cpu)
                rate, cpu = await stream(server, args.stream)
                out.setdefault("set_props", []).append(rate)
                out.setdefault("set_props_cpu", []).append(cpu)
                if name != "bare Quart":  # no callbacks there, so no sync callback
                    for transport in ("http", "websocket"):
                        out.setdefault(f"sync_{transport}", []).append(await beside_sync(server, transport))
                out.setdefault("rss", []).append(await fresh_idle_rss(name, Path(tmp), args.sockets))
        counted = await asyncio.to_thread(counted_callbacks, running[METRICS_ON])
        assert counted >= args.rounds * args.rtt, f"metrics on counted {counted} callbacks"
    return results


ROWS: list[tuple[str, str, str, Callable[[float], str]]] = [
    ("rtt_p50", "callback round trip p50", "ms", lambda v: f"{v:.3f}"),
    ("rtt_p99", "callback round trip p99", "ms", lambda v: f"{v:.3f}"),
    ("rtt_cpu", "server CPU per round trip", "µs", lambda v: f"{v:.1f}"),
    ("set_props", "set_props streamed to one client", "/s", lambda v: f"{v:,.0f}"),
    ("set_props_cpu", "server CPU per set_props streamed", "µs", lambda v: f"{v:.2f}"),
    ("sync_http", "worst round trip beside a 1 s sync callback on HTTP", "ms", lambda v: f"{v:.1f}"),
    ("sync_websocket", "worst round trip beside a 1 s sync callback on WebSocket", "ms", lambda v: f"{v:.1f}"),
    ("rss", "RSS per idle socket", "KB", lambda v: f"{v:.1f}"),
]


def table(results: dict[str, dict[str, list[float]]]) -> str:
    med: dict[str, dict[str, float]] = {
        name: {k: statistics.median(v) for k, v in metrics.items()} for name, metrics in results.items()
    }
    qd, stock, bare = med["quartdash"], med["stock Dash"], med["bare Quart"]

    def ratio(a: dict[str, float], b: dict[str, float], key: str) -> str:
        return f"{a[key] / b[key]:.2f}x" if key in a and key in b and b[key] else "n/a"

    lines = [
        "| metric | quartdash | stock Dash 4.4 | bare Quart | quartdash / stock | quartdash / bare |",
        "|---|---|---|---|---|---|",
    ]
    for key, label, unit, fmt in ROWS:
        cells = [fmt(m[key]) if key in m else "n/a" for m in (qd, stock, bare)]
        lines.append(f"| {label} ({unit}) | " + " | ".join(cells) + f" | {ratio(qd, stock, key)} | {ratio(qd, bare, key)} |")
    if BASELINE in med:
        base = med[BASELINE]
        lines += ["", f"| metric | quartdash | {BASELINE} | quartdash / baseline |", "|---|---|---|---|"]
        for key, label, unit, fmt in ROWS:
            cells = [fmt(m[key]) if key in m else "n/a" for m in (qd, base)]
            lines.append(f"| {label} ({unit}) | " + " | ".join(cells) + f" | {ratio(qd, base, key)} |")
    hyper, uvi, gran = med["quartdash"], med[ON_UVICORN], med[ON_GRANIAN]
    lines += ["", "| metric | hypercorn | uvicorn | granian | uvicorn / hypercorn "
              "| granian / hypercorn |", "|---|---|---|---|---|---|"]
    for key, label, unit, fmt in ROWS:
        cells = [fmt(m[key]) if key in m else "n/a" for m in (hyper, uvi, gran)]
        lines.append(f"| {label} ({unit}) | " + " | ".join(cells)
                     + f" | {ratio(uvi, hyper, key)} | {ratio(gran, hyper, key)} |")
    on = med[METRICS_ON]
    lines += ["", f"| metric | quartdash | {METRICS_ON} | metrics on / off |", "|---|---|---|---|"]
    for key, label, unit, fmt in ROWS:
        cells = [fmt(m[key]) if key in m else "n/a" for m in (qd, on)]
        lines.append(f"| {label} ({unit}) | " + " | ".join(cells) + f" | {ratio(on, qd, key)} |")
    # Paired by round, as the rounds interleave the two: the machine's drift between
    # rounds cancels out of each ratio.
    lines.append("")
    for key in ("rtt_p50", "rtt_cpu", "set_props", "set_props_cpu"):
        paired = [f"{a / b:.3f}x" for a, b in zip(results[METRICS_ON][key], results["quartdash"][key], strict=True)]
        lines.append(f"{key}, metrics on / off, round by round: {' '.join(paired)}")
    rounds = len(next(iter(results["quartdash"].values())))
    lines.append(f"\nmedians of {rounds} interleaved rounds")
    return "\n".join(lines)



if __name__ == "__main__":
    main()
