"""Prometheus metrics of every worker process of a host, from one scrape.

Built on ``prometheus_client``'s multiprocess mode: each worker process writes its values
into memory-mapped files of one directory, and a scrape, answered by any worker, adds up
the files of all of them. So with ``hypercorn -w N`` a scrape is never a sample of the one
worker that happened to answer.

The directory is ``PROMETHEUS_MULTIPROC_DIR`` when the environment sets it (the library's
own variable; set it for servers that fork their workers with ``os.fork``, such as
gunicorn). Otherwise it is made per server: the workers of one ``hypercorn``, ``uvicorn
--workers`` or ``granian`` server are children of one master process, so the directory
is named after that process (its pid and start time, so a reused pid never inherits
old counts), under the system's temporary directory, private to this user (0700, and
refused if someone else made it first). A process with no such parent names it after
itself.

Workers that restart keep the counts right: a counter's file stays after its process
ends, so totals never go back; a gauge (sockets open, backplane up) counts live
processes only. A worker that stops cleanly removes its gauges; one that was killed has
them removed at the next scrape (its pid is gone).

Nothing here is imported unless metrics are on (``QuartDash(metrics=...)``).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import multiprocessing
import os
import re
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from quartdash._compat.prometheus import add_observations
from quartdash.observe import events

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram
    from quart import Blueprint

    from quartdash.auth.admin import Admission

log = logging.getLogger("quartdash")

#: The content type of the text format a scrape answers with.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: prometheus_client's variable naming the directory every process writes into.
DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
#: The prefix of the directories made per server (see the module docstring).
DIR_PREFIX = "quartdash-metrics-"
#: Buckets of ``quartdash_callback_duration_seconds``: 1 ms to 30 s.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                    2.5, 5.0, 10.0, 30.0)

#: How often a worker writes what it added up to the shared files (see
#: ``PrometheusObserver``): the most another worker's figures in a scrape lag behind.
FLUSH_SECONDS = 1.0
#: Callback durations kept between flushes, per transport, before a flush is forced.
MAX_PENDING_DURATIONS = 10_000

_lock = threading.Lock()
_enabled: PrometheusObserver | None = None


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), else empty: with the
    pid it names one process, though pids are reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def server_directory() -> Path:
    """Where this process's values go: ``PROMETHEUS_MULTIPROC_DIR``, else the
    directory of its server (see the module docstring), made if missing."""
    given = os.environ.get(DIR_VARIABLE)
    if given:
        return Path(given)
    parent = multiprocessing.parent_process()
    pid = parent.pid if parent is not None and parent.pid is not None else os.getpid()
    base = Path(tempfile.gettempdir())
    uid = os.getuid() if hasattr(os, "getuid") else 0
    _remove_stale(base, uid)
    path = base / f"{DIR_PREFIX}{uid}-{pid}-{_start_time(pid)}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if path.is_symlink() or not path.is_dir() or info.st_uid != uid or info.st_mode & 0o077:
        # Someone else made it (the temporary directory is shared): their files could
        # feed this scrape. Use a private one, shared with no other worker.
        # Named after this process, so it is removed once the process is gone.
        private = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{uid}-{os.getpid()}-"))
        log.error("quartdash: metrics: %s is not this user's private directory (another "
                  "user made it?); this worker counts alone in %s, so a scrape shows only "
                  "the worker that answers it: set %s", path, private, DIR_VARIABLE)
        warnings.warn(f"quartdash metrics: {path} is not this user's private directory; "
                      f"using {private}, which this worker alone uses (set {DIR_VARIABLE})",
                      stacklevel=3)
        return private
    return path


def _remove_stale(base: Path, uid: int) -> None:
    """Remove this user's directories of servers whose master process is gone."""
    pattern = re.compile(rf"{re.escape(DIR_PREFIX)}{uid}-(\d+)-")
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            found = pattern.match(entry.name)
            if found and not _alive(int(found.group(1))) and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)


class PrometheusObserver(events.Observer):
    """Counts what quartdash reports into the metrics of API section 9.

    What happens per frame or per callback (frames, bytes, callbacks and their
    durations, coalesced set_props, deliveries) is added up in plain numbers here and
    written to the shared files at most every ``FLUSH_SECONDS`` (and before this
    worker answers a scrape, and when it stops): a write to the files takes a lock and
    costs microseconds, which every round trip would otherwise pay several times. So
    another worker's figures in a scrape may be up to ``FLUSH_SECONDS`` old; this
    worker's are exact. What happens per socket or session (opened, closed, refused,
    resumed, ended) is written at once.

    Called on the event loop's thread (every report is made there)."""

    __slots__ = ("_backplane_up", "_bytes_received", "_bytes_sent", "_callback_count",
                 "_callback_seconds", "_closed", "_coalesced", "_connections",
                 "_deliveries", "_flusher", "_frames_sent", "_pending", "_pushes",
                 "_refused", "_resumes", "_sessions_ended", "directory")

    def __init__(self, directory: Path) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.directory = directory
        self._pending = _Pending()
        self._flusher: asyncio.Task[None] | None = None
        self._connections: Gauge = Gauge(
            "quartdash_connections", "WebSockets open now", registry=None,
            multiprocess_mode="livesum")
        self._closed: Counter = Counter(
            "quartdash_connections_closed", "WebSockets closed, by the close code the "
            "server sent (client: the browser closed it)", ["code"], registry=None)
        self._refused: Counter = Counter(
            "quartdash_handshakes_refused", "WebSocket handshakes refused or closed before "
            "any callback ran", ["reason"], registry=None)
        self._callback_count: Counter = Counter(
            "quartdash_callbacks", "Callbacks run", ["transport", "outcome"], registry=None)
        self._callback_seconds: Histogram = Histogram(
            "quartdash_callback_duration_seconds", "How long callbacks ran", ["transport"],
            buckets=DURATION_BUCKETS, registry=None)
        self._frames_sent: Counter = Counter(
            "quartdash_frames_sent", "WebSocket frames sent", registry=None)
        self._bytes_sent: Counter = Counter(
            "quartdash_bytes_sent", "Bytes of WebSocket frames sent (UTF-8, before "
            "compression)", registry=None)
        self._bytes_received: Counter = Counter(
            "quartdash_bytes_received", "Bytes of WebSocket frames received (UTF-8, after "
            "decompression)", registry=None)
        self._coalesced: Counter = Counter(
            "quartdash_set_props_coalesced", "Queued set_props replaced by a newer value "
            "for a page that was behind", registry=None)
        self._resumes: Counter = Counter(
            "quartdash_resumes", "Pages that asked to resume a dropped socket", ["outcome"],
            registry=None)
        self._sessions_ended: Counter = Counter(
            "quartdash_sessions_ended", "Sessions ended", ["reason"], registry=None)
        self._pushes: Counter = Counter(
            "quartdash_pushes", "Pushes made by app.connections.push", registry=None)
        self._deliveries: Counter = Counter(
            "quartdash_push_deliveries", "Sockets of this host a push reached",
            registry=None)
        self._backplane_up: Gauge = Gauge(
            "quartdash_backplane_up", "1 when every live worker reaches the backplane",
            registry=None, multiprocess_mode="livemin")
        # Every series of a fixed label set starts at 0, so a rate over it exists from
        # the first scrape (an alert on it needs no "absent" clause).
        for args in get_args(events.Transport):
            self._callback_seconds.labels(args)
            for outcome in get_args(events.Outcome):
                self._callback_count.labels(args, outcome)
        for counter, label_type in ((self._refused, events.Refusal),
                                    (self._resumes, events.ResumeOutcome),
                                    (self._sessions_ended, events.EndReason)):
            for value in get_args(label_type):
                counter.labels(value)
        for code in (*sorted(events.CLOSE_CODES), None):
            self._closed.labels(events.code_label(code))

    # --- events.Observer --------------------------------------------------------------
    def connection_opened(self) -> None:
        self._connections.inc()

    def connection_closed(self, code: int | None) -> None:
        self._connections.dec()
        self._closed.labels(events.code_label(code)).inc()

    def handshake_refused(self, reason: events.Refusal) -> None:
        self._refused.labels(reason).inc()

    def callback(self, transport: events.Transport, outcome: events.Outcome,
                 seconds: float | None) -> None:
        pending = self._pending
        pending.callbacks[transport, outcome] = pending.callbacks.get(
            (transport, outcome), 0) + 1
        if seconds is None:
            return
        durations = pending.durations[transport]
        durations.append(seconds)
        if len(durations) >= MAX_PENDING_DURATIONS:
            self.flush()

    def sent(self, frame: str) -> None:
        self.sent_size(events.utf8_size(frame))

    def sent_size(self, size: int) -> None:
        pending = self._pending
        pending.frames_sent += 1
        pending.bytes_sent += size

    def received(self, frame: str | bytes) -> None:
        self._pending.bytes_received += events.utf8_size(frame)

    def coalesced(self) -> None:
        self._pending.coalesced += 1

    def resume(self, outcome: events.ResumeOutcome) -> None:
        self._resumes.labels(outcome).inc()

    def session_ended(self, reason: events.EndReason) -> None:
        self._sessions_ended.labels(reason).inc()

    def pushed(self) -> None:
        self._pushes.inc()

    def delivered(self, sockets: int) -> None:
        self._pending.deliveries += sockets

    def backplane(self, up: bool) -> None:
        self._backplane_up.set(1 if up else 0)

    # --- writing what was added up --------------------------------------------------------
    def flush(self) -> None:
        """Write what was added up since the last flush to this worker's files."""
        pending, self._pending = self._pending, _Pending()
        for (transport, outcome), count in pending.callbacks.items():
            self._callback_count.labels(transport, outcome).inc(count)
        for transport, durations in pending.durations.items():
            if durations:
                counts = [0] * (len(DURATION_BUCKETS) + 1)  # +Inf last
                for seconds in durations:
                    counts[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
                add_observations(self._callback_seconds.labels(transport), counts,
                                 math.fsum(durations), durations)
        for counter, amount in ((self._frames_sent, pending.frames_sent),
                                (self._bytes_sent, pending.bytes_sent),
                                (self._bytes_received, pending.bytes_received),
                                (self._coalesced, pending.coalesced),
                                (self._deliveries, pending.deliveries)):
            if amount:
                counter.inc(amount)

    async def start(self) -> None:
        """Flush every ``FLUSH_SECONDS`` while the server runs (Quart's
        ``before_serving``; once per process however many apps start it)."""
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self.flush()

    async def stop(self) -> None:
        """The worker stops (Quart's ``after_serving``): write what is left, and take
        its gauges out of the sum (its counters stay)."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        self.flush()
        self.forget_this_process()

    # --- reading ----------------------------------------------------------------------
    def _registry(self) -> Any:
        """A registry over every worker's files, dead workers' gauges removed first."""
        from prometheus_client import CollectorRegistry, multiprocess

        for pid in _gauge_pids(self.directory):
            if not _alive(pid):
                multiprocess.mark_process_dead(pid, str(self.directory))  # type: ignore[no-untyped-call]
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self.directory))  # type: ignore[no-untyped-call]
        return registry

    def scrape(self) -> bytes:
        """The Prometheus text format of every worker of the host (this one's figures
        written first; run it off the event loop, after ``flush`` on it)."""
        from prometheus_client import generate_latest

        return bytes(generate_latest(self._registry()))

    def totals(self) -> dict[str, float]:
        """The host's counters by sample name (``quartdash_callbacks_total`` summed over
        its labels, and so on), and the gauges: what the admin page turns into rates."""
        found: dict[str, float] = {}
        for metric in self._registry().collect():
            for sample in metric.samples:
                if sample.name.endswith(("_total", "_count")) or metric.type == "gauge":
                    found[sample.name] = found.get(sample.name, 0.0) + sample.value
        return found

    def forget_this_process(self) -> None:
        """This worker stops: its gauges no longer count (its counters stay)."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), str(self.directory))  # type: ignore[no-untyped-call]


class _Pending:
    """What happened since the last flush, in plain numbers."""

    __slots__ = ("bytes_received", "bytes_sent", "callbacks", "coalesced", "deliveries",
                 "durations", "frames_sent")

    def __init__(self) -> None:
        self.frames_sent = self.bytes_sent = self.bytes_received = 0
        self.coalesced = self.deliveries = 0
        self.callbacks: dict[tuple[str, str], int] = {}
        self.durations: dict[str, list[float]] = {"websocket": [], "http": []}


def _gauge_pids(directory: Path) -> set[int]:
    """The pids that have gauge files of a live-only mode in ``directory``."""
    pids = set()
    with contextlib.suppress(OSError):
        for entry in directory.iterdir():
            found = re.fullmatch(r"gauge_live\w+?_(\d+)\.db", entry.name)
            if found:
                pids.add(int(found.group(1)))
    return pids


def enable() -> PrometheusObserver:
    """Turn metrics on in this process (idempotent): choose the directory, make
    prometheus_client write there, and report to a ``PrometheusObserver``."""
    global _enabled
    with _lock:
        if _enabled is not None:
            return _enabled
        directory = server_directory()
        os.environ[DIR_VARIABLE] = str(directory)
        from prometheus_client import values

        if not getattr(values.ValueClass, "_multiprocess", False):
            # prometheus_client chose its value class at import, before the variable
            # was set here: metrics made from now on write to the directory.
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        _enabled = PrometheusObserver(directory)
        events.observer = _enabled
        log.info("quartdash: metrics on, every worker of this server writes to %s", directory)
        return _enabled


def metrics_blueprint(route_prefix: str, observer: PrometheusObserver,
                      authorize: Admission | None) -> Blueprint:
    """``GET {route_prefix}_quartdash/metrics``: the scrape, guarded by ``authorize``
    (the admin API's ``admission``; None: public)."""
    from quart import Blueprint, Response

    page = Blueprint("quartdash_metrics", __name__)

    @page.get(route_prefix.rstrip("/") + "/_quartdash/metrics")
    async def scrape() -> Response:
        if authorize is not None:
            refusal = await authorize()
            if refusal is not None:
                return refusal
        observer.flush()  # this worker's figures exact; the others' are recent
        # Reading every worker's files is file I/O: off the event loop.
        body = await asyncio.to_thread(observer.scrape)
        return Response(body, content_type=CONTENT_TYPE,
                        headers={"Cache-Control": "no-store"})

    return page
