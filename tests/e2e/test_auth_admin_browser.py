"""Headless Chromium against ``examples.auth_admin`` on a real hypercorn: sign in through
the form, watch the live counter, sign out; the admin's live table closes another
browser's session with its button."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from quartdash import CloseCode
from tests.authclient import SECRET, TOKEN, closed_code, login, session_socket, who
from tests.servers import Server, hypercorn

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
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys("demo")
    driver.find_element(By.ID, "sign-in").click()
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
