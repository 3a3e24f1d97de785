"""Push and topics in a real browser (issue 17): headless Chromium, two tabs of
``tests/apps/topics_app.py`` on ``hypercorn -w 2`` with a real Redis.

The tabs of one browser share quartdash's SharedWorker and its one socket; each tab
subscribes on load to the topic its URL names. A push by topic reaches the
subscribed tab only; a push by user (one frame for every tab, ``rendererId ""``)
reaches both; and closing one tab ends its subscription (the worker's
``quartdash_leave``) while the socket stays open for the other."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from quartdash.testing.servers import Server, hypercorn, redis_server
from tests.authclient import COOKIE, SECRET, login
from tests.e2e.pages import poll

WAIT = 15.0
#: Records every text ``#feed`` shows, so a test can tell what a tab never showed.
WATCH_FEED = """
window.seenFeed = [];
const feed = document.getElementById('feed');
new MutationObserver(() => window.seenFeed.push(feed.textContent))
    .observe(feed, {childList: true, subtree: true, characterData: true});
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with redis_server(tmp_path) as redis:
        env = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_BACKPLANE": redis.url}
        with hypercorn("tests.apps.topics_app:app", tmp_path, workers=2, env=env) as running:
            yield running




def presence(server: Server, topic: str) -> list[dict[str, Any]]:
    response = requests.get(server.url + "/presence", params={"topic": topic}, timeout=10)
    assert response.status_code == 200, response.text
    infos: list[dict[str, Any]] = response.json()
    return infos


def push(server: Server, **body: Any) -> int:
    response = requests.post(server.url + "/push", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return int(response.json()["queued"])


def open_tab(browser: Any, server: Server, topic: str) -> str:
    """Load the page subscribed to ``topic`` in the current tab; its window handle."""
    browser.driver.get(f"{server.url}/?topic={topic}")
    browser.wait_for_text_to_equal("#subscribed", f"subscribed to {topic}", timeout=WAIT)
    browser.wait_for_text_to_equal("#who", "Signed in as carol", timeout=WAIT)
    browser.driver.execute_script(WATCH_FEED)
    return str(browser.driver.current_window_handle)


def feed_in(browser: Any, handle: str, text: str) -> list[str]:
    """Wait for tab ``handle`` to show ``text`` in ``#feed``; what it showed so far."""
    browser.driver.switch_to.window(handle)
    browser.wait_for_text_to_equal("#feed", text, timeout=WAIT)
    seen: list[str] = browser.driver.execute_script("return window.seenFeed")
    return seen


def test_pushes_reach_the_tabs_they_are_for_and_a_closed_tab_leaves_its_topic(
        dash_br: Any, server: Server) -> None:
    driver = dash_br.driver
    cookie = login(server.url, "carol")
    driver.get(server.url + "/presence?topic=none")  # the cookie needs a page of the site
    driver.add_cookie({"name": COOKIE, "value": cookie, "path": "/"})
    alpha = open_tab(dash_br, server, "alpha")
    driver.switch_to.new_window("tab")
    beta = open_tab(dash_br, server, "beta")

    # One socket for the browser, subscribed through each tab to that tab's topic.
    (info,) = poll(lambda: presence(server, "alpha"), "alpha listed")
    assert [i["id"] for i in presence(server, "beta")] == [info["id"]]
    assert info["topics"] == ["alpha", "beta"] and info["user"] == "carol"

    assert push(server, topic="alpha", seq="to alpha") == 1
    feed_in(dash_br, alpha, "to alpha")
    assert push(server, user="carol", seq="to carol") == 1  # every tab of the socket
    assert feed_in(dash_br, beta, "to carol") == ["to carol"]  # never the alpha push
    assert feed_in(dash_br, alpha, "to carol") == ["to alpha", "to carol"]

    # Closing the alpha tab ends its subscription; the socket stays for beta's.
    driver.switch_to.window(alpha)
    driver.close()
    driver.switch_to.window(beta)
    closed = time.monotonic()
    poll(lambda: presence(server, "alpha") == [], "the closed tab's topic left presence",
         timeout=5)
    print(f"closed tab left presence after {time.monotonic() - closed:.2f} s")
    (still,) = presence(server, "beta")
    assert still["id"] == info["id"] and still["topics"] == ["beta"]
    assert push(server, topic="alpha", seq="nobody") == 0
    assert push(server, topic="beta", seq="to beta") == 1
    assert feed_in(dash_br, beta, "to beta") == ["to carol", "to beta"]
    assert f"disconnect id={info['id']} " not in server.log
    assert "Traceback" not in server.log
