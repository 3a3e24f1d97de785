"""The revocation list (issue 14, points 6 and 7): a purge costs what expires, tokens
that never expire stay revoked, Redis holds a constant number of keys and a reconnect
rewrites only what Redis lost, and a login right after "close this user" works.

Pure tests first, then the app in process, then a real redis-server, then real
hypercorn servers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import itertools
import math
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from quart import Quart
from quart_auth import QuartAuth
from quart_auth.extension import _AuthSerializer
from redis.asyncio import Redis
from redis.exceptions import RedisError

from quartdash import CloseCode, QuartDash
from quartdash.auth.sessions import Revocations, SessionToken
from quartdash.cluster import wire
from quartdash.cluster.models import Revocation
from quartdash.cluster.redis import RedisBackplane
from quartdash.testing.servers import RedisServer, Server, hypercorn, redis_server
from tests.auth.test_sessions import ORIGIN, WS, ask_identity, browser, close_code, make_app
from tests.authclient import (
    COOKIE,
    SECRET,
    TOKEN,
    admin,
    closed_code,
    login,
    logout,
    session_socket,
    who,
)

YEAR = 365 * 24 * 3600.0


def token(user: str = "alice", session: str = "s1", issued: float = 100.0) -> SessionToken:
    return SessionToken(user, session, issued, issued + 10)


# --- the pure list ----------------------------------------------------------------------------
def test_purge_costs_what_expires_not_what_is_kept() -> None:
    """200,000 entries kept, 10 due: the purge takes microseconds (the list used to be
    rebuilt whole each second: 37 to 50 ms here, 443 ms at a million)."""
    now = 1_000_000.0
    revocations = Revocations()
    for i in range(200_000):
        revocations.add(Revocation(now + YEAR + i, session=f"kept-{i}"))
    timings, gone = [], []
    for trial in range(3):
        for j in range(10):
            revocations.add(Revocation(now + trial + 0.5, session=f"due-{trial}-{j}"))
        gc.disable()  # a collection of 200,000 tuples is not the purge's cost
        try:
            started = time.perf_counter()
            gone.append(revocations.purge(now + trial + 1))
            timings.append(time.perf_counter() - started)
        finally:
            gc.enable()
    print(f"\npurge of 10 among 200,000: best {min(timings) * 1000:.3f} ms, "
          f"worst {max(timings) * 1000:.3f} ms")
    assert min(timings) < 0.005
    assert gone == [10, 10, 10] and len(revocations) == 200_000


def test_entries_for_tokens_that_never_expire_are_never_purged() -> None:
    revocations = Revocations()
    revocations.add(Revocation(math.inf, session="forever"))
    revocations.add(Revocation(math.inf, user="bob", before=50.0))
    revocations.add(Revocation(10.0, session="brief"))
    assert revocations.purge(1e308) == 1
    assert len(revocations) == 2
    assert revocations.revoked(token(session="forever"))
    assert revocations.revoked(token("bob", "s9", issued=50.0))
    assert not revocations.revoked(token("bob", "s9", issued=50.000001))
    assert not revocations.revoked(token(session="brief"))


class Reference:
    """The list's meaning, written the plain way (the old implementation): each session
    or user keeps its latest ``until`` (and ``before``), a purge drops ``until <= now``."""

    def __init__(self) -> None:
        self.sessions: dict[str, float] = {}
        self.users: dict[str, tuple[float, float]] = {}

    def add(self, entry: Revocation) -> None:
        if entry.session is not None:
            self.sessions[entry.session] = max(entry.until, self.sessions.get(entry.session, 0))
        if entry.user is not None and entry.before is not None:
            before, until = self.users.get(entry.user, (entry.before, entry.until))
            self.users[entry.user] = (max(before, entry.before), max(until, entry.until))

    def purge(self, now: float) -> None:
        self.sessions = {s: u for s, u in self.sessions.items() if u > now}
        self.users = {u: e for u, e in self.users.items() if e[1] > now}

    def entries(self) -> set[Revocation]:
        return {Revocation(u, session=s) for s, u in self.sessions.items()} | {
            Revocation(u, user=user, before=b) for user, (b, u) in self.users.items()}


_times = st.one_of(st.integers(1, 40).map(float), st.just(math.inf))
_ops = st.lists(st.one_of(
    st.tuples(st.just("session"), st.sampled_from("abcd"), _times),
    st.tuples(st.just("user"), st.sampled_from("xyz"), _times, st.integers(0, 40).map(float)),
    st.tuples(st.just("purge"), st.integers(0, 45).map(float)),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(_ops)
def test_the_heap_list_means_what_the_plain_list_means(ops: list[tuple[Any, ...]]) -> None:
    revocations, reference = Revocations(), Reference()
    for op in ops:
        if op[0] == "purge":
            revocations.purge(op[1])
            reference.purge(op[1])
        else:
            entry = (Revocation(op[2], session=op[1]) if op[0] == "session"
                     else Revocation(op[2], user=op[1], before=op[3]))
            revocations.add(entry)
            reference.add(entry)
        assert set(revocations.entries()) == reference.entries()
        assert len(revocations) == len(reference.entries())
        for user in "xyz":
            for issued in (0.0, 20.0, 20.5, 40.0):
                probe = token(user, "none", issued)
                before = reference.users.get(user)
                assert revocations.revoked(probe) == (before is not None and issued <= before[0])


# --- the app in process -------------------------------------------------------------------------
@pytest.fixture
async def app() -> AsyncIterator[QuartDash]:
    quartdash_app = make_app()
    async with quartdash_app.server.test_app():
        yield quartdash_app


@pytest.fixture
async def forever() -> AsyncIterator[QuartDash]:
    """The app with logins that never expire (quart-auth's duration None)."""
    quartdash_app = make_app()
    assert quartdash_app.auth is not None
    quartdash_app.auth.duration = None
    async with quartdash_app.server.test_app():
        yield quartdash_app


def cookie_of(client: Any) -> str:
    return str(next(c.value for c in client.cookie_jar if c.name == COOKIE))


async def test_the_cookie_carries_a_sub_second_issue_time(app: QuartDash) -> None:
    client = browser(app)
    await client.post("/login/alice")
    cookie = cookie_of(client)
    assert app.auth is not None
    plain = _AuthSerializer(app.server.secret_key, str(app.auth.salt))  # quart-auth's own
    payload, signed = plain.loads(cookie, return_timestamp=True)
    assert set(payload) == {"u", "s", "t"} and isinstance(payload["t"], float)
    assert 0 <= payload["t"] - signed.timestamp() < 1
    sessions = app.sessions
    assert sessions is not None
    read = sessions.read(cookie, app=app.server)
    assert read is not None and read.issued_at == payload["t"]
    # A cookie signed before the issue time was carried: itsdangerous's whole second.
    older = plain.dumps({"u": "bob", "s": "sid"})
    read = sessions.read(older, app=app.server)
    assert read is not None and read.issued_at == int(read.issued_at)


async def test_login_at_once_after_close_user_is_valid(app: QuartDash) -> None:
    """The same second as the close: refused everywhere before (whole-second times)."""
    before, after = browser(app), browser(app)
    await before.post("/login/alice")
    assert (await before.get("/whoami")).status_code == 200
    await app.connections.close(user="alice")
    await after.post("/login/alice")
    assert (await after.get("/whoami")).status_code == 200
    async with after.websocket(WS, headers=ORIGIN) as ws:
        assert (await ask_identity(ws)).startswith("alice|")
    assert (await before.get("/whoami")).status_code == 401  # issued before: still revoked
    await before.post("/login/alice")  # the same browser signs in again
    assert (await before.get("/whoami")).status_code == 200


async def test_revocations_of_tokens_that_never_expire_outlive_every_purge(
        forever: QuartDash) -> None:
    """Before, they were kept for duration + 1 s with the duration read as 0: about a
    second, then the revoked cookie passed again, forever."""
    client, admin_closed = browser(forever), browser(forever)
    await client.post("/login/alice")
    await admin_closed.post("/login/bob")
    assert (await client.get("/whoami")).status_code == 200
    await client.post("/logout")
    await forever.connections.close(user="bob")
    await forever.connections.sweep(time.time() + 100 * YEAR)  # every purge there will be
    revocations = forever.backplane.revocations
    assert len(revocations) == 2
    assert all(entry.until == math.inf for entry in revocations.entries())
    assert (await admin_closed.get("/whoami")).status_code == 401
    async with admin_closed.websocket(WS, headers=ORIGIN) as ws:
        assert await close_code(ws) == CloseCode.SESSION_ENDED


def test_duration_none_is_warned_about_at_start() -> None:
    server = Quart(__name__)
    server.secret_key = SECRET
    server.config["QUART_AUTH_DURATION"] = None
    with pytest.warns(UserWarning, match="revocation is kept forever"):
        QuartDash(__name__, server=server, auth=QuartAuth(cookie_secure=False))
    server = Quart(__name__)
    server.secret_key = SECRET
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        QuartDash(__name__, server=server, auth=QuartAuth(cookie_secure=False))


# --- a real redis-server --------------------------------------------------------------------------
_workers = itertools.count()


@contextlib.asynccontextmanager
async def worker(url: str) -> AsyncIterator[RedisBackplane]:
    """One worker's backplane, serving a real (socket-less) app's registry. Presence is
    refreshed rarely, so presence writes here come from a resync only."""
    backplane = RedisBackplane(url, presence_ttl=600)
    backplane.worker = f"test-{next(_workers)}"  # one process, yet apart: each hears the others
    app = QuartDash(__name__, backplane=backplane)
    await backplane.start(app.connections)
    try:
        assert backplane.healthy
        yield backplane
    finally:
        await backplane.stop()


async def calls(client: Redis, command: str) -> int:
    stats = await client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def until_true(condition: Any, timeout: float = 15.0) -> None:
    """Poll ``condition`` (a function returning a bool, or an awaitable of one)."""
    async with asyncio.timeout(timeout):
        while True:
            result = condition()
            if await result if inspect.isawaitable(result) else result:
                return
            await asyncio.sleep(0.05)


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[tuple[RedisServer, Redis]]:
    with redis_server(tmp_path) as server:
        client = Redis.from_url(server.url, socket_timeout=5)
        try:
            yield server, client
        finally:
            await client.aclose()


async def revocation_keys(client: Redis) -> set[str]:
    return {key.decode() async for key in client.scan_iter("quartdash:revoked*")}


async def test_redis_holds_a_constant_number_of_keys(redis: tuple[RedisServer, Redis]) -> None:
    server, client = redis
    now = time.time()
    async with worker(server.url) as first:
        for i in range(200):
            await first.revoke(Revocation(now + 3600, session=f"s{i}"))
        await first.revoke(Revocation(math.inf, session="forever"))
        await first.revoke(Revocation(math.inf, user="alice", before=now))
        await first.revoke(Revocation(now + 3600, user="bob", before=now - 1))
        keys = await revocation_keys(client)
        for i in range(200, 2000):
            await first.revoke(Revocation(now + 3600, session=f"s{i}"))
        assert await revocation_keys(client) == keys == {
            "quartdash:revoked:sessions", "quartdash:revoked:users",
            "quartdash:revoked:before", "quartdash:revoked:generation"}
        assert await client.zcard("quartdash:revoked:sessions") == 2001
        assert await client.zscore("quartdash:revoked:sessions", "forever") == math.inf
        assert await client.zscore("quartdash:revoked:users", "alice") == math.inf
        assert float(await client.hget("quartdash:revoked:before", "alice") or 0) == now
        # A worker that starts now reads every entry, infinite ones included.
        async with worker(server.url) as second:
            assert set(second.revocations.entries()) == set(first.revocations.entries())
            assert len(second.revocations) == 2003
            assert second.revocations.revoked(token(session="forever"))
            assert second.revocations.revoked(token("alice", "x", issued=now))
            assert not second.revocations.revoked(token("alice", "x", issued=now + 1e-3))
        # What expired leaves Redis with the next write, in the same script call.
        soon = time.time() + 0.3
        for i in range(50):
            await first.revoke(Revocation(soon, session=f"brief{i}"))
        await first.revoke(Revocation(soon, user="carol", before=soon - 1))
        assert await client.zcard("quartdash:revoked:sessions") == 2051
        await asyncio.sleep(soon - time.time() + 0.05)  # until they expire: a time, not an event
        await first.revoke(Revocation(time.time() + 3600, session="later"))
        assert await client.zcard("quartdash:revoked:sessions") == 2002
        assert await client.hget("quartdash:revoked:before", "carol") is None
        assert await client.zcard("quartdash:revoked:users") == 2


async def test_a_reconnect_rewrites_only_what_redis_lost(
        redis: tuple[RedisServer, Redis]) -> None:
    server, client = redis
    now = time.time()
    async with worker(server.url) as first, worker(server.url) as second:
        for i in range(500):
            await first.revoke(Revocation(now + 3600, session=f"s{i}"))
        await first.revoke(Revocation(math.inf, user="alice", before=now))
        await until_true(lambda: len(second.revocations) == 501)

        # Redis kept everything: the subscriptions drop and come back, nothing is rewritten.
        await client.config_resetstat()
        await client.client_kill_filter(_type="pubsub")

        async def resynced() -> bool:  # each resync ends by publishing presence
            return await calls(client, "sadd") >= 2 and first.healthy and second.healthy
        await until_true(resynced)
        assert await calls(client, "zadd") == 0 and await calls(client, "hset") == 0
        assert await calls(client, "set") == 0
        assert await client.zcard("quartdash:revoked:sessions") == 500

        # Redis restarts empty; a logout happens on the first worker meanwhile.
        server.stop()
        await until_true(lambda: not first.healthy)
        await first.revoke(Revocation(now + 3600, session="while-away"))
        server.start()

        async def refilled() -> bool:
            with contextlib.suppress(OSError, RedisError):  # Redis is still starting
                return bool(first.healthy and second.healthy and await client.zcard(
                    "quartdash:revoked:sessions") == 501 and await client.zcard(
                    "quartdash:revoked:users") == 1)
            return False
        await until_true(refilled, timeout=20)
        assert await client.zscore("quartdash:revoked:users", "alice") == math.inf
        assert await calls(client, "zadd") >= 501  # written back
        await until_true(lambda: second.revocations.revoked(token(session="while-away")))
        # A worker that starts after the restart knows everything.
        async with worker(server.url) as third:
            assert set(third.revocations.entries()) == set(first.revocations.entries())


async def test_revocations_stored_by_an_older_version_survive_the_upgrade(
        redis: tuple[RedisServer, Redis]) -> None:
    """The one-key-per-entry layout of before: read once, stored the new way."""
    server, client = redis
    now = time.time()
    old_session = Revocation(now + 3600, session="old-sid")
    old_user = Revocation(now + 3600, user="dave", before=now)
    await client.set("quartdash:revoked:session:old-sid",
                     orjson.dumps(wire.revocation_to_json(old_session)), px=3_600_000)
    await client.set(f"quartdash:revoked:user:dave:{now!r}",
                     orjson.dumps(wire.revocation_to_json(old_user)), px=3_600_000)
    async with worker(server.url) as upgraded:
        assert set(upgraded.revocations.entries()) == {old_session, old_user}
        assert await client.zscore("quartdash:revoked:sessions", "old-sid") == now + 3600
        assert await client.zscore("quartdash:revoked:users", "dave") == now + 3600


# --- real hypercorn servers -------------------------------------------------------------------------
ENV = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with hypercorn("examples.auth_admin:app", tmp_path_factory.mktemp("relogin"), env=ENV,
                   ready_path="/login") as running:
        yield running


async def assert_refused(base: str, cookie: str) -> None:
    async with session_socket(base, cookie) as ws:
        assert (await closed_code(ws))[0] == CloseCode.SESSION_ENDED


async def test_login_at_once_after_an_admin_closes_the_user(server: Server) -> None:
    base = server.url
    old = login(base, "alice")
    async with session_socket(base, old) as ws:
        assert await who(ws) == "Signed in as alice"
        waiting = asyncio.create_task(closed_code(ws))
        # Start at the top of a second, so the close and the new login share it: the
        # case whole-second times got wrong (it is not waiting for a condition).
        await asyncio.sleep(1 - time.time() % 1)
        closed = await asyncio.to_thread(admin, base, "POST", "users/alice/close", token=TOKEN)
        new = await asyncio.to_thread(login, base, "alice")
        assert closed.status_code == 200 and closed.json() == {"closed": 1}
        assert (await waiting)[0] == CloseCode.SESSION_ENDED
    page = await asyncio.to_thread(requests.get, base + "/", cookies={COOKIE: new},
                                   allow_redirects=False, timeout=10)
    assert page.status_code == 200  # not a bounce to /login
    async with session_socket(base, new) as ws:
        assert await who(ws) == "Signed in as alice"
    await assert_refused(base, old)


async def test_logout_of_a_never_expiring_login_reaches_every_worker(tmp_path: Path) -> None:
    """``QUART_AUTH_DURATION`` None over Redis: the logout answered 500 (OverflowError
    turning an infinite time into milliseconds) and the other workers never heard."""
    with redis_server(tmp_path) as redis_proc:
        env = {**ENV, "QUARTDASH_BACKPLANE": redis_proc.url}
        with hypercorn("tests.apps.forever_app:app", tmp_path, env=env,
                       ready_path="/login") as first, \
             hypercorn("tests.apps.forever_app:app", tmp_path, env=env,
                       ready_path="/login") as second:
            alice = login(first.url, "alice")
            async with session_socket(second.url, alice) as ws:
                assert await who(ws) == "Signed in as alice"
                [info] = (await asyncio.to_thread(
                    admin, second.url, "GET", "connections", token=TOKEN,
                    query={"user": "alice"})).json()
                waiting = asyncio.create_task(closed_code(ws))
                response = await asyncio.to_thread(logout, first.url, alice)
                assert response.status_code == 303, response.text
                assert (await waiting)[0] == CloseCode.SESSION_ENDED
            for base in (first.url, second.url):
                await assert_refused(base, alice)
            bob = login(second.url, "bob")
            closed = await asyncio.to_thread(admin, first.url, "POST", "users/bob/close",
                                             token=TOKEN)
            assert closed.status_code == 200
            await assert_refused(second.url, bob)
            client = Redis.from_url(redis_proc.url, socket_timeout=5)
            try:  # kept for as long as the cookies can live: for ever
                assert await client.zscore("quartdash:revoked:sessions",
                                           info["session"]) == math.inf
                assert await client.zscore("quartdash:revoked:users", "bob") == math.inf
            finally:
                await client.aclose()
            for running in (first, second):
                assert "Traceback" not in running.log
                assert "malformed backplane message" not in running.log
