"""Headless Chromium against ``examples.auth_admin`` on a real hypercorn: sign in through
the form, watch the live counter, sign out; a logout in one tab ends the session in its
other tabs, shown by quartdash's notice, and nowhere else; the admin's live table closes
another browser's session with its button."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from quartdash import CloseCode
from quartdash.testing.servers import Server, hypercorn
from tests import ROOT
from tests.authclient import SECRET, TOKEN, admin, closed_code, login, session_socket, who
from tests.e2e.pages import submit_sign_in

WAIT = 15.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN}
    with hypercorn("examples.auth_admin:app", tmp_path_factory.mktemp("e2e-auth"), env=env,
                   ready_path="/login") as running:
        yield running


def sign_in(browser: Any, base: str, user: str) -> None:
    driver = browser.driver
    driver.get(base + "/login")
    submit_sign_in(driver, user)
    browser.wait_for_text_to_equal("#who", f"Signed in as {user}", timeout=WAIT)


def counter(browser: Any) -> int:
    return int(browser.find_element("#counter").text)


def test_sign_in_live_counter_and_sign_out(dash_br: Any, server: Server) -> None:
    sign_in(dash_br, server.url, "alice")
    WebDriverWait(dash_br.driver, WAIT).until(lambda _d: counter(dash_br) >= 2)
    dash_br.find_element("#logout").click()
    WebDriverWait(dash_br.driver, WAIT).until(lambda d: d.current_url.endswith("/login"))
    dash_br.driver.get(server.url + "/")  # the page needs a login again
    WebDriverWait(dash_br.driver, WAIT).until(lambda d: d.current_url.endswith("/login"))
    assert "Traceback" not in server.log


def test_admin_table_closes_another_browsers_session(dash_br: Any, server: Server) -> None:
    bob = login(server.url, "bob")

    async def scenario() -> int | None:
        async with session_socket(server.url, bob) as ws:
            assert await who(ws) == "Signed in as bob"
            waiting = asyncio.create_task(closed_code(ws, timeout=WAIT))
            await asyncio.to_thread(sign_in, dash_br, server.url, "admin")
            button = '#connections button[id*="close-user"][id*="bob"]'
            await asyncio.to_thread(dash_br.wait_for_element, button, WAIT)
            await asyncio.to_thread(lambda: dash_br.find_element(button).click())
            code, _ = await waiting
            return code

    assert asyncio.run(scenario()) == CloseCode.SESSION_ENDED
    # bob's row leaves the admin's live table; the admin's own socket stays.
    WebDriverWait(dash_br.driver, WAIT).until(
        lambda _d: not dash_br.driver.find_elements(
            By.CSS_SELECTOR, '#connections button[id*="close-user"][id*="bob"]'))
    assert dash_br.find_element("#who").text == "Signed in as admin"


#: Log lines of a WebSocket handshake that got as far as the app.
HANDSHAKE = re.compile(r"\bconnect id=|not logged in|refused WebSocket handshake")
ARTIFACTS = ROOT / "tests" / "artifacts"


def sockets_of(server: Server, user: str) -> list[dict[str, Any]]:
    response = admin(server.url, "GET", "connections", token=TOKEN, query={"user": user})
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


def worker_url(browser: Any) -> str:
    return str(browser.driver.execute_script(
        "return JSON.parse(document.getElementById('_dash-config').textContent)"
        ".websocket.worker_url"))


def test_logout_in_one_tab_ends_the_session_in_its_tabs_and_nowhere_else(
        dash_br: Any, other_br: Any, server: Server) -> None:
    driver = dash_br.driver
    sign_in(dash_br, server.url, "alice")
    first = driver.current_window_handle
    alice_worker = worker_url(dash_br)
    driver.switch_to.new_window("tab")
    second = driver.current_window_handle
    driver.get(server.url + "/")
    dash_br.wait_for_text_to_equal("#who", "Signed in as alice", timeout=WAIT)
    WebDriverWait(driver, WAIT).until(lambda _d: counter(dash_br) >= 2)
    # Record, in the second tab, when the notice appears (localStorage outlives the
    # redirect to the login page).
    driver.execute_script("""
        localStorage.removeItem('noticeAt');
        new MutationObserver(() => {
            if (document.getElementById('quartdash-notice') && !localStorage.noticeAt)
                localStorage.noticeAt = String(Date.now());
        }).observe(document.body, {childList: true, subtree: true});""")
    sign_in(other_br, server.url, "bob")
    WebDriverWait(other_br.driver, WAIT).until(lambda _d: counter(other_br) >= 2)
    # Two tabs of one session share one socket, through the worker.
    assert len(sockets_of(server, "alice")) == 1
    bob = [info["id"] for info in sockets_of(server, "bob")]
    assert len(bob) == 1

    driver.switch_to.window(first)
    clicked = driver.execute_script("return Date.now()")
    handshakes = len(HANDSHAKE.findall(server.log))
    dash_br.find_element("#logout").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith("/login"))
    login_ready = driver.execute_script(
        "return performance.timeOrigin + performance.getEntriesByType('navigation')[0]"
        ".domContentLoadedEventEnd")
    driver.switch_to.window(second)
    notice = dash_br.wait_for_element("#quartdash-notice", timeout=WAIT)
    assert notice.text.startswith("You were signed out.")
    assert "Sign in again" in notice.text
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "signed-out-notice.png"))
    notice_at = float(driver.execute_script("return localStorage.noticeAt"))
    print(f"logout to login page {login_ready - clicked:.0f} ms, "
          f"to the other tab's notice {notice_at - clicked:.0f} ms")
    # Both tabs of the session show the notice or reach the login page within 1 s.
    assert login_ready - clicked < 1000, login_ready - clicked
    assert notice_at - clicked < 1000, notice_at - clicked
    # ... and then the second tab goes to the login page by itself.
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.endswith("/login"))
    assert sockets_of(server, "alice") == []

    # For 10 s, no tab tries the socket again; bob's page lives on, on the same socket.
    bob_count = counter(other_br)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert len(HANDSHAKE.findall(server.log)) == handshakes, "a handshake after logout"
        time.sleep(0.25)
    assert counter(other_br) >= bob_count + 5
    assert [info["id"] for info in sockets_of(server, "bob")] == bob

    # A new login as someone else in the same browser: a new worker, no old socket.
    sign_in(dash_br, server.url, "carol")
    driver.switch_to.window(first)
    driver.get(server.url + "/")
    dash_br.wait_for_text_to_equal("#who", "Signed in as carol", timeout=WAIT)
    assert worker_url(dash_br) != alice_worker
    WebDriverWait(driver, WAIT).until(lambda _d: len(sockets_of(server, "carol")) == 1)
    assert sockets_of(server, "alice") == []
    assert "Traceback" not in server.log
