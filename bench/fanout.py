"""Fan-out benchmark: one publish to N subscribers, against one loop per viewer, one run.

    python -m bench.fanout [--subscribers 100 1000 2000 5000 10000] [--rate 10]
                           [--seconds 10] [--clients 3] [--modes push per-viewer]
                           [--per-viewer-up-to 2000]
                           [--reply-timeout 1.0] [--json PATH]
    python -m bench.fanout --quick      # a few seconds: small N, short windows

Everything is real: ``hypercorn -w 2`` serves ``bench.fanout_app`` with a
redis-server backplane (``QUARTDASH_BACKPLANE=redis://...``), and for each N, in the
same run and on the same server:

* push: N sockets each subscribe their tab to ``prices`` (one callback request), and
  one publisher, a process of its own with only the Redis URL
  (``quartdash.Publisher``), pushes a ~1 KB update at ``--rate`` Hz.
* per viewer (today's way): N sockets each start the page's persistent callback, which
  computes the same update with the same function at the same rate and ``set_props``
  it to its own socket.

Each update carries its number (``seq``, the same for every socket) and the time it
was due. Measured over a window of ``--seconds`` in steady state (after a warm-up):

* delivered / expected: every update due in the window, on every socket; a socket
  that gets an update older than one it already had counts an order error;
* latency to the last subscriber: for each update, the largest delay from its due time
  to its arrival over all the sockets, then p50 and p99 over the updates (all the
  processes share this machine's clock);
* server CPU per delivered update: utime + stime of hypercorn's worker processes
  (``/proc/<pid>/stat``) over the window, over the updates delivered in it; and the
  per-viewer / push ratio of it;
* the load generator's own CPU, per process: near a whole core, it is the limit, and
  the table says so; and the whole machine's (``/proc/stat``): at 90% of its cores busy
  the machine is the limit, which the table says too (the server, the load generator,
  the publisher and Redis share its cores).

And once, alone: the CPU of one ``send`` of a 1.1 KB frame to a loopback socket, the
kernel's part of every delivery, which no server goes below.

Before that, on the idle machine: a push from a route of one process (``POST
/bench/push`` on a one-worker server A) to a subscriber of another (a one-worker
server B on the same Redis), median and p99 over ``--cross`` pushes.

The publisher awaits each push, which returns once every worker has answered how many
sockets it queued the push for (``Publisher(reply_timeout=)``, 1 s by default); a push
slower than a period makes it skip to the current update, and the skipped ones count as
not delivered. ``--reply-timeout 0.02`` stops waiting for those answers: the delivery
alone then sets the pace.

Sockets open, start and close in waves (``--parallel``, ``--start-parallel``), as a
crowd of pages does, and between measures the bench waits until the server is idle and
every worker has its backplane again. Sockets the server closes are counted, with
their close codes and reasons, in the JSON.

The load generator is lean, as 10,000 sockets at 10 Hz are 100,000 frames a second:
``--clients`` processes, each an asyncio loop of raw sockets (the HTTP upgrade, a
minimal parser of the server's unmasked frames, the one masked frame a client sends,
RFC 6455), no ``websockets`` library. The sockets are plain Dash clients (no
``?quartdash=1``, so no hello and no resume).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import re
import resource
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from quartdash.testing.servers import Server, hypercorn, redis_server
from quartdash.testing.wsclient import callback_request, messages, open_socket

TARGET = "bench.fanout_app:app"
TOPIC = "prices"
# All the sockets come from 127.0.0.1 and the bench is far beyond a page's pace: lift
# the per-address socket limit and the message rate limit.
ENV = {"QUARTDASH_RATE_LIMIT": "1e9", "QUARTDASH_MAX_CONNECTIONS_PER_ADDRESS": "0"}
#: The latency target for the largest N (issue 17): p99 to the last subscriber.
TARGET_P99_MS = 250.0
#: A load generator process this busy (of one core) is the limit of what it measures.
CLIENT_BOUND = 0.85
#: The whole machine this busy (a share of all its cores) over a window is its limit:
#: the server, the load generator, the publisher and Redis share its cores.
MACHINE_BOUND = 0.9
#: How long after the window the clients wait for its last updates to arrive.
DRAIN_SECONDS = 2.0


# --- The client's side of RFC 6455, sans I/O ---------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def upgrade_request(host: str, path: str, origin: str) -> bytes:
    """The HTTP/1.1 upgrade a WebSocket client opens with, with a fresh key."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n").encode()


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final frame from a client: masked with a fresh key, as RFC 6455 requires
    of every frame a client sends (a server closes on an unmasked one)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    stream = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + mask + masked


def unmask(masked: bytes, mask: bytes) -> bytes:
    """Undo a frame's mask (a test reads back what ``client_frame`` sent)."""
    n = len(masked)
    stream = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(masked, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


class FrameReader:
    """Frames from a server, which never masks them: ``feed`` bytes as they come,
    get the complete messages (opcode, payload), fragments joined."""

    __slots__ = ("_buf", "_frag_op", "_frags")

    def __init__(self) -> None:
        self._buf = b""
        self._frags: list[bytes] = []
        self._frag_op = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf + data if self._buf else data
        out: list[tuple[int, bytes]] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            if b1 & 0x80:
                raise ValueError("a masked frame from the server")
            length, head = b1 & 0x7F, 2
            if length == 126:
                if end - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif length == 127:
                if end - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if end - pos < head + length:
                break
            payload = buf[pos + head:pos + head + length]
            pos += head + length
            opcode, fin = b0 & 0x0F, b0 & 0x80
            if opcode >= 0x8:  # control frames are never fragmented
                out.append((opcode, payload))
            elif not fin:
                if opcode != OP_CONT:
                    self._frag_op = opcode
                self._frags.append(payload)
            elif opcode == OP_CONT:
                self._frags.append(payload)
                out.append((self._frag_op, b"".join(self._frags)))
                self._frags = []
            else:
                out.append((opcode, payload))
        self._buf = buf[pos:]
        return out


#: One update in a frame (a frame may batch several messages in a JSON array).
UPDATE = re.compile(rb'"seq":\s*(\d+),\s*"sent":\s*([0-9.eE+-]+)')


# --- The load generator: one process, many raw sockets -----------------------------

@dataclass(slots=True)
class Tally:
    """What one client process saw since its last reset."""

    #: seq -> [sockets it reached, largest delay, sum of delays]
    updates: dict[int, list[float]] = field(default_factory=dict)
    order_errors: int = 0
    closed: int = 0  # sockets the server closed or dropped


#: Where a socket is: opening (TCP, then the upgrade), open and idle, its callback
#: request sent and not yet taken (a response, or a first update), live, closing.
CONNECTING, UPGRADING, IDLE, STARTING, LIVE, CLOSING = range(6)
WAITING = (CONNECTING, UPGRADING, STARTING)
#: How long a socket may take to open, or its callback request to take.
READY_SECONDS = 120.0


class Sub:
    """One subscriber's socket, its state, and the order of what it received."""

    __slots__ = ("head", "last", "reader", "request", "since", "sock", "state")

    def __init__(self, sock: socket.socket, request: bytes) -> None:
        self.sock = sock
        self.request = request
        self.state = CONNECTING
        self.head = b""
        self.reader = FrameReader()
        self.last = -1
        self.since = time.monotonic()


class ClientLoop:
    """One load generator process: raw non-blocking sockets on one epoll, no asyncio
    (at tens of thousands of frames a second its per-read overhead was most of this
    process's CPU), and the coordinator's commands on the same epoll.

    Commands: ``open`` (the sockets, ``parallel`` handshakes at a time, each idle once
    upgraded), ``start`` (every idle socket sends its callback request at once: the
    server is not running N loops while the later sockets still open), ``reset`` and
    ``collect`` (the tally of a window, and this process's CPU over it), ``close``,
    ``exit``. ``open``, ``start`` and ``close`` answer when every socket concerned is
    done, failed, or timed out."""

    def __init__(self, conn: multiprocessing.connection.Connection) -> None:
        self.conn = conn
        self.ep = select.epoll()
        self.ep.register(conn.fileno(), select.EPOLLIN)
        self.subs: dict[int, Sub] = {}
        self.tally = Tally()
        self.cpu0, self.wall0 = time.process_time(), time.monotonic()
        self.host, self.port, self.parallel = "", 0, 1
        self.queue: list[bytes] = []  # requests of sockets not opened yet
        self.waves: list[Sub] = []  # sockets not started (or closed) yet
        # The phase under way ("open", "start", "close" or None): sockets still
        # waiting in it, those that failed, and when it began.
        self.phase: str | None = None
        self.pending = 0
        self.failed = 0
        self.phase_at = 0.0
        #: Each socket's last update at the reset: one still there at the collect
        #: received nothing in the window.
        self.marks: dict[int, int] = {}
        #: Why the server closed sockets (code and reason, or "connection ended"), in
        #: the phase or window under way.
        self.closes: collections.Counter[str] = collections.Counter()

    # the coordinator's commands
    def command(self) -> bool:
        command, *args = self.conn.recv()
        if command in ("open", "start", "close"):
            self.phase, self.pending, self.failed = command, 0, 0
            self.phase_at = time.monotonic()
            self.closes.clear()
        if command == "open":
            self.host, self.port, requests, self.parallel = args
            self.queue = list(reversed(requests))
            self.open_more()
        elif command == "start":
            self.parallel = args[0]
            self.waves = [sub for sub in self.subs.values() if sub.state == IDLE]
            self.next_wave()
        elif command == "close":
            self.parallel = args[0]
            for sub in list(self.subs.values()):
                if sub.state not in (IDLE, LIVE):
                    self.drop(sub)
            self.waves = list(self.subs.values())
            self.next_wave()
        elif command == "reset":
            self.tally = Tally()
            self.marks = {fd: sub.last for fd, sub in self.subs.items()}
            self.closes.clear()
            self.cpu0, self.wall0 = time.process_time(), time.monotonic()
            self.conn.send(None)
        elif command == "collect":
            t = self.tally
            silent = sum(1 for fd, sub in self.subs.items()
                         if sub.state == LIVE and sub.last == self.marks.get(fd, sub.last))
            self.conn.send({"updates": t.updates, "order_errors": t.order_errors,
                            "closed": t.closed, "silent": silent,
                            "closes": dict(self.closes),
                            "cpu": time.process_time() - self.cpu0,
                            "wall": time.monotonic() - self.wall0})
        elif command == "exit":
            return False
        self.phase_done()
        return True

    def next_wave(self) -> None:
        """Start (or close) more of the sockets waiting for it, ``parallel`` at a time:
        the server sees what a crowd of pages does, not one burst of N."""
        while self.waves and self.pending < self.parallel:
            sub = self.waves.pop()
            if sub.state not in (IDLE, LIVE) or sub.sock.fileno() not in self.subs:
                continue
            self.pending += 1
            if self.phase == "start":
                sub.state, sub.since = STARTING, time.monotonic()
                self.send(sub, client_frame(OP_TEXT, sub.request))
            else:
                sub.state, sub.since = CLOSING, time.monotonic()
                self.send(sub, client_frame(OP_CLOSE, struct.pack("!H", 1000)))

    def phase_done(self) -> None:
        """Answer the phase under way once nothing waits in it."""
        if self.phase in ("start", "close"):
            self.next_wave()
        if self.phase is not None and self.pending == 0 and not self.queue and not self.waves:
            self.conn.send({"failed": self.failed, "seconds": time.monotonic() - self.phase_at,
                            "alive": sum(1 for s in self.subs.values() if s.state in (IDLE, LIVE)),
                            "closes": dict(self.closes)})
            self.phase = None
            if not self.subs:
                self.tally = Tally()

    def open_more(self) -> None:
        while self.queue and self.pending < self.parallel:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sub = Sub(sock, self.queue.pop())
            sock.connect_ex(("127.0.0.1", self.port))
            self.subs[sock.fileno()] = sub
            self.ep.register(sock.fileno(), select.EPOLLOUT | select.EPOLLIN)
            self.pending += 1

    def settled(self, sub: Sub, error: str | None = None) -> None:
        """``sub`` is through its phase: on to its next state, or dropped (``error``)."""
        self.pending -= 1
        if error is not None:
            self.failed += 1
            if self.failed <= 3:
                print(f"client: a socket failed: {error}", file=sys.stderr, flush=True)
            self.drop(sub)
        elif sub.state == UPGRADING:
            sub.state = IDLE
        elif sub.state == STARTING:
            sub.state = LIVE
        if self.phase == "open":
            self.open_more()
        self.phase_done()

    def drop(self, sub: Sub) -> None:
        """Forget ``sub`` and close its socket."""
        fd = sub.sock.fileno()
        if self.subs.pop(fd, None) is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.ep.unregister(fd)
        sub.sock.close()

    def send(self, sub: Sub, data: bytes) -> None:
        """A client's frames are small: the kernel's buffer takes them whole."""
        with contextlib.suppress(OSError):
            sub.sock.send(data)

    def lost(self, sub: Sub, why: str = "connection ended") -> None:
        """The server closed ``sub`` (a close frame, or the connection ended)."""
        state = sub.state
        if state != CLOSING:
            self.closes[why] += 1
        if state == LIVE:
            self.tally.closed += 1
        if state in WAITING:
            self.settled(sub, "closed by the server before it was ready")
            return
        self.drop(sub)
        if state == CLOSING:
            self.pending -= 1
            self.phase_done()

    # the sockets
    def event(self, sub: Sub) -> None:
        if sub.state == CONNECTING:
            error = sub.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                self.settled(sub, os.strerror(error))
                return
            sub.state = UPGRADING
            self.ep.modify(sub.sock.fileno(), select.EPOLLIN)
            self.send(sub, upgrade_request(self.host, "/_dash-ws-callback", f"http://{self.host}"))
            return
        try:
            data = sub.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.lost(sub)
            return
        if sub.state == UPGRADING:
            sub.head += data
            end = sub.head.find(b"\r\n\r\n")
            if end < 0:
                return
            if not sub.head.startswith(b"HTTP/1.1 101"):
                self.settled(sub, f"upgrade refused: {sub.head[:80]!r}")
                return
            data, sub.head = sub.head[end + 4:], b""
            self.settled(sub)
            if not data:
                return
        now = time.time()
        tally = self.tally
        updates = tally.updates
        for opcode, payload in sub.reader.feed(data):
            if opcode == OP_TEXT:
                found = False
                for match in UPDATE.finditer(payload):
                    found = True
                    seq, delay = int(match[1]), now - float(match[2])
                    if seq <= sub.last:
                        tally.order_errors += 1
                    sub.last = seq
                    entry = updates.get(seq)
                    if entry is None:
                        updates[seq] = [1, delay, delay]
                    else:
                        entry[0] += 1
                        entry[2] += delay
                        if delay > entry[1]:
                            entry[1] = delay
                if sub.state == STARTING and (found or b'"callback_response"' in payload):
                    if b'"status":"error"' in payload:
                        self.settled(sub, payload[:200].decode(errors="replace"))
                        return
                    self.settled(sub)
            elif opcode == OP_PING:
                self.send(sub, client_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                if sub.state != CLOSING:
                    self.send(sub, client_frame(OP_CLOSE, payload[:2]))
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.lost(sub, f"{code} {payload[2:].decode(errors='replace')}".strip())
                return

    def timeouts(self) -> None:
        """A socket not open (or not started) in READY_SECONDS fails; a close waits
        15 s at most for the server's."""
        now = time.monotonic()
        for sub in list(self.subs.values()):
            if sub.state in WAITING and now - sub.since > READY_SECONDS:
                self.settled(sub, f"not ready in {READY_SECONDS:g} s")
            elif sub.state == CLOSING and now - sub.since > 15:
                self.lost(sub)

    def run(self) -> None:
        cmd = self.conn.fileno()
        last_check = time.monotonic()
        while True:
            for fd, _events in self.ep.poll(0.5):
                if fd == cmd:
                    if not self.command():
                        return
                    continue
                sub = self.subs.get(fd)
                if sub is not None:
                    self.event(sub)
            if time.monotonic() - last_check > 1.0:
                last_check = time.monotonic()
                self.timeouts()


def _client_process(conn: multiprocessing.connection.Connection) -> None:
    ClientLoop(conn).run()


class Clients:
    """The load generator's processes, and the commands the coordinator sends them."""

    def __init__(self, n: int) -> None:
        context = multiprocessing.get_context("fork")
        self.conns: list[multiprocessing.connection.Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        for _ in range(n):
            here, there = context.Pipe()
            proc = context.Process(target=_client_process, args=(there,), daemon=True)
            proc.start()
            self.conns.append(here)
            self.procs.append(proc)

    async def ask(self, *commands: tuple[Any, ...], timeout: float = 600) -> list[Any]:
        """Send one command to each process (the same one if one is given); their answers."""
        if len(commands) == 1:
            commands = commands * len(self.conns)
        for conn, command in zip(self.conns, commands, strict=True):
            conn.send(command)

        def answer(conn: multiprocessing.connection.Connection) -> Any:
            if not conn.poll(timeout):
                raise TimeoutError(f"a client process did not answer in {timeout} s")
            return conn.recv()

        return list(await asyncio.gather(*(asyncio.to_thread(answer, c) for c in self.conns)))

    def stop(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(("exit",))
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


# --- The publisher: a process with only the Redis URL ------------------------------

async def _publish(url: str, rate: float, reply_timeout: float) -> None:
    """Push update after update at ``rate`` Hz until stdin closes; a line per push on
    stdout: seq, due time, the time the push returned, and sockets queued for. Each
    push waits for the workers' answers (how many sockets), as a publisher's loop
    does; one more than a period late skips to the current update, as a per-viewer
    loop does (the updates skipped count as not delivered)."""
    from bench.fanout_app import update
    from quartdash import Publisher

    period = 1.0 / rate
    loop = asyncio.get_running_loop()
    stop = loop.run_in_executor(None, sys.stdin.read)
    async with Publisher(url, reply_timeout=reply_timeout) as pub:
        seq = math.floor(time.time() / period) + 1
        while not stop.done():
            due = seq * period
            delay = due - time.time()
            if delay > 0:
                await asyncio.wait([stop], timeout=delay)
                if stop.done():
                    break
            elif delay < -period:  # as a per-viewer loop does: on to the current one
                seq = math.floor(time.time() / period)
                due = seq * period
            queued = await pub.push(topic=TOPIC, set_props=update(seq, due))
            print(f"{seq} {due:.6f} {time.time():.6f} {queued}", flush=True)
            seq += 1


@contextlib.contextmanager
def publisher(url: str, rate: float, reply_timeout: float,
              log: Path) -> Iterator[subprocess.Popen[str]]:
    """The publisher process, stopped (stdin closed) on leaving; what it logs (a line
    per push whose answers it stopped waiting for) goes to ``log``."""
    with open(log, "ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "bench.fanout", "--publish", url,
                                 "--rate", str(rate), "--reply-timeout", str(reply_timeout)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                text=True)
    try:
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# --- Measures -----------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids``, from /proc (a process gone counts 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLK_TCK


def machine_ticks() -> tuple[int, int]:
    """This machine's busy and total clock ticks since boot, over every core
    (``/proc/stat``): idle and iowait are the idle ones."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


def workers(server: Server) -> list[int]:
    """hypercorn's worker processes (its main process only supervises them, and
    multiprocessing's resource tracker sleeps)."""
    return [p.pid for p in psutil.Process(server.proc.pid).children(recursive=True)
            if "resource_tracker" not in " ".join(p.cmdline())]


def sockets_per_worker(pids: list[int], port: int) -> list[int]:
    """The clients' connections each worker holds (how hypercorn spread them)."""
    counts = []
    for pid in pids:
        try:
            counts.append(sum(1 for c in psutil.Process(pid).net_connections("tcp")
                              if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port))
        except psutil.Error:
            counts.append(0)
    return counts


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


#: What a worker logs when it loses the backplane, and when it has it again.
DEGRADED, CONNECTED = "cluster degraded", "cluster connected"


async def settle(server: Server, pids: list[int], timeout: float = 60.0) -> None:
    """Wait until the server is idle again (under a tenth of a core over half a second)
    and every worker has its backplane (a worker whose Redis calls failed, for instance
    in a burst of them, refuses new sockets until it reconnects), so one measure's
    teardown is neither billed to the next nor refuses its sockets."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pids)
        await asyncio.sleep(0.5)
        log = server.log
        if (cpu_seconds(pids) - before < 0.05
                and log.count(CONNECTED) >= log.count(DEGRADED) + len(pids)):
            return


def persistent_output(server: Server) -> str:
    """The per-viewer persistent callback's id, as the page learns it."""
    with urllib.request.urlopen(server.url + "/_dash-dependencies", timeout=30) as response:
        specs = json.loads(response.read())
    return str(next(s["output"] for s in specs if s.get("persistent")))


def start_request(mode: str, output: str, renderer: str) -> bytes:
    """The one callback request a socket of ``mode`` sends."""
    if mode == "push":
        return callback_request("join", "status", "children", [("join", "n_clicks", 1)],
                                renderer_id=renderer).encode()
    return json.dumps({"type": "callback_request", "requestId": "feed", "rendererId": renderer,
                       "payload": {"output": output, "outputs": [], "inputs": [],
                                   "changedPropIds": [], "state": []}}).encode()


async def measure(server: Server, clients: Clients, mode: str, n: int,
                  args: argparse.Namespace, redis_url: str) -> dict[str, Any]:
    """One mode at one N: open, warm up, a window of ``args.seconds``, collect, close."""
    host = server.url.removeprefix("http://")
    port = int(host.rsplit(":", 1)[1])
    output = persistent_output(server)
    k = len(clients.conns)
    shares = [n // k + (1 if i < n % k else 0) for i in range(k)]
    commands = [("open", host, port, [start_request(mode, output, f"R{c}-{i}")
                                      for i in range(share)], args.parallel)
                for c, share in enumerate(shares)]
    pids = workers(server)
    degraded = server.log.count(DEGRADED)
    result: dict[str, Any] = {"mode": mode, "subscribers": n}
    with contextlib.ExitStack() as stack:
        opened = await clients.ask(*commands)
        result["open_failed"] = sum(o["failed"] for o in opened)
        result["open_seconds"] = round(max(o["seconds"] for o in opened), 1)
        started = await clients.ask(("start", args.start_parallel))
        result["start_failed"] = sum(o["failed"] for o in started)
        result["start_seconds"] = round(max(o["seconds"] for o in started), 1)
        # Sockets the server closed after their upgrade, and why: the bench measures
        # the sockets left, and says how many it lost.
        result["sockets"] = sum(o["alive"] for o in started)
        closes: collections.Counter[str] = collections.Counter()
        for answer in (*opened, *started):
            closes.update(answer["closes"])
        pushes: list[str] = []
        if mode == "push":
            pub = stack.enter_context(publisher(redis_url, args.rate, args.reply_timeout,
                                                server.log_path.with_name("publisher.log")))
            assert pub.stdout is not None
            stdout = pub.stdout
            reader = asyncio.create_task(asyncio.to_thread(lambda: pushes.extend(stdout)))
        await asyncio.sleep(args.warmup)
        result["sockets_per_worker"] = sockets_per_worker(pids, port)
        await clients.ask(("reset",))
        # The window: whole periods, starting a little after the reset.
        period = 1.0 / args.rate
        first = math.ceil((time.time() + 0.5) / period)
        last = first + round(args.seconds * args.rate)  # exclusive
        await asyncio.sleep(max(0.0, first * period - time.time()))
        cpu0, wall0, machine0 = cpu_seconds(pids), time.monotonic(), machine_ticks()
        await asyncio.sleep(max(0.0, last * period - time.time()))
        cpu1, wall1, machine1 = cpu_seconds(pids), time.monotonic(), machine_ticks()
        await asyncio.sleep(DRAIN_SECONDS)
        tallies = await clients.ask(("collect",))
    if mode == "push":
        await reader  # the publisher's stdout is closed with it
    await clients.ask(("close", args.parallel))
    await settle(server, pids)
    result["cluster_degraded"] = server.log.count(DEGRADED) - degraded

    merged: dict[int, list[float]] = {}
    for tally in tallies:
        for seq, (count, worst, total) in tally["updates"].items():
            entry = merged.setdefault(seq, [0, 0.0, 0.0])
            entry[0] += count
            entry[1] = max(entry[1], worst)
            entry[2] += total
    if mode == "push":  # the updates the publisher made in the window
        made = {int(f[0]): (float(f[1]), float(f[2]), int(f[3]))
                for f in (line.split() for line in pushes) if len(f) == 4}
        window = [s for s in range(first, last) if s in made]
        queued = [made[s][2] for s in window]
        # How long each push took to return (the workers' answers): a push slower than
        # the period delays the next one, and that delay is in the latency measured.
        returned = [(made[s][1] - made[s][0]) * 1e3 for s in window]
        result["push_return_p99_ms"] = round(percentile(returned, 0.99), 1) if returned else None
        result["push_queued_min"] = min(queued) if queued else None
        result["publisher_missed"] = last - first - len(window)
    else:
        window = list(range(first, last))
    delivered = sum(int(merged[s][0]) for s in window if s in merged)
    lasts = [merged[s][1] * 1e3 for s in window if s in merged]
    expected = (last - first) * n
    cpu = cpu1 - cpu0
    result.update({
        "updates": last - first,
        "delivered": delivered,
        "expected": expected,
        "order_errors": sum(t["order_errors"] for t in tallies),
        "closed_by_server": sum(t["closed"] for t in tallies),
        "silent_sockets": sum(t["silent"] for t in tallies),
        "server_closes": dict(sum((collections.Counter(t["closes"]) for t in tallies), closes)),
        "last_p50_ms": round(statistics.median(lasts), 1) if lasts else None,
        "last_p99_ms": round(percentile(lasts, 0.99), 1) if lasts else None,
        "mean_ms": round(sum(merged[s][2] for s in window if s in merged) / delivered * 1e3, 1)
        if delivered else None,
        "server_cpu_s": round(cpu, 3),
        "server_cores": round(cpu / (wall1 - wall0), 2),
        "server_cpu_us_per_update": round(cpu / delivered * 1e6, 2) if delivered else None,
        "client_cores": [round(t["cpu"] / t["wall"], 2) for t in tallies],
        # (its cores over the window, as it was busy since the reset just before it)
        "client_cpu_us_per_update": round(sum(t["cpu"] / t["wall"] for t in tallies)
                                          * (wall1 - wall0) / delivered * 1e6, 2)
        if delivered else None,
        "machine_busy": round((machine1[0] - machine0[0]) / (machine1[1] - machine0[1]), 2),
    })
    result["client_bound"] = max(result["client_cores"]) >= CLIENT_BOUND
    result["machine_bound"] = result["machine_busy"] >= MACHINE_BOUND
    result["ok"] = (delivered == expected and result["order_errors"] == 0
                    and result["last_p99_ms"] is not None
                    and result["last_p99_ms"] <= TARGET_P99_MS)
    return result


def send_floor(sockets: int = 500, rounds: int = 30, size: int = 1100,
               period: float = 0.1) -> float:
    """The kernel's part of a delivery on this machine: CPU (user and system) of one
    ``send`` of a ``size``-byte frame to a loopback TCP socket (µs), in one burst to
    every socket per ``period``, as a worker delivers a push (the peers drain between
    bursts). What no server goes below per page it reaches."""
    pairs = []
    try:
        for _ in range(sockets):
            with socket.socket() as listener:
                listener.bind(("127.0.0.1", 0))
                listener.listen(1)
                peer = socket.create_connection(listener.getsockname())
                ours, _ = listener.accept()
            ours.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio does
            peer.setblocking(False)
            pairs.append((ours, peer))
        frame = b"\x81\x7e" + size.to_bytes(2, "big") + b"x" * size
        spent = 0.0
        for _ in range(rounds):
            start = time.process_time()
            for ours, _ in pairs:
                ours.send(frame)
            spent += time.process_time() - start
            for _, peer in pairs:
                with contextlib.suppress(BlockingIOError):
                    while peer.recv(1 << 16):
                        pass
            time.sleep(period)
        return round(spent / (rounds * sockets) * 1e6, 2)
    finally:
        for ours, peer in pairs:
            ours.close()
            peer.close()


async def cross_process(tmp: Path, redis_url: str, count: int) -> dict[str, Any]:
    """A push from a route of server A reaching a subscriber on server B (two one-worker
    servers on one Redis, so "another process" is certain): median and p99 of the time
    from the route's stamp to the arrival, and of the whole POST to arrival."""
    env = {**ENV, "QUARTDASH_BACKPLANE": redis_url}
    with hypercorn(TARGET, tmp, env=env) as a, hypercorn(TARGET, tmp, env=env) as b:
        async with open_socket(b.url, compression=None) as ws:
            await ws.send(start_request("push", "", "R").decode())
            async with asyncio.timeout(30):
                while not any(m.get("type") == "callback_response" for m in messages(await ws.recv())):
                    pass

            def post(seq: int) -> int:
                request = urllib.request.Request(
                    a.url + "/bench/push", data=json.dumps({"seq": seq}).encode(),
                    headers={"Content-Type": "application/json"}, method="POST")
                with urllib.request.urlopen(request, timeout=10) as response:
                    return int(json.loads(response.read())["queued"])

            from_route: list[float] = []
            from_post: list[float] = []
            queued: list[int] = []
            for seq in range(count + 20):  # the first 20 warm up both servers
                started = time.time()
                posting = asyncio.create_task(asyncio.to_thread(post, seq))
                async with asyncio.timeout(10):
                    while True:
                        frame = await ws.recv()
                        arrived = time.time()
                        match = UPDATE.search(frame.encode() if isinstance(frame, str) else frame)
                        if match and int(match[1]) == seq:
                            break
                queued.append(await posting)
                if seq >= 20:
                    from_route.append((arrived - float(match[2])) * 1e3)
                    from_post.append((arrived - started) * 1e3)
    return {
        "pushes": count,
        "route_to_subscriber_p50_ms": round(statistics.median(from_route), 2),
        "route_to_subscriber_p99_ms": round(percentile(from_route, 0.99), 2),
        "post_to_subscriber_p50_ms": round(statistics.median(from_post), 2),
        "post_to_subscriber_p99_ms": round(percentile(from_post, 0.99), 2),
        "queued": sorted(set(queued)),
    }


def raise_nofile() -> int:
    """Lift this process's open-file limit to its hard limit (the servers, the clients
    and the publisher inherit it); the limit now."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def run(args: argparse.Namespace, clients: Clients) -> dict[str, Any]:
    out: dict[str, Any] = {"args": {k: v for k, v in vars(args).items() if k != "json"},
                           "nofile": raise_nofile(), "cpus": os.cpu_count(),
                           "load_before": os.getloadavg(), "results": []}
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as redis:
        if args.cross:
            out["cross_process"] = await cross_process(Path(tmp), redis.url, args.cross)
            print(f"cross-process push: {out['cross_process']}", flush=True)
        out["send_floor_us"] = send_floor()
        print(f"one loopback send of a 1.1 KB frame: {out['send_floor_us']} µs of CPU",
              flush=True)
        env = {**ENV, "QUARTDASH_BACKPLANE": redis.url, "FANOUT_RATE": str(args.rate)}
        with hypercorn(TARGET, Path(tmp), workers=2, env=env) as server:
            for n in args.subscribers:
                for mode in args.modes:
                    if mode == "per-viewer" and n > args.per_viewer_up_to:
                        continue
                    result = await measure(server, clients, mode, n, args, redis.url)
                    result["load"] = os.getloadavg()
                    out["results"].append(result)
                    print(json.dumps(result), flush=True)
    out["load_after"] = os.getloadavg()
    return out


def _fmt(value: Any, spec: str = "") -> str:
    return "n/a" if value is None else format(value, spec)


def table(out: dict[str, Any]) -> str:
    """The results as the README's bench tables, and the verdicts under them."""
    results = out["results"]
    by = {(r["mode"], r["subscribers"]): r for r in results}
    lines = [
        "| subscribers | mode | delivered / expected | order errors | to last subscriber p50 (ms) "
        "| p99 (ms) | server CPU (cores) | server CPU per update (µs) | per-viewer / push "
        "| load generator CPU (cores per process) | machine busy |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        push = by.get(("push", r["subscribers"]))
        ratio = "" if r["mode"] == "push" or push is None else (
            f"{r['server_cpu_us_per_update'] / push['server_cpu_us_per_update']:.1f}x"
            if r["server_cpu_us_per_update"] and push["server_cpu_us_per_update"] else "n/a")
        bound = " (limit)" if r["client_bound"] else ""
        refused = r["subscribers"] - r["sockets"]
        note = f" ({refused:,} sockets closed by the server)" if refused else ""
        lines.append(
            f"| {r['subscribers']:,} | {r['mode']} | {r['delivered']:,} / {r['expected']:,}{note} "
            f"| {r['order_errors']} | {_fmt(r['last_p50_ms'])} | {_fmt(r['last_p99_ms'])} "
            f"| {r['server_cores']:.2f} | {_fmt(r['server_cpu_us_per_update'], '.1f')} "
            f"| {ratio} | {' '.join(f'{c:.2f}' for c in r['client_cores'])}{bound} "
            f"| {r.get('machine_busy', 0):.0%} |")
    pushes = [r for r in results if r["mode"] == "push"]
    met = [r["subscribers"] for r in pushes if r["ok"]]
    lines.append("")
    lines.append(f"push: largest N with every update delivered in order and p99 <= "
                 f"{TARGET_P99_MS:g} ms: {max(met):,}" if met else
                 "push: no N met every update delivered in order and p99 <= "
                 f"{TARGET_P99_MS:g} ms")
    skipped = [f"{r['subscribers']:,}: {r['publisher_missed']} (push p99 "
               f"{r['push_return_p99_ms']} ms)" for r in pushes if r.get("publisher_missed")]
    if skipped:
        lines.append("updates the publisher skipped, its pushes returning later than a period "
                     f"(they wait for the workers' counts): {'; '.join(skipped)}")
    limited = [f"{r['subscribers']:,} ({r['mode']})" for r in results if r["client_bound"]]
    lines.append(f"the load generator was the limit (a process at >= {CLIENT_BOUND:.0%} of a "
                 f"core) at: {', '.join(limited)}" if limited else
                 f"the load generator was not the limit (every process under {CLIENT_BOUND:.0%} "
                 "of a core)")
    full = [f"{r['subscribers']:,} ({r['mode']})" for r in results if r.get("machine_bound")]
    if full:
        lines.append(f"the machine was the limit (its cores >= {MACHINE_BOUND:.0%} busy: the "
                     "server, the load generator, the publisher and Redis share them) at: "
                     f"{', '.join(full)}")
    if out.get("send_floor_us") is not None:
        lines.append(f"the kernel's part of one delivery (a send of a 1.1 KB frame to a "
                     f"loopback socket, measured alone): {out['send_floor_us']} µs of CPU")
    cross = out.get("cross_process")
    if cross:
        lines.append(f"push from a route of process A to a subscriber of process B: median "
                     f"{cross['route_to_subscriber_p50_ms']} ms, p99 "
                     f"{cross['route_to_subscriber_p99_ms']} ms over {cross['pushes']} pushes "
                     f"(POST to arrival: {cross['post_to_subscriber_p50_ms']} / "
                     f"{cross['post_to_subscriber_p99_ms']} ms)")
    a = out["args"]
    lines.append(f"hypercorn -w 2, redis backplane, {a['rate']:g} Hz, {a['seconds']:g} s windows, "
                 f"publisher reply_timeout {a['reply_timeout']:g} s, "
                 f"{a['clients']} client processes, {out['cpus']} CPUs; load average "
                 f"{' '.join(f'{x:.2f}' for x in out['load_before'])} before, "
                 f"{' '.join(f'{x:.2f}' for x in out['load_after'])} after")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+",
                        default=[100, 1000, 2000, 5000, 10000])
    parser.add_argument("--modes", nargs="+", default=["push", "per-viewer"],
                        choices=["push", "per-viewer"])
    parser.add_argument("--rate", type=float, default=10.0, help="updates a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the window")
    parser.add_argument("--clients", type=int, default=3, help="load generator processes")
    parser.add_argument("--parallel", type=int, default=8,
                        help="sockets opening, starting or closing at once, per client process")
    parser.add_argument("--start-parallel", type=int, default=32,
                        help="callback requests waiting for their answer at once, per client "
                        "process (a per-viewer socket's answer is its first update)")
    parser.add_argument("--cross", type=int, default=200,
                        help="pushes across processes to time (0: skip)")
    parser.add_argument("--reply-timeout", type=float, default=1.0,
                        help="the publisher's Publisher(reply_timeout=): how long each push "
                        "waits for the workers' counts (1.0, the default, as a publisher "
                        "awaiting them; small: the delivery alone sets the pace)")
    parser.add_argument("--per-viewer-up-to", type=int, default=2000, metavar="N",
                        help="measure per-viewer only up to N subscribers (past about "
                             "1,000 it no longer keeps up on 2 cores, and its sockets take "
                             "minutes to start)")
    parser.add_argument("--quick", action="store_true", help="small N, short windows")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--publish", metavar="REDIS_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.publish:
        asyncio.run(_publish(args.publish, args.rate, args.reply_timeout))
        return
    if args.quick:
        args.subscribers, args.seconds, args.warmup, args.clients = [50], 2.0, 1.0, 2
        args.cross = min(args.cross, 20)
    raise_nofile()
    clients = Clients(args.clients)  # forked before any loop or thread exists here
    try:
        out = asyncio.run(run(args, clients))
    finally:
        clients.stop()
    print(table(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
