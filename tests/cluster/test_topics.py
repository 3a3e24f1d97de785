"""Push and topics on real processes (issue 17): ``hypercorn -w 2`` plus a second,
separate server on one real redis-server, serving ``tests/apps/topics_app.py``, and a
``quartdash.Publisher`` in a process of its own that shares only the Redis.

Every socket here is a real WebSocket client (``tests/authclient.py`` signs in over
HTTP), whose frames a reader task records as they arrive; the pushes come from the
app's routes (``POST /push``) on both servers, from ``push_sync`` in a thread of the
app, and from the Publisher. What each socket must receive is kept alongside, and
compared exactly: nothing missing, nothing twice, nothing out of order, nothing for a
socket or a tab the push did not select. Absence is checked by order, not by waiting:
a push returns once it is queued everywhere, so a round trip on a socket after it
(``Sub.sync``) comes back behind anything the push queued there."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from quartdash import CloseCode, Publisher
from quartdash.exceptions import BackplaneUnavailable
from quartdash.testing.servers import RedisServer, Server, hypercorn, log_shows, redis_server
from quartdash.testing.wsclient import ResumingClient, callback_request, messages, open_socket
from tests.authclient import COOKIE, SECRET, TOKEN, admin, login, logout, session_socket

APP = "tests.apps.topics_app:app"
PRESENCE_TTL = 2.0
WAIT = 10.0
HTTP_TIMEOUT = 10.0
TOPIC = "news"

#: A process with only the Redis URL: each line on stdin is the keywords of one
#: ``Publisher.push`` (``event`` as a list), each line on stdout its count.
PUBLISHER_SCRIPT = """
import asyncio, json, sys
from quartdash import Publisher

async def main():
    loop = asyncio.get_running_loop()
    async with Publisher(sys.argv[1]) as pub:
        print("ready", flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            kwargs = json.loads(line)
            if "event" in kwargs:
                kwargs["event"] = tuple(kwargs["event"])
            print(await pub.push(**kwargs), flush=True)

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


def cluster_env(redis: RedisServer, **more: str) -> dict[str, str]:
    return {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN,
            "QUARTDASH_BACKPLANE": f"{redis.url}?presence_ttl={PRESENCE_TTL}", **more}


@contextlib.contextmanager
def cluster(redis: RedisServer, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two servers of the topics app on one Redis: two workers, and one."""
    env = cluster_env(redis)
    with hypercorn(APP, tmp_path, workers=2, env=env) as first, \
         hypercorn(APP, tmp_path, env=env) as second:
        yield first, second


# --- sockets --------------------------------------------------------------------------------
class Sub:
    """One socket under test: a task records every message it receives, with when.
    ``id`` and ``worker`` are filled in from presence (``identify``)."""

    _ids = itertools.count()

    def __init__(self, name: str, ws: ClientConnection) -> None:
        self.name = name
        self.ws = ws
        self.got: list[tuple[float, dict[str, Any]]] = []
        self.close_code: int | None = None
        self.id = ""
        self.worker = ""
        self.session = ""
        self._arrived = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                now = time.perf_counter()
                self.got += [(now, m) for m in messages(frame)]
                self._arrived.set()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self._arrived.set()

    @property
    def closed(self) -> bool:
        return self._reader.done()

    async def until(self, done: Callable[[dict[str, Any]], bool],
                    timeout: float = WAIT) -> dict[str, Any]:
        """The first message received (so far or later) for which ``done`` holds."""
        seen = 0
        async with asyncio.timeout(timeout):
            while True:
                for _, message in self.got[seen:]:
                    if done(message):
                        return message
                seen = len(self.got)
                if self.closed:
                    raise AssertionError(f"{self.name} closed ({self.close_code}) while waiting")
                self._arrived.clear()
                await self._arrived.wait()

    async def call(self, output: str, prop: str, inputs: list[tuple[str, str, Any]],
                   renderer: str = "R") -> Any:
        """Run a callback of the page in tab ``renderer``; what it returned."""
        request_id = f"{self.name}-{next(self._ids)}"
        await self.ws.send(callback_request(request_id, output, prop, inputs, renderer))
        response = await self.until(lambda m: m.get("type") == "callback_response"
                                    and m.get("requestId") == request_id)
        assert response["payload"]["status"] == "ok", response
        return response["payload"]["data"]["response"][output][prop]

    async def join(self, topic: str, renderer: str = "R") -> None:
        assert await self.call("joined", "children", [("joined", "title", topic)],
                               renderer) == f"joined {topic}"

    async def leave(self, topic: str, renderer: str = "R") -> None:
        assert await self.call("left", "children", [("left", "title", topic)],
                               renderer) == f"left {topic}"

    async def sync(self) -> None:
        """A round trip: everything queued for this socket before it has arrived."""
        await self.call("who", "children", [("who", "id", "who")])

    def ticks(self) -> dict[str, list[Any]]:
        """The ``tick`` events received, by tab."""
        out: dict[str, list[Any]] = {}
        for _, m in self.got:
            if m.get("type") == "quartdash_event" and m["payload"]["event"] == "tick":
                out.setdefault(m["rendererId"], []).append(m["payload"]["data"])
        return out

    def feed(self, component: str = "feed") -> list[tuple[float, str, Any]]:
        """The ``set_props`` of ``component`` received: (when, tab, children)."""
        return [(at, m["rendererId"], m["payload"]["props"]["children"]) for at, m in self.got
                if m.get("type") == "set_props" and m["payload"]["componentId"] == component]


class Sockets:
    """The sockets a test opens, closed at its end."""

    def __init__(self, stack: contextlib.AsyncExitStack) -> None:
        self.stack = stack
        self.all: list[Sub] = []

    async def plain(self, name: str, server: Server, cookie: str) -> Sub:
        """A client that is not quartdash's worker (Dash's worker, a script)."""
        ws = await self.stack.enter_async_context(session_socket(server.url, cookie))
        return self._add(name, ws)

    async def ours(self, name: str, server: Server, cookie: str) -> Sub:
        """quartdash's worker (``?quartdash=1``, hello, welcome)."""
        client = ResumingClient(server.url)
        await client.connect(additional_headers={"Cookie": f"{COOKIE}={cookie}"})
        assert client.ws is not None
        self.stack.push_async_callback(client.ws.close)
        return self._add(name, client.ws)

    def _add(self, name: str, ws: ClientConnection) -> Sub:
        sub = Sub(name, ws)
        self.all.append(sub)
        return sub


@contextlib.asynccontextmanager
async def sockets() -> AsyncIterator[Sockets]:
    async with contextlib.AsyncExitStack() as stack:
        yield Sockets(stack)


# --- the app's routes -----------------------------------------------------------------------
def presence(server: Server, topic: str) -> tuple[str, list[dict[str, Any]]]:
    """The answering worker's pid, and the topic's subscribers it lists."""
    response = requests.get(server.url + "/presence", params={"topic": topic},
                            timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    infos: list[dict[str, Any]] = response.json()
    return response.headers["X-Worker"], infos


def route_push(server: Server, **body: Any) -> tuple[int, str]:
    """Push from a route of ``server``: the count, and the pid of the worker that pushed."""
    response = requests.post(server.url + "/push", json=body, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return int(response.json()["queued"]), str(response.json()["worker"])


async def identify(server: Server, subs: list[Sub]) -> None:
    """Fill in each socket's connection id, worker and session from presence: each
    socket joined its own topic ``me-<name>``."""
    for sub in subs:
        deadline = time.monotonic() + WAIT
        while len(infos := (await asyncio.to_thread(presence, server, f"me-{sub.name}"))[1]) != 1:
            assert time.monotonic() < deadline, (sub.name, infos)
            await asyncio.sleep(0.02)
        sub.id, sub.worker = infos[0]["id"], infos[0]["worker"]
        sub.session = infos[0]["session"]


async def listed_everywhere(servers: dict[Server, int], topic: str, expected: set[str],
                            timeout: float = WAIT) -> None:
    """Poll ``GET /presence?topic=`` until every worker of each server (``servers``:
    how many it has) lists exactly the ids ``expected``."""
    seen: dict[Server, set[str]] = {server: set() for server in servers}
    last: dict[Server, list[str]] = {}
    deadline = time.monotonic() + timeout
    while any(len(seen[server]) < workers for server, workers in servers.items()):
        for server, workers in servers.items():
            if len(seen[server]) < workers:
                pid, infos = await asyncio.to_thread(presence, server, topic)
                ids = sorted(info["id"] for info in infos)
                last[server] = ids
                if set(ids) == expected and len(ids) == len(expected):
                    seen[server].add(pid)
        assert time.monotonic() < deadline, (
            f"presence of {topic!r}: expected {sorted(expected)}, the workers that answered "
            f"listed {[(s.url, ids) for s, ids in last.items()]}, in agreement: {seen}")
        await asyncio.sleep(0.02)


async def listed(servers: list[Server], topic: str, expected: set[str]) -> None:
    """Poll until a worker of each server lists exactly ``expected`` for ``topic``."""
    await listed_everywhere(dict.fromkeys(servers, 1), topic, expected)


@contextlib.asynccontextmanager
async def publisher_process(redis: RedisServer) -> AsyncIterator[Callable[..., Any]]:
    """A ``python -c`` process running ``Publisher``: yields ``push(**kwargs) -> int``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PUBLISHER_SCRIPT, redis.url,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    async def push(**kwargs: Any) -> int:
        stdin.write(json.dumps(kwargs).encode() + b"\n")
        await stdin.drain()
        return int(await asyncio.wait_for(stdout.readline(), WAIT))

    try:
        assert await asyncio.wait_for(stdout.readline(), 30) == b"ready\n"
        yield push
    finally:
        stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def spread(opened: Sockets, prefix: str, server: Server, cookie: str,
                 count: int) -> list[Sub]:
    """``count`` (2 or more) sockets on ``server``, a ``hypercorn -w 2``, on both of
    its workers, each joined to ``me-<name>`` and identified. The kernel hands a new
    connection to whichever worker accepts first, often the same one every time; so
    while the second is opened, the workers that hold one are stopped (SIGSTOP), and
    the other one takes it."""
    subs: list[Sub] = []
    for i in range(count):
        held = {int(sub.worker.rsplit(":", 1)[1]) for sub in subs}
        stopped = held if len(held) == 1 else set()
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        try:
            sub = await opened.plain(f"{prefix}{i}", server, cookie)
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
        await sub.join(f"me-{sub.name}")
        await identify(server, [sub])
        subs.append(sub)
    assert len({sub.worker for sub in subs}) == 2, [sub.worker for sub in subs]
    return subs


# --- the tests ------------------------------------------------------------------------------
async def test_pushes_by_topic_reach_every_subscriber_once_in_order_from_everywhere(
        redis: RedisServer, tmp_path: Path) -> None:
    """Sockets on both servers and both workers of the first; 50 numbered pushes by
    topic alternating between a route of each server (async, and ``push_sync`` from a
    thread) and a Publisher process: each subscriber gets each once, in order, and each
    push counts every subscriber. Presence lists them all from every process. Then
    unsubscribing, a tab's leave (from a plain client and from quartdash's worker), a
    socket's close, a logout, the admin API's close and ``close(topic=)`` each take
    the socket out of presence and out of the next push."""
    with cluster(redis, tmp_path) as (first, second):
        alice, bob, carol = (login(first.url, "alice"), login(second.url, "bob"),
                             login(first.url, "carol"))
        async with sockets() as opened, publisher_process(redis) as publisher:
            subs = await spread(opened, "a", first, alice, 4)
            more = [await opened.plain("b0", second, bob),
                    await opened.plain("b1", second, bob),
                    await opened.plain("c0", first, carol),
                    await opened.plain("c1", second, carol),
                    await opened.plain("t2", second, bob),
                    await opened.ours("q0", first, bob)]
            for sub in more:
                await sub.join(f"me-{sub.name}")
            await identify(first, more)
            subs += more
            a0, a1, a2, b0, b1, c0, c1, t2, q0 = (*subs[:3], *more)
            assert len({s.worker for s in subs}) == 3  # both of first's, and second's
            # Who should get what, by (socket, tab); t2 joins from two tabs.
            expected: dict[tuple[str, str], list[int]] = {}
            for sub in subs:
                await sub.join(TOPIC)
                expected[(sub.name, "R")] = []
            await t2.join(TOPIC, "R2")
            expected[(t2.name, "R2")] = []
            await listed_everywhere({first: 2, second: 1}, TOPIC, {s.id for s in subs})
            # The admin API (and the command line) lists the same presence.
            response = admin(second.url, "GET", "connections", token=TOKEN,
                             query={"topic": TOPIC})
            assert {info["id"] for info in response.json()} == {s.id for s in subs}
            assert all(TOPIC in info["topics"] for info in response.json())

            sources: list[Callable[[int], Any]] = [
                lambda n: asyncio.to_thread(route_push, first, topic=TOPIC, seq=n, event=n),
                lambda n: asyncio.to_thread(route_push, second, topic=TOPIC, seq=n, event=n),
                lambda n: asyncio.to_thread(route_push, first, topic=TOPIC, seq=n, event=n,
                                            sync=True),
                lambda n: publisher(topic=TOPIC, set_props={"feed": {"children": n}},
                                    event=["tick", n]),
            ]
            seq = itertools.count(1)
            gone_tabs: set[tuple[str, str]] = set()

            async def push_to(members: list[Sub]) -> int:
                """One numbered push from the next source; its count is checked."""
                n = next(seq)
                result = await sources[n % len(sources)](n)
                count = result[0] if isinstance(result, tuple) else result
                assert count == len(members), (n, count, [s.name for s in members])
                for key in expected:
                    if key[0] in {s.name for s in members} and key not in gone_tabs:
                        expected[key].append(n)
                return n

            started = time.perf_counter()
            for _ in range(50):
                last = await push_to(subs)
            for sub in subs:
                await sub.until(lambda m, last=last: m.get("type") == "quartdash_event"
                                and m["payload"]["data"] == last)
            print(f"50 pushes to {len(subs)} subscribers over 3 workers and a publisher "
                  f"process: {(time.perf_counter() - started) * 1000:.0f} ms")
            for sub in subs:
                assert [v for _, tab, v in sub.feed() if tab == "R"] == list(range(1, 51))
                assert sub.ticks() == {tab: expected[(name, tab)] for name, tab in expected
                                       if name == sub.name}, sub.name

            async def removed(gone: list[Sub], still_open: bool = True) -> None:
                """``gone`` left the topic: presence and the next push say so."""
                for sub in gone:
                    subs.remove(sub)
                await listed([first, second], TOPIC, {s.id for s in subs})
                n = await push_to(subs)
                for sub in subs:
                    await sub.until(lambda m, n=n: m.get("type") == "quartdash_event"
                                    and m["payload"]["data"] == n)
                if still_open:
                    for sub in gone:
                        await sub.sync()  # open, and nothing of that push queued for it

            await a0.leave(TOPIC)  # the callback unsubscribes its tab
            await removed([a0])
            leave = json.dumps({"type": "quartdash_leave", "v": 1, "rendererId": "R"})
            await b0.ws.send(leave)  # a plain client's tab leave is acted on too
            await removed([b0])
            # one of t2's two tabs leaves: the socket stays subscribed through the other
            await t2.ws.send(json.dumps({"type": "quartdash_leave", "v": 1, "rendererId": "R2"}))
            gone_tabs.add((t2.name, "R2"))
            await t2.sync()
            await removed([])
            await t2.ws.send(leave)
            await removed([t2])
            await q0.ws.send(leave)  # quartdash's worker says a tab left
            await removed([q0])
            await b1.ws.close()
            await removed([b1], still_open=False)
            assert logout(first.url, carol).status_code == 303
            await removed([c0, c1], still_open=False)
            assert {c0.close_code, c1.close_code} == {CloseCode.SESSION_ENDED}
            response = admin(second.url, "POST", f"connections/{a1.id}/close", token=TOKEN)
            assert response.json() == {"closed": 1}, response.text
            await removed([a1], still_open=False)
            assert a1.close_code == CloseCode.SESSION_ENDED
            closed = await asyncio.to_thread(requests.post, first.url + "/close",
                                             json={"topic": f"me-{a2.name}"},
                                             timeout=HTTP_TIMEOUT)
            assert closed.json() == {"closed": 1}
            await removed([a2], still_open=False)
            assert subs, "some subscribers are left to the end"

            for sub in opened.all:
                if not sub.closed:
                    await sub.sync()
                got = sub.ticks()
                want = {tab: expected[(name, tab)] for name, tab in expected
                        if name == sub.name}
                assert got == want, sub.name
            await listed_everywhere({first: 2, second: 1}, TOPIC, {s.id for s in subs})
        for server in (first, second):
            assert "Traceback" not in server.log


async def test_pushes_by_user_and_session_reach_exactly_those_sockets(
        redis: RedisServer, tmp_path: Path) -> None:
    """alice in two sessions with sockets on every worker, bob too: a push by user or
    by session reaches exactly the sockets of that user or session, wherever they
    are, once each, and counts them; a socket with two tabs gets it in both (one
    frame per tab for a plain client, one for every tab to quartdash's worker)."""
    with cluster(redis, tmp_path) as (first, second):
        alice1, alice2 = login(first.url, "alice"), login(second.url, "alice")
        bob = login(second.url, "bob")
        assert alice1 != alice2
        async with sockets() as opened, Publisher(redis.url) as publisher:
            subs: list[Sub] = []
            for name, cookie in (("x", alice1), ("y", alice2), ("b", bob)):
                subs += await spread(opened, name, first, cookie, 2)
                sub = await opened.plain(f"{name}-second", second, cookie)
                await sub.join(f"me-{sub.name}")
                await identify(second, [sub])
                subs.append(sub)
            by: dict[str, list[Sub]] = {
                "alice": [s for s in subs if s.name[0] in "xy"],
                "bob": [s for s in subs if s.name[0] == "b"],
                "s1": [s for s in subs if s.name[0] == "x"],
                "s2": [s for s in subs if s.name[0] == "y"],
            }
            session1, session2 = by["s1"][0].session, by["s2"][0].session
            assert session1 != session2
            assert {s.session for s in by["s1"]} == {session1}
            for group in by.values():
                assert len({s.worker for s in group}) == 3, [s.worker for s in group]

            expected: dict[str, list[int]] = {s.name: [] for s in subs}
            pushes: list[tuple[str, Callable[[int], Any], list[Sub]]] = [
                ("user=alice from a route", lambda n: asyncio.to_thread(
                    route_push, second, user="alice", seq=n, event=n), by["alice"]),
                ("session 1 from a route, push_sync", lambda n: asyncio.to_thread(
                    route_push, first, session=session1, seq=n, event=n, sync=True), by["s1"]),
                ("session 2 from a Publisher", lambda n: publisher.push(
                    session=session2, set_props={"feed": {"children": n}}, event=("tick", n)),
                 by["s2"]),
                ("user=bob from a route", lambda n: asyncio.to_thread(
                    route_push, first, user="bob", seq=n, event=n), by["bob"]),
                ("one connection", lambda n: asyncio.to_thread(
                    route_push, second, connection=by["s1"][0].id, seq=n, event=n),
                 by["s1"][:1]),
                ("everyone", lambda n: asyncio.to_thread(
                    route_push, first, everyone=True, seq=n, event=n), subs),
            ]
            for n, (what, push, reached) in enumerate(pushes * 2, start=1):
                result = await push(n)
                count = result[0] if isinstance(result, tuple) else result
                assert count == len(reached), (what, count, [s.name for s in reached])
                for sub in reached:
                    expected[sub.name].append(n)
            for sub in subs:  # the last push went to everyone: all before it has arrived
                await sub.until(lambda m, n=n: m.get("type") == "quartdash_event"
                                and m["payload"]["data"] == n)
                assert sub.ticks() == {"R": expected[sub.name]}, sub.name
                assert [v for _, _, v in sub.feed()] == expected[sub.name], sub.name

            # Two tabs of one socket that made callbacks: a push by user reaches both.
            tabs = await opened.plain("tabs", second, bob)
            ours = await opened.ours("ours", first, bob)
            for sub in (tabs, ours):
                for tab in ("T1", "T2"):
                    await sub.call("who", "children", [("who", "id", "who")], tab)
            count, _ = await asyncio.to_thread(route_push, first, user="bob", seq=99, event=99)
            assert count == len(by["bob"]) + 2
            for sub in by["bob"]:
                await sub.until(lambda m: m.get("type") == "quartdash_event"
                                and m["payload"]["data"] == 99)
            await tabs.sync()
            await ours.sync()
            assert tabs.ticks() == {"T1": [99], "T2": [99]}
            assert sorted((tab, v) for _, tab, v in tabs.feed()) == [("T1", 99), ("T2", 99)]
            assert ours.ticks() == {"": [99]}  # the worker gives it to each of its tabs
            assert [(tab, v) for _, tab, v in ours.feed()] == [("", 99)]
        for server in (first, second):
            assert "Traceback" not in server.log


def _slow_reader(server: Server, cookie: str) -> Any:
    """A socket whose client stops reading when it stops calling ``recv``: a small
    receive buffer, websockets' own buffer of one frame, no compression."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    return open_socket(server.url, max_queue=1, sock=sock, compression=None,
                       additional_headers={"Cookie": f"{COOKIE}={cookie}"})


async def _timed_pushes(publisher: Publisher, readers: list[Sub], first: int, n: int,
                        count: int | None, events: bool = False,
                        ) -> tuple[list[float], list[float], list[int]]:
    """``n`` numbered pushes to the topic (``set_props`` of ``feed``, or ``tick``
    events), one after another as fast as they return, each counting ``count``
    sockets (None: not checked): each push's time to reach the last reader, each
    call's own time, and the counts."""
    starts, calls, counts = [], [], []
    for k in range(first, first + n):
        started = time.perf_counter()
        if events:
            queued = await publisher.push(topic=TOPIC, event=("tick", k))
        else:
            queued = await publisher.push(topic=TOPIC, set_props={"feed": {"children": k}})
        calls.append(time.perf_counter() - started)
        starts.append(started)
        counts.append(queued)
        assert count is None or queued == count, (k, queued)
    last = first + n - 1
    kind = "quartdash_event" if events else "set_props"

    def value(m: dict[str, Any]) -> Any:
        return m["payload"]["data"] if events else m["payload"]["props"]["children"]

    reached = [0.0] * n
    for sub in readers:
        await sub.until(lambda m: m.get("type") == kind and value(m) == last, timeout=30)
        arrived = sorted((value(m), at) for at, m in sub.got
                         if m.get("type") == kind and first <= value(m) <= last)
        # the first value at or past k: a reader that fell behind may see props merged
        i = 0
        for k in range(first, first + n):
            while arrived[i][0] < k:
                i += 1
            reached[k - first] = max(reached[k - first], arrived[i][1])
    return [at - started for at, started in zip(reached, starts, strict=True)], calls, counts


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


async def _fill(publisher: Publisher, pad: str) -> None:
    """Push 10 MB to the topic only the stalled socket has: more than the network
    holds for it, so its sends block."""
    for k in range(1, 161):
        assert await publisher.push(topic="fill", set_props={
            "bulk": {"children": {"k": k, "pad": pad}}}) == 1


async def test_a_page_that_stops_reading_does_not_slow_the_others(
        redis: RedisServer, tmp_path: Path) -> None:
    """20 readers and one socket that stopped reading, on one topic, pushed to as
    fast as pushes return: the readers get everything as fast as with no such socket;
    the stalled socket's set_props coalesce to the latest; events, which never merge,
    fill its queue until it is closed with 1013; the readers go on unaffected."""
    env = cluster_env(redis, QUARTDASH_MAX_PENDING_FRAMES="100",
                      QUARTDASH_MAX_PENDING_BYTES=str(1 << 20), QUARTDASH_SEND_TIMEOUT="600")
    pad = "x" * (64 << 10)
    with hypercorn(APP, tmp_path, env=env) as server:
        async with sockets() as opened, Publisher(redis.url) as publisher:
            readers = []
            cookie = login(server.url, "reader")
            for i in range(20):
                sub = await opened.plain(f"r{i}", server, cookie)
                await sub.join(TOPIC)
                readers.append(sub)
            reader_ids = set(await _ids(server, TOPIC))
            assert len(reader_ids) == 20
            baseline, baseline_calls, _ = await _timed_pushes(publisher, readers, 1, 100, 20)
            async with _slow_reader(server, cookie) as stuck:
                for topic in (TOPIC, "fill", "me-stuck"):
                    await stuck.send(callback_request(topic, "joined", "children",
                                                      [("joined", "title", topic)]))
                    async with asyncio.timeout(WAIT):
                        while not any(m.get("requestId") == topic
                                      for m in messages(await stuck.recv())):
                            pass
                (stuck_id,) = await _ids(server, "me-stuck")
                await _fill(publisher, pad)  # from here on it reads nothing
                stalled, stalled_calls, _ = await _timed_pushes(publisher, readers, 101, 300, 21)
                print(f"push to the last of 20 readers, p90: {_p90(baseline) * 1000:.1f} ms "
                      f"alone, {_p90(stalled) * 1000:.1f} ms beside a stalled socket (max "
                      f"{max(stalled) * 1000:.1f} ms); push call p90 "
                      f"{_p90(baseline_calls) * 1000:.1f} / {_p90(stalled_calls) * 1000:.1f} ms")
                assert _p90(stalled) <= 3 * _p90(baseline) + 0.1, (baseline, stalled)
                assert _p90(stalled_calls) <= 3 * _p90(baseline_calls) + 0.1
                for sub in readers:
                    assert [v for _, _, v in sub.feed()] == list(range(1, 401)), sub.name

                # Read what waited: what the network held, in order, then only the
                # latest of each prop (coalesced while it was behind).
                got: list[dict[str, Any]] = []
                async with asyncio.timeout(30):
                    while not any(m.get("type") == "set_props"
                                  and m["payload"]["props"]["children"] == 400 for m in got):
                        got += messages(await stuck.recv())
                feed = [m["payload"]["props"]["children"] for m in got
                        if m["payload"]["componentId"] == "feed"]
                bulk = [m["payload"]["props"]["children"]["k"] for m in got
                        if m["payload"]["componentId"] == "bulk"]
                print(f"the stalled socket got {len(bulk)} of 160 fill pushes and "
                      f"{len(feed)} of 300 set_props")
                assert feed == sorted(feed) and feed[-1] == 400 and len(feed) < 300
                assert bulk == sorted(bulk) and bulk[-1] == 160 and len(bulk) < 160
                assert f"disconnect id={stuck_id} " not in server.log  # coalesced: kept open
                assert stuck_id in await _ids(server, TOPIC)

                # Stalled again, events never merge: its queue reaches the limit, and
                # it is closed; the readers get every event as fast as before.
                await _fill(publisher, pad)
                events, _, counts = await _timed_pushes(publisher, readers, 401, 150, None,
                                                        events=True)
                # counted until it was closed, then not any more
                assert counts == sorted(counts, reverse=True) and set(counts) == {21, 20}
                await log_shows(server, f"disconnect id={stuck_id} ")
                line = next(line for line in server.log.splitlines()
                            if f"disconnect id={stuck_id} " in line)
                assert " code=1013" in line, line
                await listed([server], TOPIC, reader_ids)
                assert _p90(events) <= 3 * _p90(baseline) + 0.1, (baseline, events)
                got = []
                with contextlib.suppress(ConnectionClosed):
                    async with asyncio.timeout(30):
                        while True:
                            got += messages(await stuck.recv())
            ticks = [m["payload"]["data"] for m in got if m.get("type") == "quartdash_event"]
            assert ticks == sorted(ticks) and len(ticks) < 150
            # The readers were not touched: every event, in order, and still open.
            for sub in readers:
                assert sub.ticks() == {"R": list(range(401, 551))}, sub.name
                await sub.sync()
            assert await publisher.push(topic=TOPIC, event=("tick", 0)) == 20
        assert "Traceback" not in server.log


async def _ids(server: Server, topic: str) -> list[str]:
    _, infos = await asyncio.to_thread(presence, server, topic)
    return [info["id"] for info in infos]


async def test_redis_outage_pushes_stay_local_then_recover_by_themselves(
        redis: RedisServer, tmp_path: Path) -> None:
    """While Redis is down a push from a route reaches the subscribers of the worker
    that made it (and counts only those), a Publisher cannot push at all, and the log
    says the cluster is degraded; once Redis is back, pushes reach every server again
    with nothing done by anyone."""
    with cluster(redis, tmp_path) as (first, second):
        dave = login(first.url, "dave")
        async with sockets() as opened:
            # first's on both of its workers: whichever answers the route has some.
            subs = await spread(opened, "d", first, dave, 3)
            for i in (3, 4):
                sub = await opened.plain(f"d{i}", second, dave)
                await sub.join(f"me-d{i}")
                subs.append(sub)
            await identify(second, subs[3:])
            for sub in subs:
                await sub.join(TOPIC)
            await listed([first, second], TOPIC, {s.id for s in subs})
            on_second = subs[3:]
            redis.stop()
            try:
                await log_shows(second, "cluster degraded")
                count, _ = await asyncio.to_thread(route_push, second, topic=TOPIC, seq=1,
                                                   event=1)
                assert count == len(on_second)  # this server's own subscribers only
                for sub in on_second:
                    await sub.until(lambda m: m.get("type") == "quartdash_event"
                                    and m["payload"]["data"] == 1)
                count, pid = await asyncio.to_thread(route_push, first, topic=TOPIC, seq=2,
                                                     event=2)
                local = [s for s in subs if s.worker.endswith(f":{pid}")]
                assert local and count == len(local), (count, pid, [s.worker for s in subs])
                for sub in local:
                    await sub.until(lambda m: m.get("type") == "quartdash_event"
                                    and m["payload"]["data"] == 2)
                assert "cluster degraded" in first.log
                with pytest.raises(BackplaneUnavailable):
                    async with Publisher(redis.url) as publisher:
                        await publisher.push(topic=TOPIC, event=("tick", 0))
            finally:
                redis.start()
            # Presence back everywhere means every worker is subscribed again.
            await listed_everywhere({first: 2, second: 1}, TOPIC, {s.id for s in subs},
                                    timeout=15)
            count, _ = await asyncio.to_thread(route_push, second, topic=TOPIC, seq=3, event=3)
            assert count == len(subs)
            async with Publisher(redis.url) as publisher:
                assert await publisher.push(topic=TOPIC, event=("tick", 4)) == len(subs)
            for sub in subs:
                await sub.until(lambda m: m.get("type") == "quartdash_event"
                                and m["payload"]["data"] == 4)
                want = [1] if sub in on_second else [2] if sub in local else []
                assert sub.ticks() == {"R": [*want, 3, 4]}, sub.name
        for server in (first, second):
            assert "Traceback" not in server.log


async def test_a_worker_that_was_idle_is_listed_by_the_others_at_once(
        redis: RedisServer, tmp_path: Path) -> None:
    """``subscribe`` returns once every process lists the socket on the topic; so
    does it on a worker that had no socket a moment ago. A listing used to drop such
    a worker from the set of workers (its presence hash was empty), and nothing put
    it back until its next presence refresh (a third of the TTL): meanwhile no other
    process listed its new sockets. The TTL is long here, so a refresh cannot come
    in between by chance."""
    env = cluster_env(redis, QUARTDASH_BACKPLANE=f"{redis.url}?presence_ttl=60")
    with hypercorn(APP, tmp_path, workers=2, env=env) as first, \
         hypercorn(APP, tmp_path, env=env) as second:
        cookie = login(first.url, "idle")
        await log_shows(first, "cluster connected")
        for i in range(3):
            await listed([first, second], TOPIC, set())  # both idle, and listed as such
            async with sockets() as opened:
                sub = await opened.plain(f"i{i}", first, cookie)
                await sub.join(TOPIC)
                _, infos = await asyncio.to_thread(presence, second, TOPIC)
                assert len(infos) == 1, f"round {i}: the other process lists {infos}"


async def test_push_sync_refuses_the_event_loop_and_works_from_a_thread() -> None:
    """In process: ``push_sync`` before the app serves and on the loop's own thread
    raises ``RuntimeError`` (it would block the loop it needs); from a thread it
    pushes, and counts."""
    from quartdash import QuartDash, html

    app = QuartDash(__name__)
    app.layout = html.Div(id="feed")
    with pytest.raises(RuntimeError, match="not serving"):
        app.connections.push_sync(everyone=True, set_props={"feed": {"children": 1}})
    async with app.server.test_app():
        with pytest.raises(RuntimeError, match="block the event loop"):
            app.connections.push_sync(everyone=True, set_props={"feed": {"children": 1}})
        assert await asyncio.to_thread(
            lambda: app.connections.push_sync(everyone=True, event=("tick", 1))) == 0
        with pytest.raises(ValueError, match="exactly one"):
            await asyncio.to_thread(
                lambda: app.connections.push_sync(set_props={"feed": {"children": 1}}))


async def test_a_subscription_survives_a_resume_and_the_parked_page_misses_nothing(
        tmp_path: Path) -> None:
    """A page whose socket drops is kept for its resume with its subscriptions: pushes
    made meanwhile count it and reach it, in order, when it comes back."""
    env = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_RESUME_GRACE": "10"}
    with hypercorn("tests.apps.topics_app:app", tmp_path, env=env, ready_path=None) as server:
        cookie = login(server.url, "alice")
        async with ResumingClient(server.url) as client:
            headers = {"Cookie": f"{COOKIE}={cookie}"}
            welcome = await client.connect(additional_headers=headers)
            assert client.ws is not None
            await client.ws.send(callback_request("j", "joined", "children",
                                                  [("joined", "title", TOPIC)]))
            await client.until(lambda m: m.get("requestId") == "j")
            client.drop()  # no close frame: the connection is parked
            await log_shows(server, "kept 10 s for a resume")
            for n in (1, 2, 3):
                count, _ = await asyncio.to_thread(route_push, server, topic=TOPIC, event=n)
                assert count == 1  # the parked page is still subscribed
            again = await client.connect(resume=True, additional_headers=headers)
            assert again["resumed"] is True and again["id"] == welcome["id"]
            await client.until(lambda m: m.get("type") == "quartdash_event"
                               and m["payload"]["data"] == 3)
            assert [m["payload"]["data"] for m in client.messages
                    if m.get("type") == "quartdash_event"] == [1, 2, 3]
