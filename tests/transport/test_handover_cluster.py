"""Handovers across servers sharing a Redis backplane (``handover.py``,
``redis_backplane.py``), on two real hypercorn processes and a real redis-server: the
cookie a WebSocket callback sets on one server is redeemed on the other, once in the
whole cluster, only by the socket's session, only within ``handover_seconds``; Redis
holds it under a key that names neither the token nor the cookie, and no log line
shows either. In a Redis outage the issuing server keeps it (and says so, once)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis as redis_py
import requests
from websockets.asyncio.client import connect

from quartdash.testing.servers import RedisServer, Server, hypercorn, log_shows, redis_server
from quartdash.testing.wsclient import OPEN_TIMEOUT, call, callback_request, messages, ws_url
from tests.authclient import COOKIE, HTTP_TIMEOUT, SECRET

APP = "tests.apps.handover_app:app"
#: handover_seconds of both servers: short, so expiry is seen; far longer than a
#: callback and a redeem take on a loaded machine.
TTL = 4.0
#: max_handovers of both servers (per socket).
PER_SOCKET = 2


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture(scope="module")
def servers(redis: RedisServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    tmp_path = tmp_path_factory.mktemp("servers")
    env = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_BACKPLANE": redis.url,
           "QUARTDASH_HANDOVER_SECONDS": str(TTL), "QUARTDASH_MAX_HANDOVERS": str(PER_SOCKET)}
    with hypercorn(APP, tmp_path, env=env) as first, hypercorn(APP, tmp_path, env=env) as second:
        yield first, second


def login(server: Server, user: str) -> str:
    response = requests.post(server.url + "/login", data={"username": user},
                             headers={"Origin": server.url}, allow_redirects=False,
                             timeout=HTTP_TIMEOUT)
    assert response.status_code == 303, response.text
    return str(response.cookies[COOKIE])


@contextlib.asynccontextmanager
async def page(server: Server, cookie: str) -> AsyncIterator[Any]:
    """A socket as quartdash's page script opens it (so its callbacks hand over)."""
    async with connect(ws_url(server.url) + "?quartdash=1", origin=server.url,  # type: ignore[arg-type]
                       additional_headers={"Cookie": f"{COOKIE}={cookie}"},
                       open_timeout=OPEN_TIMEOUT) as ws:
        await ws.send(json.dumps({"type": "quartdash_hello", "v": 1, "resume": None,
                                  "received": 0}))
        async with asyncio.timeout(10):
            welcome = messages(await ws.recv())
        assert welcome[0]["type"] == "quartdash_welcome", welcome
        yield ws


async def set_cookie(ws: Any, n: int) -> str:
    """Run the callback that sets ``secret=s3cret-<n>``; the token of its handover."""
    response, _ = await call(ws, callback_request(f"set{n}", "output", "children",
                                                  [("set", "n_clicks", n)]))
    assert response["payload"]["status"] == "ok", response
    token = response.get("quartdash_handover")
    assert isinstance(token, str), response
    return token


def redeem(server: Server, token: str, cookie: str | None) -> requests.Response:
    """The page's redeem, as its script posts it (same origin, the session's cookie)."""
    return requests.post(server.url + "/_quartdash/handover", json={"token": token},
                         headers={"Origin": server.url},
                         cookies={COOKIE: cookie} if cookie else None, timeout=HTTP_TIMEOUT)


def handover_keys(redis: RedisServer) -> list[str]:
    with redis_py.Redis.from_url(redis.url, decode_responses=True) as client:
        return sorted(client.scan_iter("quartdash:handover:*"))


async def test_a_cookie_set_on_one_server_is_redeemed_once_on_another(
        redis: RedisServer, servers: tuple[Server, Server]) -> None:
    first, second = servers
    alice = login(first, "alice")
    async with page(first, alice) as ws:
        token = await set_cookie(ws, 1)
        [key] = handover_keys(redis)  # named by a hash: neither token nor value in it
        assert key == "quartdash:handover:" + hashlib.sha256(token.encode()).hexdigest()
        taken = redeem(second, token, alice)
        assert taken.status_code == 204, taken.text
        assert "secret=s3cret-1" in taken.headers["Set-Cookie"]
        assert "HttpOnly" in taken.headers["Set-Cookie"]
        assert handover_keys(redis) == []
        # once in the whole cluster
        assert redeem(second, token, alice).status_code == 404
        assert redeem(first, token, alice).status_code == 404
        # redeemed by the server that issued it, it is spent for the other one too
        token = await set_cookie(ws, 2)
        assert redeem(first, token, alice).status_code == 204
        assert redeem(second, token, alice).status_code == 404
    # and the other way round
    async with page(second, alice) as ws:
        token = await set_cookie(ws, 3)
        taken = redeem(first, token, alice)
        assert taken.status_code == 204 and "s3cret-3" in taken.headers["Set-Cookie"]
    for server in (first, second):
        assert "s3cret" not in server.log and "Traceback" not in server.log


async def test_bound_to_the_session_across_servers(servers: tuple[Server, Server]) -> None:
    first, second = servers
    alice, bob = login(first, "alice"), login(second, "bob")
    async with page(first, alice) as ws:
        token = await set_cookie(ws, 1)
        assert redeem(second, token, bob).status_code == 404
        assert redeem(second, token, alice).status_code == 404  # spent by bob's try
        token = await set_cookie(ws, 2)
        assert redeem(second, token, None).status_code == 404  # no session at all
        token = await set_cookie(ws, 3)
        assert redeem(second, token, alice).status_code == 204


async def test_the_per_socket_limit_counts_what_waits_in_the_whole_cluster(
        servers: tuple[Server, Server]) -> None:
    """Sets redeemed on the other server free their socket's places on the issuing
    one (which asks Redis once it has none left); sets still waiting do not."""
    first, second = servers
    alice = login(first, "alice")
    async with page(first, alice) as ws:
        for n in range(1, 3 * PER_SOCKET + 1):
            token = await set_cookie(ws, n)
            assert redeem(second, token, alice).status_code == 204
        waiting = [await set_cookie(ws, n) for n in range(PER_SOCKET)]
        response, _ = await call(ws, callback_request("over", "output", "children",
                                                      [("set", "n_clicks", 99)]))
        assert "quartdash_handover" not in response  # refused: the limit holds
        await log_shows(first, "already wait for the page")
        for token in waiting:
            assert redeem(second, token, alice).status_code == 204
        await set_cookie(ws, 100)


async def test_expires_across_servers(redis: RedisServer,
                                      servers: tuple[Server, Server]) -> None:
    first, second = servers
    alice = login(first, "alice")
    async with page(first, alice) as ws:
        issued = time.monotonic()
        late, early = await set_cookie(ws, 1), await set_cookie(ws, 2)
        with redis_py.Redis.from_url(redis.url) as client:
            for key in handover_keys(redis):
                assert 0 < client.pttl(key) <= TTL * 1000  # the value goes with the token
        assert redeem(second, early, alice).status_code == 204
        await asyncio.sleep(max(0.0, issued + TTL + 0.5 - time.monotonic()))  # time itself
        assert handover_keys(redis) == []
        assert redeem(second, late, alice).status_code == 404
        assert redeem(first, late, alice).status_code == 404


async def test_a_redis_outage_keeps_them_on_the_issuing_server(
        redis: RedisServer, servers: tuple[Server, Server]) -> None:
    first, second = servers
    alice = login(first, "alice")
    async with page(first, alice) as ws:
        redis.stop()
        try:
            tokens = [await set_cookie(ws, n) for n in (1, 2)]
            await log_shows(first, "kept by the worker that ran them")
            assert first.log.count("kept by the worker that ran them") == 1  # once
            assert redeem(second, tokens[0], alice).status_code == 404  # the known cost
            for token in tokens:  # never lost: the issuing server hands them over
                assert redeem(first, token, alice).status_code == 204
        finally:
            redis.start()
        # back to sharing once Redis is: wait for the subscription to recover
        await until(lambda: first.log.count("cluster connected") >= 2, timeout=20)
        token = await set_cookie(ws, 3)
        assert redeem(second, token, alice).status_code == 204
    assert "s3cret" not in first.log and "s3cret" not in second.log


async def until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll ``condition`` until it holds, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)
