"""A callback that fails over the socket shows in Dash's error pop-up exactly as one that
fails over HTTP: in debug mode the same title ("Callback error updating ...", or "...
with no output from input ..."), the same traceback page, pruned the same way; outside
debug mode nothing of the exception reaches the browser. Headless Chromium against a
real hypercorn serving ``tests/e2e/apps/errors_app.py``, where each failing callback
exists twice, once with ``websocket=False``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from quartdash.callbacks.runner import GENERIC_ERROR
from quartdash.testing.servers import Server, hypercorn
from tests.e2e.apps.errors_text import MARKUP, SECRET

APP = "tests.e2e.apps.errors_app:app"
WAIT = 20.0
COUNT = ".test-devtools-error-count"

#: Records, before any page script runs, every message the worker sends to the page,
#: as it arrives (before the page script hands it to the renderer).
SPY = """
window.__fromWorker = [];
const Native = window.SharedWorker;
window.SharedWorker = class extends Native {
    constructor(url, options) {
        super(url, options);
        this.port.addEventListener("message",
            (event) => window.__fromWorker.push(JSON.stringify(event.data)));
    }
};
"""


def serve(mode: str, tmp_path: Path) -> Any:
    return hypercorn(APP, tmp_path, env={"ERRORS_APP_MODE": mode})


@pytest.fixture(scope="module")
def debug_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("debug", tmp_path_factory.mktemp("errors-debug")) as running:
        yield running


def js(browser: Any, script: str) -> Any:
    return browser.driver.execute_script(script)


def wait_until(browser: Any, condition: Any, timeout: float = WAIT) -> Any:
    return WebDriverWait(browser.driver, timeout, poll_frequency=0.05).until(
        lambda _d: condition())


def open_page(browser: Any, url: str) -> None:
    browser.driver.get(url)
    browser.wait_for_element("#ws-ok", timeout=WAIT)
    # The socket is up and answers: a callback over it has run.
    browser.find_element("#ws-ok").click()
    browser.wait_for_text_to_equal("#ws-ok-out", "ok 1", timeout=WAIT)


def errors(browser: Any) -> list[dict[str, Any]]:
    """What the renderer's error pop-up holds, newest first: each error's title
    (``message``), its server answer (``html``) and whether it is a JavaScript error
    (the renderer's own stack, as a bare ``Error`` thrown for the socket shows)."""
    return list(js(browser, """
        return store.getState().error.backEnd.map((e) => ({
            message: e.error.message, html: e.error.html === undefined ? null : e.error.html,
            js_error: e.error instanceof Error}));"""))


def fail(browser: Any, button: str, count: int) -> dict[str, Any]:
    """Click ``button``, wait for its error to reach the pop-up, and return it."""
    browser.find_element(button).click()
    wait_until(browser, lambda: len(errors(browser)) == count)
    return errors(browser)[0]


def same_callback(page: str) -> str:
    """The traceback page with what differs between the two twin callbacks made equal:
    their names and their line numbers in errors_app.py."""
    page = re.sub(r"\b(http|ws)_(fail|noout)\b", r"CALLBACK_\2", page)
    return re.sub(r"line \d+", "line N", page)


def test_debug_popup_over_the_socket_is_the_one_over_http(
        dash_br: Any, debug_server: Server) -> None:
    open_page(dash_br, debug_server.url)
    http = fail(dash_br, "#http-fail", 1)
    ws = fail(dash_br, "#ws-fail", 2)
    assert http["message"] == "Callback error updating http-out.children"
    assert ws["message"] == "Callback error updating ws-out.children"
    assert not ws["js_error"] and not http["js_error"]
    # The same traceback page: the app's frames only (pruned), down to the raise.
    assert ws["html"].lstrip().lower().startswith("<!doctype html>")
    assert same_callback(ws["html"]) == same_callback(http["html"])
    assert "in ws_fail" in ws["html"] and "in connect_to_database" in ws["html"]
    assert f"ValueError: could not connect to {SECRET} (attempt 1)" in ws["html"]
    assert "_callback.py" not in ws["html"] and "quartdash" not in ws["html"]

    # A no-output callback that returns a value: Dash's title and message.
    http = fail(dash_br, "#http-noout", 3)
    ws = fail(dash_br, "#ws-noout", 4)
    assert http["message"] == "Callback error with no output from input http-noout.n_clicks"
    assert ws["message"] == "Callback error with no output from input ws-noout.n_clicks"
    assert same_callback(ws["html"]) == same_callback(http["html"])
    assert ("InvalidCallbackReturnValue: No-output callback received return value: "
            "clicked 1") in ws["html"]

    # What the pop-up shows: the same titles, and each traceback in its frame.
    dash_br.find_element(".test-devtools-error-toggle").click()
    titles = [e.text for e in dash_br.find_elements(".dash-fe-error__title")]
    assert titles == [
        "Callback error with no output from input ws-noout.n_clicks",
        "Callback error with no output from input http-noout.n_clicks",
        "Callback error updating ws-out.children",
        "Callback error updating http-out.children",
    ]
    for collapsed in dash_br.find_elements(".dash-fe-error__collapse--flipped"):
        collapsed.click()  # only the newest is open at first
    shown = wait_until(dash_br, lambda: js(dash_br, """
        const frames = Array.from(document.querySelectorAll('.dash-backend-error iframe'));
        const texts = frames.map((f) => f.contentDocument && f.contentDocument.body
            ? f.contentDocument.body.innerText : '');
        return texts.length === 4 && texts.every((t) => t.length) ? texts : null;"""))
    assert [same_callback(t) for t in shown[:2]] == [same_callback(shown[1])] * 2
    assert [same_callback(t) for t in shown[2:]] == [same_callback(shown[3])] * 2
    # The renderer's own JavaScript stack is not shown for either.
    assert "This error originated from the built-in JavaScript code" not in js(
        dash_br, "return document.body.innerText")


def test_markup_in_an_exception_shows_as_text_and_never_runs(
        dash_br: Any, debug_server: Server) -> None:
    open_page(dash_br, debug_server.url)
    ws = fail(dash_br, "#ws-markup", 1)
    assert ws["message"] == "Callback error updating ws-markup-out.children"
    assert "&lt;img src=x" in ws["html"] and "<img" not in ws["html"]
    dash_br.find_element(".test-devtools-error-toggle").click()
    text = wait_until(dash_br, lambda: js(dash_br, """
        const f = document.querySelector('.dash-backend-error iframe');
        return f && f.contentDocument && f.contentDocument.body
            && f.contentDocument.body.innerText.includes('RuntimeError')
            ? f.contentDocument.body.innerText : null;"""))
    assert f"RuntimeError: bad value {MARKUP}" in text
    assert js(dash_br, """
        const f = document.querySelector('.dash-backend-error iframe');
        return [window.__xss, f.contentWindow.__xss];""") == [None, None]


def test_unpruned_traceback_over_the_socket_keeps_every_frame(
        dash_br: Any, tmp_path: Path) -> None:
    with serve("debug-full", tmp_path) as server:
        open_page(dash_br, server.url)
        http = fail(dash_br, "#http-fail", 1)
        ws = fail(dash_br, "#ws-fail", 2)
    for answer, name in ((http, "http_fail"), (ws, "ws_fail")):
        page = answer["html"]
        # dev_tools_prune_errors=False: the server's frames too, as Dash shows them.
        assert "_callback.py" in page and "callback invoked" in page
        assert f"in {name}" in page and "in connect_to_database" in page
    assert "quartdash/transport/handler.py" in ws["html"] and "quartdash/transport/http.py" in http["html"]


@pytest.mark.parametrize("mode", ["ui", "off"])
def test_outside_debug_mode_nothing_of_the_exception_reaches_the_browser(
        dash_br: Any, tmp_path: Path, mode: str) -> None:
    dash_br.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SPY})
    with serve(mode, tmp_path) as server:
        open_page(dash_br, server.url)
        assert js(dash_br, "return window.__fromWorker.length") > 0  # the spy listens
        http = fail(dash_br, "#http-fail", 1)
        ws = fail(dash_br, "#ws-fail", 2)
        assert ws == {"message": "Callback error updating ws-out.children",
                      "html": GENERIC_ERROR, "js_error": False}
        assert http["message"] == "Callback error updating http-out.children"
        seen = json.dumps([
            js(dash_br, "return window.__fromWorker"),
            errors(dash_br),
            js(dash_br, "return document.documentElement.outerHTML"),
        ])
        # The traceback and the exception's text are in the server's log only.
        assert "connect_to_database" in server.log and SECRET in server.log
    for piece in (SECRET, "could not connect", "connect_to_database", "Traceback",
                  "ValueError"):
        assert piece not in seen, piece
