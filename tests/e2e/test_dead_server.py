"""A callback the user triggers while the server is gone is answered as Dash answers it
over HTTP: in debug mode the error pop-up says "Callback failed: the server did not
respond.", within the worker's bound (``CALLBACK_WAIT`` in renderer_patch/src/socket.js,
5 s) instead of waiting through the reconnect backoff in silence; when the server is
back the page's callbacks answer again. A callback queued while the socket is back in
time (a network drop it resumes, a restart behind a proxy) is served, not failed.
Headless Chromium against a real hypercorn serving ``tests/e2e/apps/errors_app.py`` in
debug mode; Dash's own ``test_dvhr001_hot_reload`` checks the same pop-up after
``dash_duo.server.stop()``."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from quartdash.testing.servers import TcpProxy, free_port, hypercorn
from tests.e2e.test_error_parity import SPY, errors, js, open_page, wait_until

APP = "tests.e2e.apps.errors_app:app"
DEBUG = {"ERRORS_APP_MODE": "debug"}
NO_RESPONSE = "Callback failed: the server did not respond."
#: The worker's bound (socket.js CALLBACK_WAIT), and what a loaded machine may add to it.
BOUND = 5.0
MARGIN = 4.0


def state(browser: Any) -> str:
    return str(js(browser, "return window.quartdash.status.state"))


def from_worker(browser: Any) -> list[dict[str, Any]]:
    """Every message the worker sent the page (the SPY's record)."""
    return [json.loads(m) for m in js(browser, "return window.__fromWorker")]


def test_a_callback_to_a_dead_server_shows_dashs_error_in_time_and_answers_once_it_is_back(
        dash_br: Any, tmp_path: Path) -> None:
    dash_br.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SPY})
    port = free_port()
    with hypercorn(APP, tmp_path, env=DEBUG, port=port) as first:
        open_page(dash_br, first.url)
        os.killpg(first.proc.pid, signal.SIGKILL)  # hypercorn and its worker, at once
        first.proc.wait(10)
    wait_until(dash_br, lambda: state(dash_br) == "closed")  # the worker saw the drop
    clicked = time.monotonic()
    dash_br.find_element("#ws-ok").click()
    wait_until(dash_br, lambda: len(errors(dash_br)) == 1, timeout=BOUND + MARGIN)
    took = time.monotonic() - clicked
    # The renderer's own error for a callback that got no response: a bare Error.
    assert errors(dash_br) == [{"message": NO_RESPONSE, "html": None, "js_error": True}]
    assert BOUND - 0.5 <= took <= BOUND + MARGIN, took  # the bound, not the backoff
    print(f"the error reached the page {took:.1f} s after the click")
    dash_br.find_element(".test-devtools-error-toggle").click()
    dash_br.wait_for_text_to_equal(".dash-fe-error__title", NO_RESPONSE, timeout=5)
    assert dash_br.find_element("#ws-ok-out").text == "ok 1"
    given_up = [m for m in from_worker(dash_br) if m.get("type") == "callback_response"
                and (m.get("payload") or {}).get("noResponse")]
    assert len(given_up) == 1, given_up

    with hypercorn(APP, tmp_path, env=DEBUG, port=port, ready_path=None) as second:
        # By itself, on the worker's schedule (at most maxDelay, 30 s, after the last try).
        wait_until(dash_br, lambda: state(dash_br) == "open", timeout=45)
        dash_br.find_element("#ws-ok").click()
        dash_br.wait_for_text_to_equal("#ws-ok-out", "ok 3", timeout=20)
        assert "Traceback" not in second.log
    # The request given up was never sent later: no answer to it reached the page.
    answers = [m for m in from_worker(dash_br) if m.get("type") == "callback_response"
               and m.get("requestId") == given_up[0]["requestId"]]
    assert answers == given_up
    assert "ok 2" not in json.dumps(from_worker(dash_br))
    assert len(errors(dash_br)) == 1


@pytest.mark.parametrize("outage", ["network drop", "restart"])
def test_a_callback_queued_while_the_socket_comes_back_in_time_is_served(
        dash_br: Any, tmp_path: Path, outage: str) -> None:
    """``network drop``: the relay resets the page's socket, the worker resumes it at its
    first retry. ``restart``: the server is stopped (SIGTERM: it closes the sockets
    with 1001, so the tabs are told "disconnected") while the proxy already sends new
    connections to its successor, as in a rolling deploy. Either way the click made
    while no socket is up waits for the next one and is served by it."""
    dash_br.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SPY})
    with hypercorn(APP, tmp_path, env=DEBUG) as first, \
            hypercorn(APP, tmp_path, env=DEBUG) as successor:
        proxy = TcpProxy(int(first.url.rsplit(":", 1)[1]))
        try:
            open_page(dash_br, proxy.url)
            if outage == "network drop":
                proxy.cut()
            else:
                proxy.upstream = int(successor.url.rsplit(":", 1)[1])
                # To its main process, as an orchestrator stops it (tests/transport/test_shutdown.py).
                first.proc.send_signal(signal.SIGTERM)
            wait_until(dash_br, lambda: js(dash_br, "return window.quartdash.closes.length") >= 1)
            close = js(dash_br, "return window.quartdash.closes[0]")
            assert close["resumable"] is (outage == "network drop"), close
            clicked = time.monotonic()
            dash_br.find_element("#ws-ok").click()
            dash_br.wait_for_text_to_equal("#ws-ok-out", "ok 2", timeout=BOUND + MARGIN)
            took = time.monotonic() - clicked
            assert js(dash_br, "return window.quartdash.status.state") == "open"
            assert errors(dash_br) == []
            assert not any((m.get("payload") or {}).get("noResponse")
                           for m in from_worker(dash_br) if isinstance(m, dict))
            served_by = successor if outage == "restart" else first
            assert "Traceback" not in served_by.log
            print(f"{outage}: served {took:.1f} s after the click")
        finally:
            proxy.close()
