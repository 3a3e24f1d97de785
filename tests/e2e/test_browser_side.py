"""quartdash's worker and page script in headless Chromium against a real hypercorn:
WebSocket callbacks, the clientside behaviours of Dash's documentation, the event
channel, and reconnecting by itself after a server restart."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from quartdash.testing.servers import Server, TcpProxy, free_port, hypercorn

APP = "tests.e2e.apps.browser_app:app"
WAIT = 15.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with hypercorn(APP, tmp_path_factory.mktemp("browser-app")) as running:
        yield running


def open_page(browser: Any, url: str) -> None:
    browser.driver.get(url)
    browser.wait_for_element("#ticker", timeout=WAIT)
    browser.wait_for_text_to_equal("#cs-upper", "ABC", timeout=WAIT)


def ticker(browser: Any) -> int:
    return int(browser.find_element("#ticker").text or 0)


def wait_until(browser: Any, condition: Any, timeout: float = WAIT) -> Any:
    return WebDriverWait(browser.driver, timeout, poll_frequency=0.05).until(
        lambda _d: condition())


def js(browser: Any, script: str) -> Any:
    return browser.driver.execute_script(script)


def test_websocket_callbacks_progress_get_prop_and_a_persistent_stream(
        dash_br: Any, server: Server) -> None:
    open_page(dash_br, server.url)
    assert js(dash_br, "return window.quartdash.version") == 1
    # The page uses quartdash's worker, not Dash's.
    worker = js(dash_br, "return JSON.parse(document.getElementById('_dash-config')"
                         ".textContent).websocket.worker_url")
    assert "quartdash-worker.js" in worker
    # progress by set_props: the bar moves through intermediate values, then "done"
    js(dash_br, """
        window.__bar = [];
        new MutationObserver(() => window.__bar.push(document.getElementById('bar-text')
            .textContent)).observe(document.getElementById('bar-text'),
            {childList: true, characterData: true, subtree: true});""")
    dash_br.find_element("#start").click()
    dash_br.wait_for_text_to_equal("#bar-done", "done", timeout=WAIT)
    assert dash_br.find_element("#bar-text").text == "100%"
    assert dash_br.find_element("#bar").get_attribute("value") == "100"
    seen = js(dash_br, "return window.__bar")
    assert len(set(seen)) >= 3 and seen[-1] == "100%", seen
    # get_prop reads what the page holds now
    dash_br.clear_input("#field")
    dash_br.find_element("#field").send_keys("fresh text")
    dash_br.find_element("#read").click()
    dash_br.wait_for_text_to_equal("#read-out", "read: fresh text", timeout=WAIT)
    # the persistent callback streams
    first = ticker(dash_br)
    wait_until(dash_br, lambda: ticker(dash_br) >= first + 3)
    # all of it over the socket: no HTTP callback request
    posts = js(dash_br, "return performance.getEntriesByType('resource')"
                        ".filter(e => e.name.includes('_dash-update-component')).length")
    assert posts == 0
    assert dash_br.get_logs() == []


def test_clientside_callbacks_behave_as_in_dash(dash_br: Any, server: Server) -> None:
    open_page(dash_br, server.url)
    # inline function, ClientsideFunction from assets/, promise
    dash_br.wait_for_text_to_equal("#cs-double", "doubled 42", timeout=WAIT)
    dash_br.wait_for_text_to_equal("#cs-promise", "resolved abc", timeout=WAIT)
    dash_br.find_element("#cs-in").send_keys("d")
    dash_br.wait_for_text_to_equal("#cs-upper", "ABCD", timeout=WAIT)
    dash_br.wait_for_text_to_equal("#cs-promise", "resolved abcd", timeout=WAIT)
    # triggered_id
    dash_br.find_element("#cs-right").click()
    dash_br.wait_for_text_to_equal("#cs-which", "clicked cs-right", timeout=WAIT)
    dash_br.find_element("#cs-left").click()
    dash_br.wait_for_text_to_equal("#cs-which", "clicked cs-left", timeout=WAIT)
    # no_update: the first (odd) click leaves the output alone
    dash_br.find_element("#cs-even").click()
    dash_br.find_element("#cs-right").click()  # a later callback has surely run
    dash_br.wait_for_text_to_equal("#cs-which", "clicked cs-right", timeout=WAIT)
    assert dash_br.find_element("#cs-even-out").text == "untouched"
    dash_br.find_element("#cs-even").click()
    dash_br.wait_for_text_to_equal("#cs-even-out", "even 2", timeout=WAIT)
    # dash_clientside.set_props from an event listener
    dash_br.find_element("#cs-which").click()
    js(dash_br, "document.body.dispatchEvent(new KeyboardEvent('keydown', "
                "{key: 'q', bubbles: true}))")
    dash_br.wait_for_text_to_equal("#cs-key", "key q", timeout=WAIT)
    # a clientside callback fed by a WebSocket callback's output
    dash_br.find_element("#ws-to-store").click()
    dash_br.find_element("#ws-to-store").click()
    dash_br.wait_for_text_to_equal("#cs-from-ws", "2^2 = 4", timeout=WAIT)
    assert dash_br.get_logs() == []


def test_a_thousand_events_arrive_all_and_in_order(dash_br: Any, server: Server) -> None:
    open_page(dash_br, server.url)
    dash_br.find_element("#emit").click()
    dash_br.wait_for_text_to_equal("#emit-done", "emitted 1000", timeout=WAIT)
    dash_br.wait_for_text_to_equal("#events-seen", "seen 1000", timeout=WAIT)
    assert js(dash_br, "return window.__ticks") == list(range(1000))
    # a second burst after the first: still every one, once
    dash_br.find_element("#emit").click()
    dash_br.wait_for_text_to_equal("#events-seen", "seen 2000", timeout=WAIT)
    assert js(dash_br, "return window.__ticks") == list(range(1000)) * 2
    assert dash_br.get_logs() == []


def test_tabs_reconnect_by_themselves_after_a_server_restart(
        dash_br: Any, tmp_path: Path) -> None:
    port = free_port()
    with hypercorn(APP, tmp_path, port=port) as first:
        open_page(dash_br, first.url)
        wait_until(dash_br, lambda: ticker(dash_br) >= 3)
        first.proc.send_signal(signal.SIGTERM)
        first.proc.wait(10)
    # The page heard why: 1001 from the server, not a dropped connection.
    wait_until(dash_br, lambda: js(dash_br, "return window.quartdash.closes.length") >= 1)
    close = js(dash_br, "return window.quartdash.closes[0]")
    assert (close["code"], close["action"]) == (1001, "retry")
    dash_br.wait_for_element("#quartdash-reconnecting", timeout=WAIT)
    with hypercorn(APP, tmp_path, port=port, ready_path=None) as second:
        # The persistent callback starts again on the new server: the ticker restarts
        # from 1 and counts up.
        wait_until(dash_br, lambda: js(dash_br, "return window.quartdash.status.state")
                   == "open", timeout=30)
        wait_until(dash_br, lambda: 3 <= ticker(dash_br) <= 30)
        later = ticker(dash_br)
        wait_until(dash_br, lambda: ticker(dash_br) > later)
        assert not dash_br.driver.find_elements("css selector", "#quartdash-reconnecting")
        # and callbacks answer again
        dash_br.find_element("#read").click()
        dash_br.wait_for_text_to_equal("#read-out", "read: typed in the page", timeout=WAIT)
        assert "Traceback" not in second.log


def test_dashs_own_worker_ignores_quartdash_messages(dash_br: Any, tmp_path: Path) -> None:
    env = {"BROWSER_APP_DASH_WORKER": "1"}
    with hypercorn(APP, tmp_path, env=env) as stock:
        open_page(dash_br, stock.url)
        worker = js(dash_br, "return JSON.parse(document.getElementById('_dash-config')"
                             ".textContent).websocket.worker_url")
        assert "dash-ws-worker" in worker
        dash_br.find_element("#emit").click()  # events Dash's worker does not know
        dash_br.wait_for_text_to_equal("#emit-done", "emitted 1000", timeout=WAIT)
        dash_br.find_element("#start").click()
        dash_br.wait_for_text_to_equal("#bar-done", "done", timeout=WAIT)
        dash_br.find_element("#read").click()
        dash_br.wait_for_text_to_equal("#read-out", "read: typed in the page", timeout=WAIT)
        first = ticker(dash_br)
        wait_until(dash_br, lambda: ticker(dash_br) > first)
        assert js(dash_br, "return (window.__ticks || []).length") == 0
        assert dash_br.get_logs() == []


def test_a_dropped_connection_resumes_and_the_persistent_callback_goes_on(
        dash_br: Any, tmp_path: Path) -> None:
    """The network drops the page's socket (a reset, no close frame): the worker
    resumes it within the grace window, the persistent callback never restarts (its
    count goes on from where it was), and no "disconnected" reaches the renderer.
    The resume token is in no URL: the access log, written as a proxy writes it (with
    the query string), shows both sockets as ``?quartdash=1`` and nothing else."""
    access_log = ["--access-logfile", "-", "--access-logformat", "access: %(R)s %(s)s"]
    with hypercorn(APP, tmp_path, args=access_log) as server:
        proxy = TcpProxy(int(server.url.rsplit(":", 1)[1]))
        try:
            open_page(dash_br, proxy.url)
            wait_until(dash_br, lambda: ticker(dash_br) >= 10)
            proxy.cut()
            before = ticker(dash_br)
            wait_until(dash_br, lambda: js(dash_br, "return window.quartdash.closes.length") >= 1)
            assert js(dash_br, "return window.quartdash.closes[0].resumable") is True
            wait_until(dash_br, lambda: (js(dash_br, "return window.quartdash.status") or {})
                       .get("resumed") is True, timeout=30)
            # The count goes on past where it was: the same callback, not a new one.
            wait_until(dash_br, lambda: ticker(dash_br) > before + 5)
            assert "resumed after" in server.log
            assert "Traceback" not in server.log
            sockets = [line.split("access: ", 1)[1] for line in server.log.splitlines()
                       if "access: GET /_dash-ws-callback" in line]
            assert len(sockets) >= 2, sockets  # the first socket and its resume
            assert set(sockets) == {"GET /_dash-ws-callback?quartdash=1 1.1 101"}, sockets
            # and callbacks answer as before
            dash_br.find_element("#read").click()
            dash_br.wait_for_text_to_equal("#read-out", "read: typed in the page", timeout=WAIT)
        finally:
            proxy.close()
