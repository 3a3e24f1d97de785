"""An ordinary tab close, in headless Chromium against a real hypercorn serving
examples/echo.py, is not logged as if the network had failed.

The tabs of one browser share quartdash's SharedWorker and its one socket. Chromium ends
the worker once its last tab is gone, and the socket with it, without a close frame:
to the server that read exactly as a network failure (the connection was parked for a
resume no one would ask for, "dropped; kept 10 s for a resume", then a disconnect with
no code). So the page script tells the worker when its tab goes, and the worker, when
that was the last tab, says goodbye (``quartdash_bye``) before it is ended: the server
closes the connection with 1000 at once, and logs just that. Closing one of several tabs
leaves the socket to the others."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quartdash.testing.servers import Server, hypercorn
from tests.e2e.pages import poll

WAIT = 15.0
#: The registry's lines (logger ``quartdash.connections``): ``connect id=...``, and
#: ``disconnect id=... code=...`` (the close code sent, ``-`` when the peer left).
CONNECT = re.compile(r"\bconnect id=(\w+)")
#: What the server logs for a socket lost without a goodbye (``transport/resume.py``).
DROPPED = "dropped; kept"


#: A drain that fits the test servers' 2 s graceful timeout (with its 1 s margin): the
#: default 2 s is cut to fit, with a warning, and these tests read the log for warnings.
ENV = {"QUARTDASH_DRAIN_SECONDS": "1"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with hypercorn("examples.echo:app", tmp_path, env=ENV) as running:
        yield running




def open_echo(browser: Any, server: Server, text: str) -> None:
    """Load the echo page in the current tab and see one callback answered over the socket."""
    browser.driver.get(server.url)
    browser.wait_for_element("#in", timeout=WAIT).send_keys(text)
    browser.wait_for_text_to_equal("#out", text, timeout=WAIT)


def only_connection(server: Server) -> str:
    """The id of the one socket the server admitted."""
    ids = CONNECT.findall(server.log)
    assert len(ids) == 1, f"one socket for the browser's tabs, got {ids}:\n{server.log}"
    return str(ids[0])


def disconnect_line(server: Server, conn_id: str) -> str:
    """The registry's disconnect line for ``conn_id``, once it is logged."""
    def line() -> str | None:
        return next((entry for entry in server.log.splitlines()
                     if f"disconnect id={conn_id} " in entry), None)
    return str(poll(line, f"no disconnect line for {conn_id}:\n{server.log}"))


def assert_closed_normally(server: Server, conn_id: str) -> None:
    """The server closed the socket as one the page ended on purpose: 1000, logged at
    INFO as the disconnect, with no trace of a drop or a warning."""
    line = disconnect_line(server, conn_id)
    assert " code=1000 " in line, f"a tab close reads as a failure: {line}\n{server.log}"
    assert DROPPED not in server.log, server.log
    assert "WARNING" not in server.log and "ERROR" not in server.log, server.log
    assert "Traceback" not in server.log, server.log


def close_tab(browser: Any, handle: str, then: str) -> None:
    """Close the tab ``handle`` as a user does, and go on in the tab ``then``."""
    driver = browser.driver
    driver.switch_to.window(handle)
    driver.close()
    driver.switch_to.window(then)


def test_closing_the_last_tab_says_goodbye(dash_br: Any, server: Server) -> None:
    driver = dash_br.driver
    page = driver.current_window_handle
    open_echo(dash_br, server, "hello")
    conn_id = only_connection(server)
    driver.switch_to.new_window("tab")  # a blank tab keeps the browser open
    blank = driver.current_window_handle
    close_tab(dash_br, page, then=blank)
    assert_closed_normally(server, conn_id)


def test_one_of_two_tabs_closes_and_the_other_keeps_the_socket(
        dash_br: Any, server: Server) -> None:
    driver = dash_br.driver
    first = driver.current_window_handle
    open_echo(dash_br, server, "one")
    driver.switch_to.new_window("tab")
    second = driver.current_window_handle
    open_echo(dash_br, server, "two")
    conn_id = only_connection(server)  # the two tabs share the worker's socket
    close_tab(dash_br, first, then=second)
    # The remaining tab's callbacks still run, on the same socket.
    dash_br.find_element("#in").send_keys(" more")
    dash_br.wait_for_text_to_equal("#out", "two more", timeout=WAIT)
    assert f"disconnect id={conn_id} " not in server.log, server.log
    assert DROPPED not in server.log, server.log
    driver.switch_to.new_window("tab")
    blank = driver.current_window_handle
    close_tab(dash_br, second, then=blank)
    assert_closed_normally(server, conn_id)
    assert only_connection(server) == conn_id


def test_closing_the_browser_says_goodbye(dash_br: Any, server: Server) -> None:
    open_echo(dash_br, server, "bye")
    conn_id = only_connection(server)
    # The last window closed: the browser exits, as when a user closes it.
    assert len(dash_br.driver.window_handles) == 1
    dash_br.driver.close()
    assert_closed_normally(server, conn_id)
