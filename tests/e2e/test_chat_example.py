"""``examples/chat.py`` as its users meet it: ``hypercorn -w 2`` on a real redis-server,
two separate headless Chromium sessions signed in as two users, their sockets on the
two different workers. Each sees the other in "who is here", a message sent in one
appears in the other, and when one browser quits, the other's list drops it within a
few seconds.

Which worker accepts a socket is the kernel's choice. ``on_another_worker`` reloads a
browser's page (a new socket each time) until its socket is on a worker other than the
given one, at most ``ATTEMPTS`` times; the admin API (``QUARTDASH_ADMIN_TOKEN``) says
where each socket is. The helpers serve the ticker's test in ``test_examples.py`` too.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from quartdash.testing.servers import RedisServer, Server, hypercorn, redis_server
from tests.authclient import SECRET, TOKEN, admin
from tests.e2e.pages import submit_sign_in

WAIT = 15.0
#: Pages opened at most to land a socket on the other worker: the kernel hands a new
#: connection to either worker, so all of them on one is a bug or a bias to report.
ATTEMPTS = 10
#: Seconds a worker's presence lasts in Redis unless refreshed (every third of it). A
#: worker whose listing was empty when another listed the cluster is dropped from the
#: set of workers until its next refresh, and its sockets with it (a core issue, reported):
#: shortened so that the chat's second look, a second later, sees every socket.
PRESENCE_TTL = 2.0
#: Seconds a dropped socket is kept for a resume (``resume_grace``, 10 by default),
#: shortened here. A browser that quits ends its SharedWorker, and the socket with it,
#: with no close frame: the server cannot tell that from a network failure, and keeps
#: the connection (its subscriptions too) this long in case the page comes back.
RESUME_GRACE = 2.0
#: How soon a browser that quit leaves the other's "who is here": the grace, then the
#: signal and the push, with margin for a loaded machine.
LEAVES_WITHIN = RESUME_GRACE + 3.0


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


@contextlib.contextmanager
def two_workers(target: str, redis: RedisServer, tmp_path: Path,
                ready_path: str = "/") -> Iterator[Server]:
    """``target`` on ``hypercorn -w 2`` with the Redis backplane and the admin API."""
    env = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN,
           "QUARTDASH_BACKPLANE": f"{redis.url}?presence_ttl={PRESENCE_TTL}",
           "QUARTDASH_RESUME_GRACE": str(RESUME_GRACE)}
    with hypercorn(target, tmp_path, workers=2, env=env, ready_path=ready_path) as server:
        yield server


def sockets(server: Server, **query: str) -> list[dict[str, Any]]:
    """Every socket of the cluster (``ConnectionInfo`` as JSON), from the admin API."""
    response = admin(server.url, "GET", "connections", token=TOKEN, query=query)
    assert response.status_code == 200, response.text
    infos: list[dict[str, Any]] = response.json()
    return infos


def until(driver: Any, condition: Callable[[], Any], timeout: float = WAIT,
          what: str = "condition") -> Any:
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda _d: condition())
    except TimeoutException:
        raise AssertionError(f"{what} not met in {timeout} s") from None


def new_socket(driver: Any, server: Server, known: set[str], **query: str) -> dict[str, Any]:
    """Wait until a socket not in ``known`` is listed; its info."""
    def fresh() -> list[dict[str, Any]]:
        return [info for info in sockets(server, **query) if info["id"] not in known]
    return dict(until(driver, fresh, what="a new socket")[0])


def on_another_worker(browser: Any, server: Server, taken: str, known: set[str],
                      **query: str) -> dict[str, Any]:
    """The socket of the page open in ``browser`` (listed with ``query``, not in
    ``known``), once it is on a worker other than ``taken``. Until then the page is
    reloaded: its document goes, so quartdash's SharedWorker closes the socket (the
    last tab left), and the new document makes it open a new one. (Leaving for another
    page would keep the old one in the back/forward cache, connected.)"""
    known = set(known)
    for attempt in range(1, ATTEMPTS + 1):
        info = new_socket(browser.driver, server, known, **query)
        if info["worker"] != taken:
            print(f"on the other worker at attempt {attempt}")
            return info
        known.add(info["id"])
        browser.driver.refresh()
        until(browser.driver, lambda i=info: all(s["id"] != i["id"] for s in sockets(server)),
              what="the reloaded page's old socket closed")
    raise AssertionError(f"{ATTEMPTS} sockets in a row on worker {taken}")


def socket_open(browser: Any) -> None:
    until(browser.driver, lambda: browser.driver.execute_script(
        "return window.quartdash && window.quartdash.status.state") == "open",
        what="the page's socket open")


# --- the chat ---------------------------------------------------------------------------

def sign_in(browser: Any, base: str, user: str) -> None:
    driver = browser.driver
    driver.get(base + "/login")
    submit_sign_in(driver, user)
    until(driver, lambda: browser.find_element("#who").text == f"Signed in as {user}",
          what=f"{user} signed in")
    socket_open(browser)


def texts(browser: Any, selector: str) -> list[str]:
    """The text of every element ``selector`` matches, read at one moment (elements
    found first and read later may be gone: a push replaces them)."""
    return list(browser.driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)",
        selector))


def present(browser: Any) -> list[str]:
    return texts(browser, "#present li")


def messages(browser: Any) -> list[str]:
    return texts(browser, "#messages .message")


def say(browser: Any, text: str) -> None:
    browser.find_element("#text").send_keys(text, Keys.ENTER)


def test_two_users_on_two_workers_chat_and_see_each_other(
    dash_br: Any, other_br: Any, redis: RedisServer, tmp_path: Path
) -> None:
    alice, bob = dash_br, other_br
    with two_workers("examples.chat:app", redis, tmp_path, ready_path="/login") as server:
        sign_in(alice, server.url, "alice")
        (alices,) = until(alice.driver, lambda: sockets(server, user="alice"),
                          what="alice's socket listed")
        sign_in(bob, server.url, "bob")
        bobs = on_another_worker(bob, server, alices["worker"], set(), user="bob")
        socket_open(bob)
        until(alice.driver, lambda: {i["worker"] for i in sockets(server)}
              == {alices["worker"], bobs["worker"]}, what="both workers listed")
        for info in (alices, bobs):  # both in the room the page shows first
            until(alice.driver, lambda i=info: "room:lobby" in next(
                (s["topics"] for s in sockets(server) if s["id"] == i["id"]), []),
                what="the socket in room:lobby")

        for browser in (alice, bob):  # who is here, on both workers' pages
            until(browser.driver, lambda b=browser: present(b) == ["alice", "bob"],
                  what="alice and bob present")

        say(alice, "hello from alice")
        until(bob.driver, lambda: any(m.endswith("alice: hello from alice")
                                      for m in messages(bob)), what="alice's message at bob's")
        say(bob, "hi alice")
        until(alice.driver, lambda: any(m.endswith("bob: hi alice") for m in messages(alice)),
              what="bob's message at alice's")
        assert any(m.endswith("alice: hello from alice") for m in messages(alice))
        # Markup typed by a user is shown as text, not rendered.
        say(bob, "<b id='injected'>bold</b>")
        until(alice.driver, lambda: any(m.endswith("<b id='injected'>bold</b>")
                                        for m in messages(alice)), what="the markup as text")
        assert alice.driver.find_elements(By.ID, "injected") == []

        # Another room: bob leaves the lobby, and alice's list drops him.
        bob.find_element("#room input[value='python']").click()
        until(alice.driver, lambda: present(alice) == ["alice"], what="bob gone from lobby")
        until(bob.driver, lambda: present(bob) == ["bob"], what="bob alone in python")
        say(alice, "only the lobby hears this")
        until(alice.driver, lambda: any(m.endswith("only the lobby hears this")
                                         for m in messages(alice)))
        bob.find_element("#room input[value='lobby']").click()
        until(alice.driver, lambda: present(alice) == ["alice", "bob"], what="bob back")
        assert not any("only the lobby" in m for m in messages(bob))

        # Bob's browser quits: alice's list drops him within a few seconds.
        assert alice.get_logs() == [] and bob.get_logs() == []
        bob.driver.quit()
        quit_at = time.monotonic()
        until(alice.driver, lambda: present(alice) == ["alice"], timeout=LEAVES_WITHIN + 10,
              what="bob gone after his browser quit")
        gone_after = time.monotonic() - quit_at
        print(f"bob left alice's list {gone_after:.2f} s after his browser quit "
              f"(resume grace {RESUME_GRACE} s)")
        assert gone_after <= LEAVES_WITHIN, gone_after
        assert alice.get_logs() == []
        assert "Traceback" not in server.log, server.log

