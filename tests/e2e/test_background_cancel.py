"""``cancel=`` of background callbacks (diskcache manager) in headless Chromium against
a real hypercorn. Dash's hidden cancel callback names the jobs to stop only in an HTTP
query string (``cancelJob``); sent over the socket it stopped nothing.

A cancelled job is proven stopped, not just ignored: each job leaves a file when it
finishes, and once a later job of the same length has finished, the cancelled one's
file must be missing. The apps are Dash's (tests/background_callback/app3.py and
app_page_cancel.py, Dash's test_lcbc003 and test_lcbc016), made QuartDash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from quartdash.testing.servers import Server, hypercorn

APP = "tests.e2e.apps.cancel_app:app"
WAIT = 20.0


def serve(tmp_path: Path, **env: str) -> Iterator[tuple[Server, Path]]:
    cache = tmp_path / "cache"
    with hypercorn(APP, tmp_path, env={"CANCEL_APP_CACHE": str(cache), **env}) as running:
        yield running, cache


@pytest.fixture
def app3(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    yield from serve(tmp_path)


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    yield from serve(tmp_path, CANCEL_APP_PAGES="1")


def wait_file(path: Path, browser: Any) -> None:
    WebDriverWait(browser.driver, WAIT, poll_frequency=0.1).until(lambda _d: path.exists())


def wait_polled(browser: Any) -> None:
    """Wait until the renderer polls the job it started. "Running" shows as the
    request leaves, but a cancel names only the jobs the renderer knows: those whose
    start it has received, which it then polls (``cacheKey=`` in the URL)."""
    polls = """return performance.getEntriesByType('resource').filter(
        e => e.name.includes('_dash-update-component') && e.name.includes('cacheKey=')).length"""
    before = browser.driver.execute_script(polls)
    WebDriverWait(browser.driver, WAIT, poll_frequency=0.05).until(
        lambda d: d.execute_script(polls) > before)


def test_cancel_stops_a_running_job(dash_br: Any, app3: tuple[Server, Path]) -> None:
    """Dash's test_lcbc003 (app3): Run, Cancel while it runs, Run again."""
    server, cache = app3
    dash_br.driver.get(server.url)
    dash_br.wait_for_text_to_equal("#result", "No results", timeout=WAIT)
    dash_br.find_element("#run-button").click()
    dash_br.wait_for_text_to_equal("#status", "Running", timeout=WAIT)
    wait_polled(dash_br)
    dash_br.find_element("#cancel-button").click()
    dash_br.wait_for_text_to_equal("#status", "Finished", timeout=WAIT)
    assert dash_br.find_element("#result").text == "No results"

    # A second job, as long as the first: once it has finished, the first one would
    # have too, had the cancel not stopped it.
    dash_br.find_element("#run-button").click()
    dash_br.wait_for_text_to_equal("#result", "Processed 'initial value'", timeout=WAIT)
    dash_br.wait_for_text_to_equal("#status", "Finished", timeout=WAIT)
    wait_file(cache / "finished-2", dash_br)
    assert not (cache / "finished-1").exists(), "the cancelled job ran to its end"
    assert dash_br.get_logs() == []


def test_shared_cancel_after_a_page_change(dash_br: Any, pages: tuple[Server, Path]) -> None:
    """Dash's test_lcbc016 (app_page_cancel): the main layout's cancel button, and the
    page's own, stop the job of the page shown, after a Dash Pages navigation."""
    server, cache = pages
    dash_br.driver.get(server.url)
    dash_br.wait_for_text_to_equal("#output1", "initial", timeout=WAIT)
    dash_br.find_element("a[href='/2']").click()
    dash_br.wait_for_text_to_equal("#output2", "initial", timeout=WAIT)
    for cancel in ("#shared_cancel", "#cancel2"):
        dash_br.find_element("#start2").click()
        dash_br.wait_for_text_to_equal("#progress2", "running", timeout=WAIT)
        wait_polled(dash_br)
        dash_br.find_element(cancel).click()
        dash_br.wait_for_text_to_equal("#progress2", "idle", timeout=WAIT)
        assert dash_br.find_element("#output2").text == "initial"

    dash_br.find_element("#start2").click()
    dash_br.wait_for_text_to_equal("#output2", "Click 3", timeout=WAIT)
    wait_file(cache / "finished-page2-3", dash_br)
    for clicks in (1, 2):
        assert not (cache / f"finished-page2-{clicks}").exists(), f"job {clicks} ran on"
    assert dash_br.get_logs() == []
