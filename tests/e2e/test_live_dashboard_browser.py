"""Headless Chromium through ``examples/live_dashboard.py`` (the guide's app) on a real
hypercorn, as its user would: the page is guarded, the form signs in, the reading
arrives and follows the dropdown, the export's button is disabled while the sync
callback runs and its steps show, and a logout in one tab closes the other tab's socket
with 4401 ("You were signed out.", then the login page)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from quartdash.testing.servers import Server, hypercorn
from tests.authclient import SECRET, TOKEN
from tests.e2e.pages import submit_sign_in

WAIT = 15.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN,
           "QUART_AUTH_COOKIE_SECURE": "0"}
    with hypercorn("examples.live_dashboard:app", tmp_path_factory.mktemp("e2e-live"),
                   env=env, ready_path="/login") as running:
        yield running


def js(browser: Any, script: str) -> Any:
    return browser.driver.execute_script(script)


def until(browser: Any, condition: Any) -> None:
    WebDriverWait(browser.driver, WAIT, poll_frequency=0.05).until(lambda _d: condition())


def reading(browser: Any) -> str:
    return str(browser.find_element("#reading").text)


def test_sign_in_watch_export_and_sign_out(dash_br: Any, server: Server) -> None:
    driver = dash_br.driver
    driver.get(server.url + "/")
    until(dash_br, lambda: driver.current_url.endswith("/login"))  # guarded
    submit_sign_in(driver, "alice", "wonderland")
    dash_br.wait_for_text_to_equal("#who", "Signed in as alice", timeout=WAIT)

    # The live reading: it arrives, changes by itself, and follows the dropdown.
    until(dash_br, lambda: reading(dash_br).startswith("boiler: "))
    first = reading(dash_br)
    until(dash_br, lambda: reading(dash_br) != first)
    dash_br.select_dcc_dropdown("#sensor", "pump")
    until(dash_br, lambda: reading(dash_br).startswith("pump: "))

    # The sync export: the button is disabled while it runs, its steps show.
    button = dash_br.find_element("#export")
    button.click()
    until(dash_br, lambda: not dash_br.find_element("#export").is_enabled())
    until(dash_br, lambda: dash_br.find_element("#export-status").text.startswith(
        "exporting: step "))
    dash_br.wait_for_text_to_equal("#export-status", "report 1 exported for alice",
                                   timeout=WAIT)
    assert dash_br.find_element("#export").is_enabled()
    assert reading(dash_br).startswith("pump: ")  # the stream went on meanwhile

    # A second tab of the same login, then a logout in the first.
    first_tab = driver.current_window_handle
    driver.switch_to.new_window("tab")
    second_tab = driver.current_window_handle
    driver.get(server.url + "/")
    until(dash_br, lambda: reading(dash_br).startswith("boiler: "))
    driver.switch_to.window(first_tab)
    dash_br.find_element("#logout").click()
    until(dash_br, lambda: driver.current_url.endswith("/login"))
    driver.switch_to.window(second_tab)
    notice = dash_br.wait_for_element("#quartdash-notice", timeout=WAIT)
    assert notice.text.startswith("You were signed out.")
    close = js(dash_br, "return window.quartdash.closes.slice(-1)[0]")
    assert (close["code"], close["action"]) == (4401, "final"), close
    until(dash_br, lambda: driver.current_url.endswith("/login"))
    driver.get(server.url + "/")  # still guarded: the cookie is no login any more
    until(dash_br, lambda: driver.current_url.endswith("/login"))
    assert "Traceback" not in server.log
