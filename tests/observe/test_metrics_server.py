"""The scrape on real processes: ``hypercorn -w 2`` serving ``tests/apps/metrics_app.py``
with the Redis backplane and ``QUARTDASH_METRICS=1``.

A test does things a page and an operator do (sockets opened on both workers and closed
in several ways, callbacks over both transports ending in every way, handshakes refused
for each reason, set_props coalesced for a page that stopped reading, a push) and then
reads the scrape until it says exactly that. Each figure is checked on many scrapes in a
row, each on a new TCP connection, so whichever worker answers, it reports both. Then a
worker is stopped (hypercorn starts another): what it counted stays, its sockets leave
the gauge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import InvalidStatus

from quartdash.testing.servers import RedisServer, Server, hypercorn, redis_server, uvicorn
from quartdash.testing.wsclient import call, callback_request, messages, open_socket
from tests.authclient import COOKIE, SECRET, TOKEN, admin, closed_code, login, session_socket

APP = "tests.apps.metrics_app:app"
HTTP_TIMEOUT = 10.0
#: How long the figures may take to show (a closed socket is counted as its handler ends).
WAIT = 10.0
#: Scrapes in a row that must agree: with two workers and a new connection each, the
#: chance that one worker answered them all is 2 ** -(SCRAPES - 1).
SCRAPES = 12
#: Sockets opened at most to have some on each worker: the kernel's choice is uneven
#: (25 in a row on one worker was seen), but not that uneven.
MAX_SOCKETS = 80

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of each test's own: the listings a test reads must not hold the sockets
    of an earlier test's workers, whose presence outlives them for a while."""
    with redis_server(tmp_path) as running:
        yield running


@pytest.fixture
def server(redis: RedisServer, tmp_path: Path) -> Iterator[Server]:
    env = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN,
           "QUARTDASH_BACKPLANE": redis.url, "QUARTDASH_METRICS": "1"}
    with hypercorn(APP, tmp_path, workers=2, env=env, ready_path="/") as running:
        yield running


def scrape(base: str, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # A new connection each time: the kernel hands it to either worker.
    with requests.Session() as session:
        return session.get(base + "/_quartdash/metrics", headers=headers,
                           timeout=HTTP_TIMEOUT)


def samples(base: str) -> Samples:
    response = scrape(base)
    assert response.status_code == 200, response.text
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[sample.name, frozenset(sample.labels.items())] = sample.value
    return found


def figure(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def figures(found: Samples, expected: dict[tuple[str, tuple[tuple[str, str], ...]], float]
            ) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {key: figure(found, key[0], **dict(key[1])) for key in expected}


def agree(base: str, expected: dict[tuple[str, tuple[tuple[str, str], ...]], float],
          baseline: Samples | None = None) -> None:
    """Poll until a scrape shows ``expected`` (counters over ``baseline``: gauges are
    compared as they are), then check that ``SCRAPES`` more in a row show it too,
    whichever worker answers each."""
    def seen(found: Samples) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        now = figures(found, expected)
        if baseline is not None:
            before = figures(baseline, expected)
            now = {key: value - (before[key] if key[0].endswith(("_total", "_count"))
                                 else 0) for key, value in now.items()}
        return now

    deadline = time.monotonic() + WAIT
    while (got := seen(samples(base))) != expected:
        assert time.monotonic() < deadline, f"the scrape shows {got}, not {expected}"
        time.sleep(0.1)
    for _ in range(SCRAPES):
        assert seen(samples(base)) == expected


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def worker_pids(server: Server) -> set[int]:
    """The server's worker processes (not multiprocessing's resource tracker)."""
    found = set()
    for child in psutil.Process(server.proc.pid).children():
        with contextlib.suppress(psutil.Error):
            if "spawn_main" in " ".join(child.cmdline()):
                found.add(child.pid)
    return found


def _slow_reader(base: str, cookie: str) -> Any:
    """A socket whose page stops reading as soon as it stops calling ``recv``."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(base.rsplit(":", 1)[1])))
    return session_socket(base, cookie, max_queue=1, sock=sock, compression=None)


def test_a_scrape_needs_the_admin_api_credentials(server: Server) -> None:
    assert scrape(server.url, token=None).status_code == 401
    assert scrape(server.url, token="not-the-token-0123456789").status_code == 403
    alice = login(server.url, "alice")
    cookie = requests.get(server.url + "/_quartdash/metrics", cookies={COOKIE: alice},
                          timeout=HTTP_TIMEOUT)
    assert cookie.status_code == 403  # a user, but the app admits no user as an admin
    good = scrape(server.url)
    assert good.status_code == 200
    assert good.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert good.headers["Cache-Control"] == "no-store"


async def test_every_scrape_reports_what_happened_on_both_workers(server: Server) -> None:
    base = server.url
    before = samples(base)
    cookie = login(base, "ann")
    async with contextlib.AsyncExitStack() as stack:
        # Sockets until both workers hold some (the kernel chooses).
        sockets = []
        workers: set[str] = set()
        while len(workers) < 2 or len(sockets) < 4:
            assert len(sockets) < MAX_SOCKETS, "every socket landed on one worker"
            ws = await stack.enter_async_context(session_socket(base, cookie))
            await call(ws, callback_request("hello", "out", "children", [("in", "value", 0)]))
            sockets.append(ws)
            listed = admin(base, "GET", "connections", token=TOKEN).json()
            workers = {info["worker"] for info in listed}
        opened = len(sockets)
        agree(base, {key("quartdash_connections"): opened})

        # Callbacks of every outcome, over both transports, spread over the sockets.
        for i, ws in enumerate(sockets):
            await call(ws, callback_request(f"e{i}", "out", "children", [("in", "value", i)]))
            await call(ws, callback_request(f"f{i}", "failed", "children", [("a", "n_clicks", i)]))
        await call(sockets[0], callback_request("s", "skipped", "children",
                                                [("b", "n_clicks", 1)]))
        for n in range(3):
            body = json.loads(callback_request("h", "plain", "children", [("p", "n_clicks", n)]))
            response = await asyncio.to_thread(
                requests.post, base + "/_dash-update-component", json=body["payload"],
                cookies={COOKIE: cookie}, headers={"Origin": base}, timeout=HTTP_TIMEOUT)
            assert response.status_code == 200, response.text

        # Handshakes refused: another site's page, and two with no login.
        with pytest.raises(InvalidStatus):
            async with open_socket(base, origin="https://elsewhere.test"):
                pass
        for _ in range(2):
            async with open_socket(base) as anonymous:
                assert (await closed_code(anonymous))[0] == 4401

        # A push reaches every socket of both workers.
        pushed = await asyncio.to_thread(requests.post, base + "/push",
                                         cookies={COOKIE: cookie}, headers={"Origin": base},
                                         timeout=HTTP_TIMEOUT)
        queued = pushed.json()["queued"]
        assert queued == opened

        # Closes: two by the page (no code from the server), one by the admin API.
        for ws in sockets[-2:]:
            await ws.close()
        closed_by_admin = admin(base, "GET", "connections", token=TOKEN).json()[0]["id"]
        assert admin(base, "POST", f"connections/{closed_by_admin}/close", token=TOKEN,
                     ).json() == {"closed": 1}

        agree(base, {
            key("quartdash_connections"): opened - 3,
            key("quartdash_callbacks_total", transport="websocket", outcome="ok"): 2 * opened,
            key("quartdash_callbacks_total", transport="websocket", outcome="error"): opened,
            key("quartdash_callbacks_total", transport="websocket", outcome="prevented"): 1,
            key("quartdash_callbacks_total", transport="websocket", outcome="cancelled"): 0,
            key("quartdash_callbacks_total", transport="http", outcome="ok"): 3,
            key("quartdash_callback_duration_seconds_count", transport="websocket"):
                3 * opened + 1,
            key("quartdash_callback_duration_seconds_count", transport="http"): 3,
            key("quartdash_handshakes_refused_total", reason="origin"): 1,
            key("quartdash_handshakes_refused_total", reason="auth"): 2,
            key("quartdash_handshakes_refused_total", reason="limit"): 0,
            key("quartdash_pushes_total"): 1,
            key("quartdash_push_deliveries_total"): opened,
            key("quartdash_connections_closed_total", code="client"): 2,
            key("quartdash_connections_closed_total", code="4401"): 1,
        }, before)
        agree(base, {key("quartdash_backplane_up"): 1})
        after = samples(base)
        assert figure(after, "quartdash_bytes_received_total") > figure(
            before, "quartdash_bytes_received_total")
        assert figure(after, "quartdash_frames_sent_total") >= 3 * opened + 1


async def test_set_props_coalesced_for_a_page_behind_are_counted(server: Server) -> None:
    """A page that stops reading while a callback sets one prop 3,000 times: what it
    then receives and what the scrape calls coalesced add up to 3,000."""
    base, n = server.url, 3000
    before = samples(base)
    cookie = login(base, "bo")
    async with _slow_reader(base, cookie) as ws:
        await ws.send(callback_request("b1", "burst-done", "children",
                                       [("burst", "n_clicks", n)]))
        await asyncio.sleep(2)  # not reading while the burst is sent
        got: list[int] = []
        async with asyncio.timeout(30):
            while True:
                batch = messages(await ws.recv())
                got += [m["payload"]["props"]["children"] for m in batch
                        if m.get("type") == "set_props"
                        and m["payload"]["componentId"] == "bulk"]
                if any(m.get("requestId") == "b1" for m in batch):
                    break
    assert got[-1] == n and got == sorted(got)
    assert len(got) < n, "nothing was coalesced: the page was never behind"
    agree(base, {key("quartdash_set_props_coalesced_total"): n - len(got)}, before)


async def open_on_both_workers(base: str, cookie: str, stack: contextlib.AsyncExitStack
                               ) -> dict[str, int]:
    """Sockets (each with one echo callback) until both workers hold some: how many
    each worker (``ConnectionInfo.worker``) holds."""
    by_worker: dict[str, int] = {}
    opened = 0
    while len(by_worker) < 2:
        assert opened < MAX_SOCKETS, "every socket landed on one worker"
        ws = await stack.enter_async_context(session_socket(base, cookie))
        await call(ws, callback_request(f"e{opened}", "out", "children", [("in", "value", 1)]))
        opened += 1
        by_worker = {}
        for info in admin(base, "GET", "connections", token=TOKEN).json():
            by_worker[info["worker"]] = by_worker.get(info["worker"], 0) + 1
    return by_worker


async def test_workers_restarted_keep_their_counts_and_leave_the_gauge(
        server: Server) -> None:
    """hypercorn restarts its workers (SIGHUP): every socket closes with 1001, the
    callbacks the old workers ran stay in the totals (nothing goes back), the gauge
    drops to 0, and the new workers count on from there."""
    base = server.url
    cookie = login(base, "cy")
    old = worker_pids(server)
    start = samples(base)
    async with contextlib.AsyncExitStack() as stack:
        opened = sum((await open_on_both_workers(base, cookie, stack)).values())
        # Listed (in Redis) a moment before the worker counts it, and callbacks written
        # to the shared files within FLUSH_SECONDS: poll for both before the baseline.
        agree(base, {key("quartdash_connections"): opened,
                     key("quartdash_callbacks_total", transport="websocket", outcome="ok"):
                         opened}, start)
        before = samples(base)
        os.kill(server.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + WAIT
        while len(worker_pids(server) - old) < 2:
            assert time.monotonic() < deadline, "hypercorn did not restart its workers"
            await asyncio.sleep(0.1)
        agree(base, {
            key("quartdash_connections"): 0,
            key("quartdash_callbacks_total", transport="websocket", outcome="ok"): 0,
            key("quartdash_connections_closed_total", code="1001"): opened,
        }, before)
    async with session_socket(base, login(base, "cy")) as ws:
        await call(ws, callback_request("again", "out", "children", [("in", "value", 2)]))
        agree(base, {
            key("quartdash_connections"): 1,
            key("quartdash_callbacks_total", transport="websocket", outcome="ok"): 1,
        }, before)


async def test_a_killed_worker_keeps_its_counts_and_leaves_the_gauge(
        redis: RedisServer, tmp_path: Path) -> None:
    """uvicorn with two workers, one killed (SIGKILL: no cleanup at all) and replaced
    by uvicorn's supervisor: the callbacks it ran stay in the totals and its sockets
    leave ``quartdash_connections``, whichever process answers the scrape. (hypercorn
    stops the whole server when a worker dies.)"""
    env = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN,
           "QUARTDASH_BACKPLANE": redis.url, "QUARTDASH_METRICS": "1"}
    with uvicorn(APP, tmp_path, workers=2, env=env) as running:
        base = running.url
        cookie = login(base, "di")
        async with contextlib.AsyncExitStack() as stack:
            start = samples(base)
            by_worker = await open_on_both_workers(base, cookie, stack)
            opened = sum(by_worker.values())
            # Every callback written to the shared files (within FLUSH_SECONDS) before
            # the kill, which loses what a worker has not written yet.
            agree(base, {key("quartdash_connections"): opened,
                         key("quartdash_callbacks_total", transport="websocket",
                             outcome="ok"): opened}, start)
            before = samples(base)
            victim_name, victim_sockets = sorted(by_worker.items())[0]
            victim = int(victim_name.rsplit(":", 1)[-1])
            assert victim in worker_pids(running)
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + WAIT
            while victim in worker_pids(running) or len(worker_pids(running)) < 2:
                assert time.monotonic() < deadline, "uvicorn did not replace the worker"
                await asyncio.sleep(0.1)
            agree(base, {
                key("quartdash_connections"): opened - victim_sockets,
                key("quartdash_callbacks_total", transport="websocket", outcome="ok"): 0,
            }, before)
