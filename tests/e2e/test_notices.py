"""The page's notices tell the truth, in headless Chromium against a real hypercorn:
an administrator's close of one connection says so and leaves the tab where it is (the
login still holds: a reload is signed in again), while an end of the session says
"signed out" and goes to the login page; a visitor who never signed in is asked to sign
in, or (``examples.auth_admin``, which guards every page) never gets the layout; and the
notice bar covers none of the page."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from quartdash.testing.servers import Server, hypercorn
from tests.authclient import HTTP_TIMEOUT, SECRET, TOKEN, admin
from tests.e2e.test_auth_admin_browser import counter, sign_in

WAIT = 15.0
#: The page script goes to login_url 1.5 s after a sign-out notice (page.js
#: REDIRECT_DELAY); a tab that stays this long after its notice was not sent there.
STAYS = 4.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN}
    with hypercorn("examples.auth_admin:app", tmp_path_factory.mktemp("e2e-notices"), env=env,
                   ready_path="/login") as running:
        yield running


def wait(browser: Any, condition: Any) -> Any:
    return WebDriverWait(browser.driver, WAIT, poll_frequency=0.05).until(lambda _d: condition())


def sockets_of(server: Server, user: str) -> list[dict[str, Any]]:
    response = admin(server.url, "GET", "connections", token=TOKEN, query={"user": user})
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


def admin_post(server: Server, path: str, reason: str | None = None) -> int:
    """Close through the admin API, as ``quartdash connections close`` does."""
    response = requests.post(
        f"{server.url}/_quartdash/admin/{path}", headers={"Authorization": f"Bearer {TOKEN}"},
        json={"reason": reason} if reason else None, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    closed: int = response.json()["closed"]
    return closed


RECORDER = """
document.addEventListener("DOMContentLoaded", () => {
  const seen = JSON.parse(localStorage.getItem("notices") || "[]");
  let mine = null;
  new MutationObserver(() => {
    const n = document.getElementById("quartdash-notice");
    if (!n || !n.textContent) return;
    if (mine === null) {
      mine = {url: location.href};
      seen.push(mine);
    }
    // Kept up to date while the page changes under the notice (the layout can render
    // after it).
    const link = n.querySelector("a");
    const first = document.querySelector(%s);
    Object.assign(mine, {
      text: n.textContent, link: link && link.textContent,
      noticeBottom: n.getBoundingClientRect().bottom,
      pageTop: document.getElementById("react-entry-point").getBoundingClientRect().top,
      firstTop: first ? first.getBoundingClientRect().top : null,
    });
    localStorage.setItem("notices", JSON.stringify(seen));
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
});"""


def record_notices(browser: Any, first: str) -> None:
    """From now on, every page of this browser records each notice as it appears (its
    words, its link, and where it and the page's first element ``first`` are), in
    localStorage, which outlives the tab's trip to the login page."""
    browser.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                                   {"source": RECORDER % json.dumps(first)})


def notices(browser: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = browser.driver.execute_script(
        "return JSON.parse(localStorage.getItem('notices') || '[]')")
    return seen


def notice_and_first_element(browser: Any) -> dict[str, float]:
    """The notice's box and that of the page's first element (the line with "Signed in
    as ..."), in the viewport, the page scrolled to its top."""
    rects: dict[str, float] = browser.driver.execute_script("""
        window.scrollTo(0, 0);
        const n = document.getElementById('quartdash-notice').getBoundingClientRect();
        const f = document.getElementById('who').parentElement.getBoundingClientRect();
        return {noticeTop: n.top, noticeBottom: n.bottom, noticeHeight: n.height,
                firstTop: f.top, firstBottom: f.bottom, firstHeight: f.height};""")
    return rects


def test_an_admin_close_of_one_connection_is_no_sign_out(dash_br: Any, server: Server) -> None:
    driver = dash_br.driver
    record_notices(dash_br, "#who")
    sign_in(dash_br, server.url, "alice")
    wait(dash_br, lambda: counter(dash_br) >= 1)
    wait(dash_br, lambda: len(sockets_of(server, "alice")) == 1)
    [socket] = sockets_of(server, "alice")

    assert admin_post(server, f"connections/{socket['id']}/close", reason="maintenance") == 1
    notice = dash_br.wait_for_element("#quartdash-notice", timeout=WAIT)
    wait(dash_br, lambda: notice.text != "")
    assert notice.text.startswith(
        "The administrator closed this connection (maintenance). Reload the page to continue."
    ), notice.text
    assert "signed out" not in notice.text.lower() and "sign in" not in notice.text.lower()
    assert notice.get_attribute("role") == "alert"
    link = notice.find_element(By.TAG_NAME, "a")
    assert link.text == "Reload" and link.get_attribute("href") == server.url + "/"

    # The bar covers none of the page: the first element starts below it.
    rects = notice_and_first_element(dash_br)
    assert rects["noticeTop"] == 0 and rects["noticeHeight"] > 20, rects
    assert rects["firstHeight"] > 0, rects
    assert rects["firstTop"] >= rects["noticeBottom"], rects
    assert dash_br.find_element("#who").is_displayed()
    print(f"notice 0-{rects['noticeBottom']:.0f} px, first element from "
          f"{rects['firstTop']:.0f} px")
    # ... also where its words wrap onto more lines and the bar grows.
    size = driver.get_window_size()
    driver.set_window_size(360, size["height"])
    try:
        wait(dash_br, lambda: notice_and_first_element(dash_br)["noticeHeight"]
             > rects["noticeHeight"] + 10)
        wait(dash_br, lambda: (lambda r: r["firstTop"] >= r["noticeBottom"])(
            notice_and_first_element(dash_br)))
        narrow = notice_and_first_element(dash_br)
        print(f"at 360 px wide: notice 0-{narrow['noticeBottom']:.0f} px, first element "
              f"from {narrow['firstTop']:.0f} px")
    finally:
        driver.set_window_size(size["width"], size["height"])

    # The tab is not sent to the login page: it stays, with its notice, well past the
    # delay after which a signed-out tab goes.
    deadline = time.monotonic() + STAYS
    while time.monotonic() < deadline:
        assert driver.current_url == server.url + "/", driver.current_url
        time.sleep(0.1)
    # The login still holds: the reload the notice offers is signed in, and live.
    link.click()
    dash_br.wait_for_text_to_equal("#who", "Signed in as alice", timeout=WAIT)
    wait(dash_br, lambda: counter(dash_br) >= 2)
    assert not driver.find_elements(By.ID, "quartdash-notice")
    # No bar, no extra room: the body's padding is the page's own again.
    assert driver.execute_script("return document.body.style.paddingTop") == ""

    # An end of the session is a sign-out: said so, and the tab goes to the login page.
    wait(dash_br, lambda: len(sockets_of(server, "alice")) == 1)
    [socket] = sockets_of(server, "alice")
    assert admin_post(server, f"sessions/{socket['session']}/close") == 1
    wait(dash_br, lambda: driver.current_url == server.url + "/login")
    [*_, ended] = notices(dash_br)
    assert ended["text"] == "The administrator signed you out.Sign in again", ended
    assert ended["url"] == server.url + "/"
    driver.get(server.url + "/")  # and the login is gone
    wait(dash_br, lambda: driver.current_url == server.url + "/login")
    assert "Traceback" not in server.log


def test_a_logout_in_another_tab_says_signed_out_and_goes_to_login(
        dash_br: Any, server: Server) -> None:
    driver = dash_br.driver
    record_notices(dash_br, "#who")
    sign_in(dash_br, server.url, "bob")
    first = driver.current_window_handle
    driver.switch_to.new_window("tab")
    second = driver.current_window_handle
    driver.get(server.url + "/")
    dash_br.wait_for_text_to_equal("#who", "Signed in as bob", timeout=WAIT)
    wait(dash_br, lambda: counter(dash_br) >= 1)
    driver.switch_to.window(first)
    dash_br.find_element("#logout").click()
    wait(dash_br, lambda: driver.current_url == server.url + "/login")
    driver.switch_to.window(second)
    wait(dash_br, lambda: driver.current_url == server.url + "/login")
    # The second tab's notice (the first tab may show one too, as it leaves).
    seen = notices(dash_br)
    assert seen, "no notice"
    for notice in seen:
        assert notice["text"] == "You were signed out.Sign in again", notice
        assert notice["link"] == "Sign in again" and notice["url"] == server.url + "/"
        assert notice["pageTop"] >= notice["noticeBottom"], notice
        assert notice["firstTop"] >= notice["noticeBottom"], notice


def test_a_visitor_who_never_signed_in_never_gets_the_layout(dash_br: Any, server: Server) -> None:
    """``examples.auth_admin`` guards every page: the layout, a deep link Dash would
    serve its index at, and Dash's JSON endpoints are refused before any of it loads."""
    for path in ("/", "/some/page"):
        response = requests.get(server.url + path, allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert response.status_code == 303 and response.headers["location"] == "/login", path
        assert "_dash-config" not in response.text
    for path in ("/_dash-layout", "/_dash-dependencies"):
        response = requests.get(server.url + path, timeout=HTTP_TIMEOUT)
        assert response.status_code == 401, path
    driver = dash_br.driver
    driver.get(server.url + "/")
    wait(dash_br, lambda: driver.current_url == server.url + "/login")
    assert driver.find_elements(By.ID, "username")
    assert not driver.find_elements(By.ID, "quartdash-notice")
    assert not driver.find_elements(By.ID, "react-entry-point")


def test_an_unguarded_page_asks_a_visitor_who_never_signed_in_to_sign_in(
        dash_br: Any, tmp_path: Any) -> None:
    """Where the app guards no page, the layout loads, the socket is refused (4401, "not
    logged in"), and the notice asks to sign in (not "signed out"), then goes there."""
    with hypercorn("tests.e2e.apps.unguarded_auth_app:app", tmp_path,
                   env={"QUARTDASH_SECRET_KEY": SECRET}, ready_path="/login") as server:
        driver = dash_br.driver
        record_notices(dash_br, "#title")
        driver.get(server.url + "/")
        wait(dash_br, lambda: driver.current_url == server.url + "/login")
        [notice] = notices(dash_br)
        assert notice["text"] == "Please sign in.Sign in", notice
        assert notice["link"] == "Sign in" and notice["url"] == server.url + "/"
        # The notice covers none of the page (its first element, once it rendered).
        assert notice["pageTop"] >= notice["noticeBottom"], notice
        assert notice["firstTop"] is None or notice["firstTop"] >= notice["noticeBottom"]
        assert dash_br.find_element("#login").text == "Sign in"
        assert "a callback ran" not in server.log
