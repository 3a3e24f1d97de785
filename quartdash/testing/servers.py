"""Real servers for tests and benchmarks: hypercorn, uvicorn, granian and redis-server as
subprocesses,
and a TCP relay that can fail like a network.

Nothing here knows where it is run from: an app is served from the directory given
(``cwd``), by default the current one, exactly as ``hypercorn module:app`` typed there
would serve it. Every wait polls for its condition and has a timeout. Standard library
only, so a benchmark or a script can use it without pytest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "SERVERS", "RedisServer", "Server", "TcpProxy", "free_port", "granian", "hypercorn",
    "log_shows", "redis_server", "serve", "stop", "uvicorn", "wait_http", "wait_tcp",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll(ready: Callable[[], bool], what: str, timeout: float,
          proc: subprocess.Popen[bytes] | None) -> None:
    """Poll ``ready`` until it holds; fail fast if ``proc`` dies, or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready in {timeout} s")


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll until ``url`` answers 200."""
    def ready() -> bool:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    _poll(ready, url, timeout, proc)


def wait_tcp(port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll until the port accepts connections, without sending any request."""
    def ready() -> bool:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    _poll(ready, f"port {port}", timeout, proc)


class Server:
    """A running hypercorn: its process (``proc``, the leader of its own process group),
    its base ``url``, and ``log``, everything it printed so far (stdout and stderr)."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
        self.proc = proc
        self.url = url
        self.log_path = log_path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def hypercorn(
    target: str,
    tmp_path: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    ready_path: str | None = "/",
    port: int | None = None,
    args: Sequence[str] = (),
    cwd: str | os.PathLike[str] | None = None,
) -> Iterator[Server]:
    """Serve ``target`` (``module:app``) on 127.0.0.1 and an ephemeral port; readiness
    is an HTTP 200 on ``ready_path``, or (None) only an open port, so no HTTP request
    at all reaches the app. ``port`` serves on a given port (a restart on the same
    address); by default a free one. ``args`` are more hypercorn options (an access
    log, for instance). ``cwd``: the directory hypercorn runs in, from which ``target``
    is imported (``python -m`` puts it first on the path); by default the current one.
    The log goes to ``tmp_path``. On leaving, the server gets SIGTERM (``stop``).

    hypercorn runs under this interpreter with ``--graceful-timeout 2``: a test that
    stops a server waits at most that long for its connections to end."""
    port = port or free_port()
    cmd = [
        sys.executable, "-m", "hypercorn", target,
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--graceful-timeout", "2", *args,
    ]
    with _serve("hypercorn", cmd, port, tmp_path, env, ready_path, cwd) as server:
        yield server


@contextlib.contextmanager
def uvicorn(
    target: str,
    tmp_path: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    ready_path: str | None = "/",
    args: Sequence[str] = (),
) -> Iterator[Server]:
    """``target`` under uvicorn, as ``hypercorn`` serves it (same readiness, log and
    stop). With ``workers`` > 1, uvicorn's supervisor starts a new worker in place of
    one that dies, which hypercorn does not (it stops the whole server)."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--timeout-graceful-shutdown", "2", *args,
    ]
    with _serve("uvicorn", cmd, port, tmp_path, env, ready_path, None) as server:
        yield server


@contextlib.contextmanager
def granian(
    target: str,
    tmp_path: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    ready_path: str | None = "/",
    args: Sequence[str] = (),
) -> Iterator[Server]:
    """``target`` under granian (``--interface asgi``), as ``hypercorn`` serves it (same
    readiness, log and stop). ``--workers-kill-timeout 10``: a worker that has not
    stopped by then is killed."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--workers-kill-timeout", "10",
        *args, target,
    ]
    with _serve("granian", cmd, port, tmp_path, env, ready_path, None) as server:
        yield server


#: The servers ``serve`` knows, by name.
SERVERS = ("hypercorn", "uvicorn", "granian")


def serve(name: str, target: str, tmp_path: Path,
          **kwargs: Any) -> contextlib.AbstractContextManager[Server]:
    """``target`` under the server called ``name`` (one of ``SERVERS``); ``kwargs`` go
    to that server's function (``workers``, ``env``, ``ready_path``, ``args``)."""
    starters: dict[str, Callable[..., contextlib.AbstractContextManager[Server]]] = {
        "hypercorn": hypercorn, "uvicorn": uvicorn, "granian": granian}
    return starters[name](target, tmp_path, **kwargs)


@contextlib.contextmanager
def _serve(name: str, cmd: list[str], port: int, tmp_path: Path,
           env: dict[str, str] | None, ready_path: str | None,
           cwd: str | os.PathLike[str] | None) -> Iterator[Server]:
    """Run ``cmd`` (a server on ``port``), its output in ``tmp_path``; yield it once
    ready; stop it on leaving."""
    log_path = tmp_path / f"{name}-{port}.log"
    # A test process that turned metrics on has PROMETHEUS_MULTIPROC_DIR set; a server
    # it starts counts in a directory of its own unless ``env`` names one.
    inherited = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    full_env = {**inherited, "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        if ready_path is None:
            wait_tcp(port, proc=proc)
        else:
            wait_http(url + ready_path, proc=proc)
        yield Server(proc, url, log_path)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``timeout``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


class RedisServer:
    """A real redis-server on 127.0.0.1 and an ephemeral port, with no persistence;
    ``stop()`` and ``start()`` again on the same port simulate an outage."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = tmp_path / f"redis-{self.port}.log"
        self.dir = tmp_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_tcp(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


@contextlib.contextmanager
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A started ``RedisServer``, stopped on leaving."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def log_shows(server: Server, text: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Poll the server's log until ``text`` appears in it, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while text not in server.log:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} not in the server log after {timeout} s")
        await asyncio.sleep(0.05)


class TcpProxy:
    """A TCP relay to ``port`` on 127.0.0.1 whose connections can be cut at once, as a
    network failure cuts them: no close frame, a reset. Threads, so it serves a browser
    while the test drives it."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        """Relay one connection; a subclass may look at what the client sends first."""
        self._relay(client, b"")

    def _relay(self, client: socket.socket, head: bytes) -> None:
        """Connect ``client`` to the upstream port, ``head`` (already read) first."""
        server = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
        server.settimeout(None)
        if head:
            server.sendall(head)
        with self._lock:
            self._open += [client, server]
        for a, b in ((client, server), (server, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Break every relayed connection, with no WebSocket close frame. ``shutdown``
        first: a plain ``close`` of a socket that a relay thread is blocked reading does
        not end the connection (the blocked read keeps it alive); then the close, with
        no linger, resets it."""
        with self._lock:
            doomed, self._open = self._open, []
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        """Stop accepting, and cut what is relayed."""
        self.listener.close()
        self.cut()
