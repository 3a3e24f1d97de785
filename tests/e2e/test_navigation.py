"""Page loads in headless Chromium against a real hypercorn: each one gets the socket at
once, whatever reconnect backoff an earlier page left pending; the backoff still spares
a server whose sockets fail; a dead server is reported to the page, which recovers when
the server is back.

Why an earlier page matters: Chromium keeps a page that is left (a link, a typed URL, a
``dcc.Location`` redirect, Dash Pages) in its back/forward cache, and the cached page
stays a client of the SharedWorker, so the worker and its state live on into the next
page, while its socket is dropped as the page goes. (A reload caches nothing: the
worker ends with the page, and the next page starts a new one.)"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

from quartdash.testing.servers import Server, TcpProxy, free_port, hypercorn

APP = "tests.e2e.apps.nav_app:app"
WAIT = 15.0
#: Navigation start to the page's first callback output, in the page's own clock (ms).
#: Stock Dash takes 0.2-0.4 s here; an earlier page's backoff adds 0.5-30 s.
FIRST_OUTPUT_MS = 1000.0
NOTICE = "#quartdash-reconnecting"


def js(browser: Any, script: str) -> Any:
    return browser.driver.execute_script(script)


def wait_until(browser: Any, condition: Callable[[], Any], timeout: float = WAIT,
               message: str = "") -> Any:
    def check(_driver: Any) -> Any:
        try:
            return condition()
        except WebDriverException:  # the page is between two documents
            return False
    return WebDriverWait(browser.driver, timeout, poll_frequency=0.05).until(check, message)


def first_output_ms(browser: Any, path: str, timeout: float = WAIT) -> float:
    """Wait for a new document at ``path`` to show its first output; return when it
    came, in ms from the start of its navigation (``window.__firstAt``, set by a
    clientside callback, so the test's own polling does not count)."""
    script = ("var e = document.getElementById('first');"
              "return !window.__left && e && e.textContent === arguments[0]"
              " && window.__firstAt !== undefined ? window.__firstAt : null;")
    return float(wait_until(
        browser, lambda: browser.driver.execute_script(script, f"loaded {path}"), timeout,
        f"no first output at {path}"))


def navigate(browser: Any, how: str, base: str, path: str) -> float:
    """Leave the page as a user does (``how``), arriving at ``path``; return the new
    page's first-output time (ms)."""
    js(browser, "window.__left = true")  # the new document does not have it
    if how == "reload":
        browser.driver.refresh()
    elif how == "url":  # a typed URL, a bookmark, Dash's wait_for_page
        browser.driver.get(base + path)
    elif how == "link":  # a plain <a href>: a full page load
        browser.driver.find_element("css selector", "#plain-link").click()
    elif how == "redirect":  # dcc.Location set by a callback (refresh=True)
        browser.driver.find_element("css selector", "#redirect").click()
    else:
        raise ValueError(how)
    return first_output_ms(browser, path)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with hypercorn(APP, tmp_path) as running:
        yield running


def test_eight_reloads_in_a_row_each_reach_their_first_output_at_once(
        dash_br: Any, server: Server) -> None:
    dash_br.driver.get(server.url + "/")
    first_output_ms(dash_br, "/")
    times = [navigate(dash_br, "reload", server.url, "/") for _ in range(8)]
    print("reload to first output (ms):", [round(t) for t in times])
    assert all(t < FIRST_OUTPUT_MS for t in times), times
    assert dash_br.get_logs() == []


def test_eight_navigations_in_a_row_each_reach_their_first_output_at_once(
        dash_br: Any, server: Server) -> None:
    """Typed URLs (as Dash Pages' tests go from page to page), links, redirects: each
    leaves the worker alive with its socket just dropped."""
    dash_br.driver.get(server.url + "/")
    first_output_ms(dash_br, "/")
    steps = [("url", "/a"), ("url", "/b"), ("link", "/linked"), ("url", "/c"),
             ("redirect", "/redirected"), ("url", "/d"), ("link", "/linked"),
             ("redirect", "/redirected")]
    times = [navigate(dash_br, how, server.url, path) for how, path in steps]
    print("navigation to first output (ms):", [round(t) for t in times])
    assert all(t < FIRST_OUTPUT_MS for t in times), list(zip(steps, times, strict=True))
    # The case this covers happened: the worker outlived the pages, and each new page
    # resumed the socket its predecessor's departure dropped.
    assert server.log.count("resumed after") >= 4, server.log
    assert "Traceback" not in server.log
    assert dash_br.get_logs() == []


class SocketGate(TcpProxy):
    """A TCP relay to 127.0.0.1:``port`` that can refuse WebSocket handshakes while it
    still relays every HTTP request: the pages load, their sockets fail, as behind a
    proxy whose upgrade path is down. ``refuse()`` also resets the relayed sockets. It
    counts the handshakes it refused."""

    def __init__(self, port: int) -> None:
        self.refusing = False
        self.refused: list[float] = []  # monotonic times
        super().__init__(port)

    def refuse(self) -> None:
        self.refusing = True
        self.cut()

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(10)
        try:
            head = client.recv(65536)
        except OSError:
            client.close()
            return
        client.settimeout(None)
        if head.startswith(b"GET /_dash-ws-callback") and self.refusing:
            self.refused.append(time.monotonic())
            with contextlib.suppress(OSError):
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  struct.pack("ii", 1, 0))
                client.shutdown(socket.SHUT_RDWR)
            client.close()
            return
        self._relay(client, head)


def test_pages_whose_socket_fails_are_told_at_once_and_cost_one_handshake_each(
        dash_br: Any, server: Server) -> None:
    """The backoff still spares the server: while the sockets fail, the worker retries
    on its exponential schedule, and each page load adds one attempt, made at once, so
    the new page hears of the failure at once instead of waiting in silence."""
    gate = SocketGate(int(server.url.rsplit(":", 1)[1]))
    try:
        dash_br.driver.get(gate.url + "/")
        first_output_ms(dash_br, "/")
        gate.refuse()
        dash_br.wait_for_element(NOTICE, timeout=WAIT)
        # Left alone for 6 s, the worker retries on its schedule (delays of 0.5-1 s,
        # then 1-2 s, 2-4 s, ...): three attempts at most, not a loop.
        quiet_from = time.monotonic()
        time.sleep(6.0)  # the window is what is measured: no condition to poll for
        quiet = [t for t in gate.refused if t >= quiet_from]
        assert 1 <= len(quiet) <= 3, quiet
        # Each new page tries at once, and says so at once.
        for i in range(4):
            before = len(gate.refused)
            js(dash_br, "window.__left = true")
            started = time.monotonic()
            dash_br.driver.get(f"{gate.url}/down{i}")
            wait_until(dash_br, lambda: js(dash_br, "return !window.__left && !!document"
                                                    f".querySelector('{NOTICE}')"),
                       timeout=WAIT)
            told = time.monotonic() - started
            assert told < 3.0, f"page {i} told after {told:.1f} s"
            assert len(gate.refused) > before, f"page {i} made no attempt of its own"
            assert dash_br.find_element("#first").text == ""  # nothing came back
        # One attempt per page load, plus the schedule: never a loop.
        elapsed = time.monotonic() - quiet_from
        assert len(gate.refused) <= 4 + 6, (elapsed, gate.refused)
    finally:
        gate.close()


def test_a_dead_server_is_reported_to_the_page_and_the_page_recovers(
        dash_br: Any, tmp_path: Path) -> None:
    """The server is killed as the user moves between pages: the page that has just
    loaded says so, a callback the user triggers does not wait in silence, and when the
    server is back on the same port the page recovers by itself."""
    port = free_port()
    with hypercorn(APP, tmp_path, port=port) as first:
        dash_br.driver.get(first.url + "/")
        first_output_ms(dash_br, "/")
        for path in ("/a", "/b", "/c", "/d"):
            navigate(dash_br, "url", first.url, path)
        # One more page; the server dies once its layout is in (Dash fetches it over
        # HTTP), whether or not its first callback has come back yet.
        js(dash_br, "window.__left = true")
        dash_br.driver.get(first.url + "/e")
        wait_until(dash_br, lambda: js(dash_br, "return !window.__left && "
                                                "!!document.getElementById('field')"))
        os.killpg(first.proc.pid, signal.SIGKILL)  # hypercorn and its worker, at once
        first.proc.wait(10)
        killed = time.monotonic()
    dash_br.find_element("#field").send_keys("x")
    wait_until(dash_br, lambda: dash_br.driver.find_elements("css selector", NOTICE),
               timeout=5.0, message="the page did not say the server is gone")
    told = time.monotonic() - killed
    assert js(dash_br, "return window.quartdash.status.state") == "closed"
    assert dash_br.find_element("#echo").text == ""
    with hypercorn(APP, tmp_path, port=port, ready_path=None) as second:
        # By itself, on the worker's schedule (at most maxDelay, 30 s, after the last try).
        wait_until(dash_br, lambda: js(dash_br, "return window.quartdash.status.state")
                   == "open", timeout=45, message="the page did not reconnect")
        wait_until(dash_br, lambda: not dash_br.driver.find_elements("css selector", NOTICE))
        dash_br.find_element("#field").send_keys("y")
        dash_br.wait_for_text_to_equal("#echo", "echo xy", timeout=WAIT)
        assert "Traceback" not in second.log
    print(f"told {told:.1f} s after the kill")
