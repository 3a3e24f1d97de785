"""The Redis URL as logged: every credential form masked. A table of forms, a property over
generated passwords, and a real backplane failing to reach a port where nothing listens."""

from __future__ import annotations

import asyncio
import logging
import secrets
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import BlockingConnectionPool

from quartdash import QuartDash
from quartdash.cluster.redis import (
    POOL_CONNECTIONS,
    POOL_WAIT_SECONDS,
    RedisBackplane,
    _client,
    _safe,
)
from quartdash.testing.servers import free_port


@pytest.mark.parametrize(
    ("url", "logged"),
    [
        ("redis://user:hunter2@h:6379/0", "redis://user:***@h:6379/0"),
        ("redis://:hunter2@h", "redis://:***@h"),
        ("redis://h:6379/0?password=hunter2", "redis://h:6379/0?password=***"),
        ("redis://h/0?db=2&password=hunter2&username=bob", "redis://h/0?db=2&password=***&username=bob"),
        ("rediss://bob:hunter2@[::1]:6380/1?ssl_password=keypass&ssl_cert_reqs=none",
         "rediss://bob:***@[::1]:6380/1?ssl_password=***&ssl_cert_reqs=none"),
        ("unix:///run/redis.sock?db=0&password=hunter2", "unix:///run/redis.sock?db=0&password=***"),
        ("unix://:hunter2@/run/redis.sock", "unix://:***@/run/redis.sock"),
        ("redis://h/0?pass=a&passwd=b&token=c&secret=d&PASSWORD=e",
         "redis://h/0?pass=***&passwd=***&token=***&secret=***&PASSWORD=***"),
        ("redis://h/0?password=a%26b%3Dc", "redis://h/0?password=***"),  # encoded & and =
        ("redis://bob@h:6379/0", "redis://bob@h:6379/0"),  # a user name alone stays
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("redis://u:hunter2@h:notaport/0", "redis://u:***@h:notaport/0"),  # no re-parsing
        ("redis://u:hun#ter2@h/0", "redis://*** (user info not percent-encoded)"),
        ("redis://u:hun?ter2@h/0", "redis://*** (user info not percent-encoded)"),
        ("redis://u:hunter2@[::1", "*** (an unparseable URL)"),
    ],
)
def test_masked_forms(url: str, logged: str) -> None:
    assert _safe(url) == logged


secret = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                 max_size=20).map(lambda text: "Zq9" + text)  # never part of the rest
names = st.sampled_from(["password", "pass", "passwd", "token", "secret", "ssl_password",
                         "Password"])


@given(password=secret, scheme=st.sampled_from(["redis", "rediss", "unix"]),
       user=st.sampled_from(["", "bob"]), name=names)
def test_no_password_survives(password: str, scheme: str, user: str, name: str) -> None:
    quoted = urllib.parse.quote(password, safe="")
    place = "/run/r.sock" if scheme == "unix" else "h:6379/0"
    for url in (f"{scheme}://{user}:{quoted}@{place}",
                f"{scheme}://{user}@{place}?db=1&{name}={quoted}"):
        logged = _safe(url)
        assert quoted not in logged and password not in logged
        assert "Zq9" not in logged and "***" in logged
        if user:
            assert user in logged


async def test_degraded_log_shows_no_password(caplog: pytest.LogCaptureFixture) -> None:
    # A real client failing for real: nothing listens on this port.
    in_query, in_userinfo = secrets.token_hex(8), secrets.token_hex(8)
    url = f"redis://bob:{in_userinfo}@127.0.0.1:{free_port()}/0?password={in_query}"
    app = QuartDash(__name__, backplane=url)
    backplane = app.backplane
    assert isinstance(backplane, RedisBackplane)
    caplog.set_level(logging.DEBUG)  # every logger, redis-py's and asyncio's included
    degraded = asyncio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "cluster degraded" in record.getMessage():
                degraded.set()

    watch = Watch()
    logging.getLogger("quartdash.backplane").addHandler(watch)
    try:
        async with asyncio.timeout(15):
            await backplane.start(app.connections)
            await degraded.wait()
    finally:
        logging.getLogger("quartdash.backplane").removeHandler(watch)
        async with asyncio.timeout(5):
            await backplane.stop()
    assert in_query not in caplog.text and in_userinfo not in caplog.text
    assert "redis://bob:***@127.0.0.1:" in caplog.text
    assert "password=***" in caplog.text


async def test_the_pool_bounds_have_defaults_and_the_url_sets_them() -> None:
    """Each process's Redis pool waits for a free connection (a burst must not read as
    an outage); its size and wait are the documented defaults, or the URL's."""
    default = _client("redis://127.0.0.1:6379/0").connection_pool
    assert isinstance(default, BlockingConnectionPool)
    assert (default.max_connections, default.timeout) == (POOL_CONNECTIONS, POOL_WAIT_SECONDS)
    given = _client("redis://127.0.0.1:6379/0?max_connections=7&timeout=3").connection_pool
    assert (given.max_connections, given.timeout) == (7, 3.0)
