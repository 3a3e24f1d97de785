"""The reconnect curve of a rolling restart: how many pages reconnect per 100 ms while the
two workers of a deployment are restarted one after the other, with the drain off (every
socket closed at once, pages back after the old 0.5-1 s backoff) and on (closes spread
over ``drain_seconds``, pages back after the worker's 0.25-3 s spread after a 1001).

    python -m bench.drain [--pages 1000] [--drain 2] [--modes before after]

The deployment: ``examples/echo.py`` on two hypercorn servers of one worker each (as
``hypercorn -w 2``, but each can be restarted alone: hypercorn restarts all its workers
on SIGHUP) sharing a real redis-server as backplane, behind a small TCP balancer (round
robin, skipping a server that refuses the connection, as a load balancer's health check
would), run in a process of its own. The pages are quartdash's worker's protocol done in
Python: the socket asks for a resumable connection (``?quartdash=1``), says hello, and
counts as reconnected at the welcome (or refused, at a ``quartdash_close`` instead);
after a close it waits as ``renderer_patch/src/policy.js`` says (``before``: the old
equal-jitter backoff for every code; ``after``: the 1001 spread, then the backoff if that
attempt fails).

A rolling restart: take server A out of the balancer's rotation, SIGTERM it (it drains),
start it again once it exited and put it back, wait for every page to be open again,
then the same for B. Counted from each server's SIGTERM, in 100 ms bins: the attempts the
pages begin (the load the drain and the jitter shape) and the welcomes (what the servers
managed to admit); the peak bin, the peak second and the curves are printed, and the
sockets refused at admission. Timings are the client's: the bench process runs 1,000
sockets on the same 2 cores as the servers, so a bin can absorb a late neighbour.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Origin

from quartdash.testing.servers import Server, free_port, hypercorn, redis_server, wait_tcp

TARGET = "examples.echo:app"
GRACEFUL = 4
#: Each bin of the curve, in seconds.
BIN = 0.1
#: Bound on every wait for the pages to be back.
WAIT = 60.0


# --- the browser's policy (renderer_patch/src/policy.js), in Python ----------------------
def backoff(attempt: int, base: float = 1.0, cap: float = 30.0) -> float:
    """policy.js ``backoff``: equal jitter over [ceiling/2, ceiling]."""
    ceiling = min(cap, base * 2.0 ** min(max(attempt, 0), 20))
    return ceiling / 2 + random.random() * ceiling / 2


def going_away_delay(attempt: int, low: float = 0.25, high: float = 3.0) -> float:
    """policy.js ``goingAwayDelay``: uniform over [low, high], at least the backoff
    after failed attempts."""
    spread = low + random.random() * (high - low)
    return spread if attempt <= 0 else max(spread, backoff(attempt))


def delay_after(code: int, attempt: int, spread: bool) -> float:
    if spread and code in (1001, 1012):
        return going_away_delay(attempt)
    return backoff(attempt)


# --- the balancer (its own process) ----------------------------------------------------
async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError, ConnectionError, RuntimeError):
        writer.close()


async def balance(listen: int, control: Path, backends: list[int]) -> None:
    """Round robin over ``backends``, skipping one taken out of rotation (a file
    ``down-PORT`` in ``control``); a refused connection tries the next one."""
    turn = itertools.count()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = next(turn)
        for i in range(len(backends)):
            port = backends[(first + i) % len(backends)]
            if (control / f"down-{port}").exists():
                continue
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen, backlog=4096)
    async with server:
        await server.serve_forever()


# --- the pages --------------------------------------------------------------------------
@dataclass
class Pages:
    url: str
    origin: str
    spread: bool
    #: When each welcome came (perf_counter).
    welcomes: list[float] = field(default_factory=list)
    #: When each attempt to connect began: the load the pages offer.
    attempts: list[float] = field(default_factory=list)
    #: When a socket was refused at admission instead (the server's notice).
    refusals: list[float] = field(default_factory=list)
    codes: Counter[int] = field(default_factory=Counter)
    open: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def state(self) -> str:
        return (f"{self.open} open, {len(self.welcomes)} welcomes, "
                f"{len(self.refusals)} refused, closes by code "
                f"{dict(self.codes)}")

    async def page(self) -> None:
        attempt = 0
        hello = json.dumps({"type": "quartdash_hello", "v": 1, "resume": None, "received": 0})
        while not self.done.is_set():
            code = 1006
            opened = 0.0
            self.attempts.append(time.perf_counter())
            try:
                async with connect(self.url, origin=Origin(self.origin), open_timeout=10,
                                   ping_interval=None, max_size=None) as ws:
                    await ws.send(hello)
                    async with asyncio.timeout(10):
                        welcome = json.loads(await ws.recv())
                    if welcome.get("type") == "quartdash_close":
                        # Refused at admission (1013 when the backplane is swamped):
                        # the worker retries with backoff.
                        self.refusals.append(time.perf_counter())
                        code = int(welcome["code"])
                        raise ConnectionRefusedError(code)
                    assert welcome.get("type") == "quartdash_welcome", welcome
                    self.welcomes.append(time.perf_counter())
                    opened = time.perf_counter()
                    self.open += 1
                    try:
                        code = await self._until_closed(ws)
                    finally:
                        self.open -= 1
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed, ValueError):
                pass
            self.codes[code] += 1
            if opened and time.perf_counter() - opened >= 5.0:
                attempt = 0  # policy.js stableAfter
            if self.done.is_set():
                return
            await asyncio.sleep(delay_after(code, attempt, self.spread))
            attempt += 1

    async def _until_closed(self, ws: ClientConnection) -> int:
        announced = None
        try:
            while True:
                message = json.loads(await ws.recv())
                if isinstance(message, dict) and message.get("type") == "quartdash_close":
                    announced = int(message["code"])
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else 1006
            # policy.js effectiveClose: the notice wins over a lost close frame.
            return announced if announced is not None and code in (1005, 1006) else code


# --- one rolling restart -----------------------------------------------------------------
def _serve(port: int, tmp: Path, env: dict[str, str]) -> AbstractContextManager[Server]:
    return hypercorn(TARGET, tmp, port=port, env=env,
                     args=("--graceful-timeout", str(GRACEFUL)))


@contextlib.contextmanager
def _balancer(listen: int, control: Path, backends: list[int]
              ) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.drain", "--balance", str(listen),
                             str(control), *map(str, backends)], start_new_session=True)
    try:
        wait_tcp(listen, proc=proc)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


async def _until(condition: Callable[[], bool], what: Callable[[], str]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what())
        await asyncio.sleep(0.05)


#: Attempts begun, welcomes, refusals: seconds after the server's SIGTERM.
Curve = tuple[list[float], list[float], list[float]]


async def rolling_restart(n_pages: int, drain: float, spread: bool, tmp: Path
                          ) -> tuple[Curve, Curve]:
    """Per server's turn, the welcome times (from its SIGTERM) of the pages that came
    back, and those of the sockets refused at admission meanwhile.
    Servers start and stop in threads: the pages' loop must not stall meanwhile."""
    with redis_server(tmp) as redis:
        env = {"QUARTDASH_BACKPLANE": redis.url, "QUARTDASH_DRAIN_SECONDS": str(drain),
               "QUARTDASH_MAX_CONNECTIONS_PER_ADDRESS": "0"}
        ports = [free_port(), free_port()]
        listen = free_port()
        live: dict[int, tuple[AbstractContextManager[Server], Server]] = {}

        async def start(port: int) -> None:
            cm = _serve(port, tmp, env)
            live[port] = (cm, await asyncio.to_thread(cm.__enter__))
            (tmp / f"down-{port}").unlink(missing_ok=True)

        async def stop(port: int) -> None:
            cm, server = live.pop(port)
            # Out of the balancer's rotation first, as an orchestrator takes an instance
            # out of its load balancer before stopping it: hypercorn's main process keeps
            # the listening socket open until it exits, so the kernel would still accept
            # connections nobody serves.
            (tmp / f"down-{port}").touch()
            # SIGTERM to hypercorn's main process only, as an orchestrator sends it.
            server.proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(server.proc.wait, 30)
            await asyncio.to_thread(cm.__exit__, None, None, None)

        with _balancer(listen, tmp, ports):
            try:
                for port in ports:
                    await start(port)
                base = f"http://127.0.0.1:{listen}"
                pages = Pages(base.replace("http://", "ws://")
                              + "/_dash-ws-callback?quartdash=1", base, spread)
                tasks = []
                for _ in range(n_pages):
                    tasks.append(asyncio.create_task(pages.page()))
                    await asyncio.sleep(0.002)
                await _until(lambda: pages.open == n_pages, pages.state)
                curves = []
                for port in ports:
                    await asyncio.sleep(1.0)
                    before = len(pages.welcomes)
                    started = time.perf_counter()
                    await stop(port)
                    await start(port)
                    # The server exited: its pages all had their close; wait for them.
                    await _until(lambda: pages.open == n_pages, pages.state)
                    curves.append(([t - started for t in pages.attempts if t >= started],
                                   [t - started for t in pages.welcomes[before:]],
                                   [t - started for t in pages.refusals if t >= started]))
                pages.done.set()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                for port in list(live):
                    cm, _ = live.pop(port)
                    await asyncio.to_thread(cm.__exit__, None, None, None)
        return curves[0], curves[1]


def _curve(label: str, times: list[float], n_pages: int) -> None:
    bins = Counter(int(t / BIN) for t in times)
    seconds = Counter(int(t) for t in times)
    last = max(times)
    peak_bin = max(bins.values())
    print(f"    {label}: {len(times)}, {min(times):.2f} to {last:.2f} s after SIGTERM; peak "
          f"{peak_bin} per 100 ms ({100 * peak_bin / n_pages:.1f} % of all pages), "
          f"{max(seconds.values())} per second")
    print("      per second: " + " ".join(f"{s}s:{seconds.get(s, 0)}"
                                           for s in range(int(last) + 1)))
    print("      per 100 ms: " + " ".join(str(bins.get(i, 0))
                                           for i in range(int(last / BIN) + 1)))


def report(name: str, curve: Curve, n_pages: int) -> None:
    attempts, welcomes, refused = curve
    print(f"  {name}: {len(refused)} sockets refused at admission (1013)")
    _curve("attempts begun (the load the pages offer)", attempts, n_pages)
    _curve("welcomed (reconnected)", welcomes, n_pages)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--drain", type=float, default=2.0)
    parser.add_argument("--modes", nargs="+", default=["before", "after"],
                        choices=["before", "after"])
    args = parser.parse_args()
    for mode in args.modes:
        after = mode == "after"
        drain = args.drain if after else 0.0
        with tempfile.TemporaryDirectory() as tmp:
            a, b = await rolling_restart(args.pages, drain, after, Path(tmp))
        print(f"{mode}: drain_seconds={drain:g}, browser "
              f"{'0.25-3 s spread after 1001' if after else '0.5-1 s backoff'}; "
              f"{args.pages} pages, 2 servers restarted one after the other")
        report("server A", a, args.pages)
        report("server B", b, args.pages)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--balance":
        asyncio.run(balance(int(sys.argv[2]), Path(sys.argv[3]),
                            [int(p) for p in sys.argv[4:]]))
    else:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        asyncio.run(main())
