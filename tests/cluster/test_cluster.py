"""The Redis backplane on real processes: ``hypercorn -w 2`` plus a second, separate
server on one real redis-server. Logout anywhere closes the session's sockets
everywhere; a worker killed with SIGKILL leaves the listings; a Redis outage degrades
and recovers by itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from quartdash import CloseCode
from quartdash.testing.servers import RedisServer, Server, hypercorn, redis_server
from tests.authclient import (
    SECRET,
    TOKEN,
    admin,
    closed_code,
    login,
    logout,
    session_socket,
    who,
)

PRESENCE_TTL = 2.0


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


@contextlib.contextmanager
def cluster(redis: RedisServer, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    env = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN,
           "QUARTDASH_BACKPLANE": f"{redis.url}?presence_ttl={PRESENCE_TTL}"}
    with hypercorn("examples.auth_admin:app", tmp_path, workers=2, env=env,
                   ready_path="/login") as first, \
         hypercorn("examples.auth_admin:app", tmp_path, env=env, ready_path="/login") as second:
        yield first, second


def listed(server: Server, **query: str) -> list[dict[str, Any]]:
    response = admin(server.url, "GET", "connections", token=TOKEN, query=query)
    assert response.status_code == 200, response.text
    infos: list[dict[str, Any]] = response.json()
    return infos


async def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def sockets(servers: list[Server], cookie: str, n: int) -> AsyncIterator[list[Any]]:
    async with contextlib.AsyncExitStack() as stack:
        opened = [await stack.enter_async_context(
            session_socket(servers[i % len(servers)].url, cookie)) for i in range(n)]
        for ws in opened:
            assert (await who(ws)).startswith("Signed in as")
        yield opened


async def test_logout_on_one_process_closes_the_session_everywhere(
        redis: RedisServer, tmp_path: Path) -> None:
    with cluster(redis, tmp_path) as (first, second):
        alice = login(first.url, "alice")
        bob = login(second.url, "bob")
        async with sockets([first, second], alice, 10) as alices, \
                   sockets([first], bob, 1) as (bobs_ws,):
            for server in (first, second):
                infos = listed(server, user="alice")
                assert len(infos) == 10
                assert len({info["worker"] for info in infos}) >= 2
            waiting = [asyncio.create_task(closed_code(ws, timeout=5)) for ws in alices]
            started = time.perf_counter()
            assert logout(second.url, alice).status_code == 303
            results = await asyncio.gather(*waiting)
            slowest = max(at for _, at in results) - started
            print(f"cross-process logout: 10 sockets closed in {slowest * 1000:.1f} ms")
            assert {code for code, _ in results} == {CloseCode.SESSION_ENDED}
            assert slowest < 0.2, slowest
            # the old cookie opens nothing on the other process
            async with session_socket(first.url, alice) as ws:
                code, _ = await closed_code(ws)
                assert code == CloseCode.SESSION_ENDED
            assert await who(bobs_ws) == "Signed in as bob"
            assert listed(first, user="alice") == []
            assert len(listed(second, user="bob")) == 1


async def test_a_killed_worker_leaves_the_listing_within_the_ttl(
        redis: RedisServer, tmp_path: Path) -> None:
    with cluster(redis, tmp_path) as (first, second):
        carol = login(first.url, "carol")
        async with sockets([first, second], carol, 4):
            assert len(listed(first, user="carol")) == 4
            os.killpg(second.proc.pid, signal.SIGKILL)  # no goodbye of any kind
            started = time.monotonic()
            await wait_for(lambda: len(listed(first, user="carol")) == 2,
                           timeout=PRESENCE_TTL * 3)
            print(f"killed worker gone from the listing after {time.monotonic() - started:.1f} s")
            assert time.monotonic() - started <= PRESENCE_TTL + 2


async def test_redis_outage_degrades_then_recovers_by_itself(
        redis: RedisServer, tmp_path: Path) -> None:
    with cluster(redis, tmp_path) as (first, second):
        dave = login(first.url, "dave")
        erin = login(second.url, "erin")
        async with sockets([first, second], dave, 4) as daves, \
                   sockets([second], erin, 1) as (erins_ws,):
            redis.stop()
            await wait_for(lambda: "cluster degraded" in first.log
                           and "cluster degraded" in second.log)
            # a new handshake cannot be checked against the cluster: 1013
            async with session_socket(second.url, dave) as ws:
                code, _ = await closed_code(ws)
                assert code == CloseCode.TRY_AGAIN_LATER
            # open sockets still work, listings answer with what this process knows
            for ws in daves:
                assert await who(ws) == "Signed in as dave"
            assert len(listed(second, user="dave")) == 2
            # a logout still closes the sockets of the process that served it
            waiting_erin = asyncio.create_task(closed_code(erins_ws, timeout=5))
            assert logout(second.url, erin).status_code == 303
            assert (await waiting_erin)[0] == CloseCode.SESSION_ENDED
            redis.start()

            def recovered() -> bool:
                return len(listed(first, user="dave")) == 4 and len(
                    listed(second, user="dave")) == 4
            await wait_for(recovered, timeout=15)
            # a logout after recovery reaches every process again
            waiting = [asyncio.create_task(closed_code(ws, timeout=5)) for ws in daves]
            assert logout(first.url, dave).status_code == 303
            assert {code for code, _ in await asyncio.gather(*waiting)} == {
                CloseCode.SESSION_ENDED}
            # erin's logout during the outage reached Redis afterwards: refused everywhere
            async with session_socket(first.url, erin) as ws:
                assert (await closed_code(ws))[0] == CloseCode.SESSION_ENDED
        for server in (first, second):
            assert "Traceback" not in server.log


async def test_a_failed_command_alone_recovers_by_itself(
        redis: RedisServer, tmp_path: Path) -> None:
    """Redis refuses writes (out of memory) while the subscription stays up: the worker
    degrades (new sockets 1013), and once writes work again it recovers by itself.
    Before, only a broken subscription brought a worker back, so it kept refusing every
    new socket until then."""
    import redis as redis_py

    env = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN,
           "QUARTDASH_BACKPLANE": f"{redis.url}?presence_ttl={PRESENCE_TTL}"}
    control = redis_py.Redis.from_url(redis.url, socket_timeout=5)
    try:
        with hypercorn("examples.auth_admin:app", tmp_path, env=env,
                       ready_path="/login") as server:
            await wait_for(lambda: "cluster connected" in server.log)
            cookie = login(server.url, "frank")
            control.config_set("maxmemory-policy", "noeviction")
            control.config_set("maxmemory", 1)  # every write: OOM
            try:
                await wait_for(lambda: "cluster degraded" in server.log)
                async with session_socket(server.url, cookie) as ws:
                    assert (await closed_code(ws))[0] == CloseCode.TRY_AGAIN_LATER
            finally:
                control.config_set("maxmemory", 0)
            await wait_for(lambda: "cluster connected" in server.log.split(
                "cluster degraded", 1)[1], timeout=PRESENCE_TTL * 3)
            async with session_socket(server.url, cookie) as ws:
                assert await who(ws) == "Signed in as frank"
            assert "Traceback" not in server.log
    finally:
        control.close()


def test_backplane_settings_from_the_url() -> None:
    from quartdash.cluster.backplane import LocalBackplane
    from quartdash.cluster.factory import backplane_from_url
    from quartdash.cluster.redis import RedisBackplane, _safe

    plain = backplane_from_url("redis://127.0.0.1:6379/0")
    assert isinstance(plain, RedisBackplane)
    assert (plain.fail_open, plain.presence_ttl) == (False, 10.0)
    tuned = backplane_from_url("redis://h:1/2?fail_open=true&presence_ttl=3")
    assert isinstance(tuned, RedisBackplane)
    assert (tuned.fail_open, tuned.presence_ttl, tuned.url) == (True, 3.0, "redis://h:1/2")
    assert isinstance(backplane_from_url(None), LocalBackplane)
    assert backplane_from_url(tuned) is tuned
    with pytest.raises(ValueError, match="unsupported backplane"):
        backplane_from_url("memcached://x")
    assert _safe("redis://user:hunter2@h:6379/0") == "redis://user:***@h:6379/0"
