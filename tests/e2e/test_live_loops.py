"""The examples' persistent loops outlive a tab that stops answering ``get_prop``.

A browser freezes a tab it hides for long enough (and a debugger pauses one): its
SharedWorker keeps the socket open, so the server's loop sees no close, only
``get_prop`` requests that nobody answers. Here the tab is frozen the way Chromium
does it (the DevTools protocol's ``Page.setWebLifecycleState``), on a real hypercorn:
each example must log one line for the silence and no traceback, stay alive, and pick
up where it is once the tab is thawed. Before, such a loop waited Dash's 30 s, raised
``TimeoutError`` with a traceback, and never ran again.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from quartdash.testing.servers import stop
from tests import ROOT
from tests.e2e.test_examples import WAIT, Page, example, frame, lamp  # noqa: F401

SILENT = "the page did not answer get_prop"
BACK = "the page answers again after"
ANSWER_SECONDS = 5.0  # examples.*.ANSWER_SECONDS (not imported: that would build their apps)
OLD_TIMEOUT = 30.0  # get_prop's default: what the loops waited before


def log_config(tmp_path: Path) -> list[str]:
    """hypercorn options that show the apps' INFO lines (the recovery) in its log."""
    path = tmp_path / "logging.json"
    path.write_text(json.dumps({"version": 1, "disable_existing_loggers": False,
                                "root": {"level": "INFO"}}))
    return ["--log-config", f"json:{path}"]


@contextlib.contextmanager
def frozen(page: Page) -> Iterator[None]:
    """The tab frozen as Chromium freezes a hidden one: no script of the page runs
    (its SharedWorker, holding the socket, does). Thawed on the way out, whatever
    happened, so the browser can be driven again."""
    lifecycle = "Page.setWebLifecycleState"
    page.driver.execute_cdp_cmd(lifecycle, {"state": "frozen"})
    try:
        yield
    except BaseException:
        # A loop that failed may leave others streaming into the frozen page (the old
        # reactor did): stop the server first, or the thawed page is too busy with the
        # backlog for the browser to report the failure.
        stop(page.server.proc)
        raise
    finally:
        page.driver.execute_cdp_cmd(lifecycle, {"state": "active"})


def log_shows(page: Page, condition: Callable[[str], bool], timeout: float) -> str:
    """Poll the server's log (not the frozen page) until ``condition`` holds on it."""
    deadline = time.monotonic() + timeout
    while not condition(log := page.server.log):
        if time.monotonic() > deadline:
            raise AssertionError(f"{page.name}: not in the server log after {timeout} s:\n{log}")
        time.sleep(0.1)
    return log


def play(page: Page) -> None:
    page.click("#play")
    page.until(lambda: lamp(page) is not None)


def choose_rods(page: Page) -> None:
    """The metrics loop reads the page again: a new setting takes effect."""
    page.browser.find_element("#rods input[value='100']").click()
    page.until(lambda: page.text("#rods-read") == "100 %")


#: name: (what to do first, a value the live page keeps changing, a check afterwards)
CASES: dict[str, tuple[Callable[[Page], None] | None, Callable[[Page], Any],
                       Callable[[Page], None] | None]] = {
    "reactor": (None, lambda page: page.js(
        "return " + frame("document.querySelector('#core .js-plotly-plot')")), choose_rods),
    "drum": (play, lamp, None),
    "life": (None, lambda page: page.text("#generation"), None),
    "particles": (None, lambda page: page.js(
        "return document.querySelector('#box .js-plotly-plot')?.data[0].y[0]"), None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_frozen_tab_does_not_end_the_loop(
    example: Callable[..., Page], tmp_path: Path, name: str  # noqa: F811
) -> None:
    prepare, live, after = CASES[name]
    page = example(name, args=log_config(tmp_path))
    if prepare is not None:
        prepare(page)
    page.changes(lambda: live(page), within=WAIT)
    # The loop counts the page as answering: every silence so far has ended (a page
    # loading on a loaded machine can be slower than ANSWER_SECONDS).
    log = log_shows(page, lambda log: log.count(SILENT) == log.count(BACK), timeout=WAIT)
    silences, recoveries = log.count(SILENT), log.count(BACK)
    with frozen(page):
        # The loop waits ANSWER_SECONDS for the page and says so in one line; the old
        # one waited 30 s and raised.
        log = log_shows(page, lambda log: log.count(SILENT) > silences or "Traceback" in log,
                        timeout=OLD_TIMEOUT + 15)
        assert "Traceback" not in log, log
        # A window in which the loop asks and times out again: still that one line.
        time.sleep(ANSWER_SECONDS + 1)
        log = page.server.log
        assert log.count(SILENT) == silences + 1, log
        assert log.count(BACK) == recoveries, log
    log_shows(page, lambda log: log.count(BACK) > recoveries, timeout=WAIT)
    page.changes(lambda: live(page), within=WAIT)  # running again
    if after is not None:
        after(page)
    # ... and the same loop: the socket was never replaced (a new one would have
    # restarted the persistent callback).
    log = page.server.log
    assert log.count(" connect id=") == 1, log
    page.finish()


def test_the_docs_quote_the_example() -> None:
    """docs/live-callbacks.md shows examples/life.py's loop as it is."""
    doc = (ROOT / "docs" / "live-callbacks.md").read_text()
    quoted = doc.split("## The pattern", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert "except TimeoutError:" in quoted
    assert quoted in (ROOT / "examples" / "life.py").read_text()
