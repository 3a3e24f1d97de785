"""What a callback's span costs: ``runner.execute`` timed with OpenTelemetry absent,
installed with no SDK (the API's no-op provider), and with the SDK recording every span.

    python -m bench.tracing [--calls 20000] [--rounds 5] [--rtt 1000]

Each mode runs in a process of its own (the tracer is chosen once, at import):

* absent: opentelemetry hidden from the import system, so ``tracing.tracer`` is None;
* api: opentelemetry-api importable, no tracer provider set;
* sdk: the SDK's ``TracerProvider`` (default sampler: every span recorded) with a
  ``BatchSpanProcessor`` whose exporter drops what it gets (the export's own cost, on
  its own thread, depends on where the spans go);
* sdk-unsampled: the SDK with a sampler that records none (``ALWAYS_OFF``).

What is timed: ``execute`` of an async callback that returns at once (the whole
callback is the span's overhead), and of a sync one (its thread hop included), as each
transport runs them, inside a running loop. Each mode reports the median over rounds of
the time per call; the difference to ``absent`` is the span's cost.

Then the same modes end to end (``--rtt``, 0 to skip): the echo example served by a
real hypercorn per mode (``bench.tracing_app``), the WebSocket round trip of its async
echo callback over ``--rtt`` calls per round, rounds interleaved across the servers,
median of the rounds' p50s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from quartdash.testing.servers import Server, hypercorn
from quartdash.testing.wsclient import echo_rtt, open_socket

MODES = ("absent", "api", "sdk", "sdk-unsampled")
ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import asyncio, importlib.machinery, json, sys, time
from concurrent.futures import ThreadPoolExecutor

mode, calls, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if mode == "absent":
    class Without(importlib.machinery.PathFinder):
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name.partition(".")[0] == "opentelemetry":
                return None
            return super().find_spec(name, path, target)
    sys.meta_path[sys.meta_path.index(importlib.machinery.PathFinder)] = Without
elif mode.startswith("sdk"):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

    class Drop(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    provider = TracerProvider(sampler=ALWAYS_OFF if mode == "sdk-unsampled" else ALWAYS_ON)
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)

from quartdash.callbacks.runner import Prepared, execute
from quartdash.callbacks.threads import FairPool
from quartdash.observe import tracing

async def echo():
    return "x"

def echo_sync():
    return "x"

async def main():
    pool = FairPool(ThreadPoolExecutor(4, thread_name_prefix="bench"), 4)
    results = {"tracer": type(tracing.tracer).__name__}
    for name, prepared, n in (("async", Prepared(echo, True, "out.children"), calls),
                              ("sync", Prepared(echo_sync, False, "out.children"), calls // 4)):
        for _ in range(n // 10):  # warm up
            await execute(prepared, pool, ("c",), "websocket")
        per_call = []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(n):
                await execute(prepared, pool, ("c",), "websocket")
            per_call.append((time.perf_counter() - started) / n * 1e6)
        results[name] = per_call
    print(json.dumps(results))

asyncio.run(main())
"""


def run(mode: str, calls: int, rounds: int) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(calls), str(rounds)],
                          capture_output=True, text=True, check=True, cwd=ROOT, timeout=600)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def _p50(server: Server, n: int) -> float:
    """Median round trip of ``n`` echo calls on one socket, in µs."""
    async with open_socket(server.url) as ws:
        for i in range(20):  # warm up
            await echo_rtt(ws, i)
        return statistics.median([await echo_rtt(ws, i) for i in range(n)]) * 1e6


def round_trips(n: int, rounds: int) -> dict[str, float]:
    """Median over rounds of each mode's p50 round trip (µs)."""
    modes = ("absent", "api", "sdk")
    seen: dict[str, list[float]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        servers = {mode: stack.enter_context(hypercorn(
            "bench.tracing_app:app", Path(tmp), env={"BENCH_TRACING": mode}, cwd=ROOT))
            for mode in modes}
        for turn in range(rounds):
            order = modes[turn % 3:] + modes[:turn % 3]
            for mode in order:
                seen[mode].append(asyncio.run(_p50(servers[mode], n)))
    return {mode: statistics.median(values) for mode, values in seen.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rtt", type=int, default=1000)
    args = parser.parse_args()
    rows = {mode: run(mode, args.calls, args.rounds) for mode in MODES}
    base = {kind: statistics.median(rows["absent"][kind]) for kind in ("async", "sync")}  # type: ignore[arg-type]
    print(f"{'mode':<15}{'tracer':<18}{'async µs/call':>15}{'+µs':>8}"
          f"{'sync µs/call':>15}{'+µs':>8}")
    for mode, row in rows.items():
        cells = []
        for kind in ("async", "sync"):
            median = statistics.median(row[kind])  # type: ignore[arg-type]
            cells += [f"{median:>15.1f}", f"{median - base[kind]:>+8.1f}"]
        print(f"{mode:<15}{row['tracer']!s:<18}{''.join(cells)}")
    if args.rtt:
        p50 = round_trips(args.rtt, args.rounds)
        print(f"\n{'mode':<15}{'WebSocket round trip p50 µs':>28}{'vs absent':>11}")
        for mode, value in p50.items():
            print(f"{mode:<15}{value:>28.0f}{value / p50['absent']:>10.2f}x")


if __name__ == "__main__":
    main()
