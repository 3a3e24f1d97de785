"""Cookies and headers a WebSocket callback sets (``ctx.response``) reach the browser,
in headless Chromium against a real hypercorn: in the cookie jar before the callback's
output shows (as Dash's test_cbcx001 reads it), HttpOnly included, and sent with the
next request (as Dash's test_lcbc019 uses it), and seen by the socket's next callback.
And the handover that carries them cannot be used twice, nor from another site."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from quartdash.testing.servers import Server, hypercorn

APP = "tests.e2e.apps.cookies_app:app"
WAIT = 15.0
#: Records the handover posts the page makes (their bodies hold the tokens).
SPY = """
window.__handovers = [];
const original = window.fetch;
window.fetch = (url, options) => {
  if (String(url).includes('_quartdash/handover')) window.__handovers.push(options.body);
  return original(url, options);
};"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with hypercorn(APP, tmp_path) as running:
        yield running


def posts(browser: Any, part: str) -> int:
    return int(browser.driver.execute_script(
        "return performance.getEntriesByType('resource')"
        f".filter(e => e.name.includes('{part}')).length"))


def test_a_cookie_set_over_the_socket_is_in_the_jar_and_sent_next(
        dash_br: Any, server: Server) -> None:
    dash_br.driver.get(server.url)
    dash_br.wait_for_element("#set", timeout=WAIT)
    for n in (1, 2):
        dash_br.find_element("#set").click()
        dash_br.wait_for_text_to_equal("#output", f"{n} - output", timeout=WAIT)
        # In the jar as soon as the output shows (read at once, as Dash's test does).
        cookie = dash_br.driver.get_cookie("dash_cookie")
        assert cookie is not None and cookie["value"] == f'"{n} - cookie"'
        secret = dash_br.driver.get_cookie("secret")
        assert secret is not None and secret["value"] == f"s3cret-{n}"
        assert secret["httpOnly"] is True
        assert "secret" not in dash_br.driver.execute_script("return document.cookie")
        # The socket's next callback sees them, as the next HTTP request would.
        dash_br.find_element("#read").click()
        dash_br.wait_for_text_to_equal("#read-out", f"{n} - cookie|s3cret-{n}", timeout=WAIT)
    # The setting callback ran over the socket; the next HTTP request carries both.
    assert posts(dash_br, "_dash-update-component") == 0
    dash_br.find_element("#use").click()
    dash_br.wait_for_text_to_equal("#used", "2 - cookie|s3cret-2", timeout=WAIT)
    assert posts(dash_br, "_dash-update-component") == 1
    assert posts(dash_br, "_quartdash/handover") == 2
    assert dash_br.get_logs() == []


def redeem(server: Server, body: bytes | Iterable[bytes], origin: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if origin is not None:
        headers["Origin"] = origin
    request = urllib.request.Request(server.url + "/_quartdash/handover", data=body,
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_a_handover_is_single_use_and_same_origin_only(dash_br: Any, server: Server) -> None:
    dash_br.driver.get(server.url)
    dash_br.wait_for_element("#set", timeout=WAIT)
    dash_br.driver.execute_script(SPY)
    dash_br.find_element("#set").click()
    dash_br.wait_for_text_to_equal("#output", "1 - output", timeout=WAIT)
    [body] = dash_br.driver.execute_script("return window.__handovers")
    token = json.loads(body)["token"]
    # The page redeemed it; nobody can again, from this site or another.
    assert redeem(server, body.encode(), server.url) == 404
    assert redeem(server, body.encode(), "http://evil.example") == 403
    assert redeem(server, body.encode(), None) == 403  # neither Origin nor Sec-Fetch-Site
    assert redeem(server, b'{"token": 5}', server.url) == 400
    assert redeem(server, b"x" * 2000, server.url) == 413
    assert redeem(server, iter([b"x" * 1000] * 3), server.url) == 413  # chunked
    # The token is in no URL and no log line.
    assert token not in server.log
    assert posts(dash_br, token) == 0
