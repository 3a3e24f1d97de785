"""``examples/auth_admin.py`` against a real hypercorn, tried as an attacker would: a page
of another site posting to ``/login`` and ``/logout`` (a form post carries the user's
cookie whatever site it comes from), every path other than the login page's own asked
for without a login, and the example run without a secret, as its docstring suggests."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from quartdash import CloseCode
from quartdash.testing.servers import Server, hypercorn
from tests.authclient import (
    COOKIE,
    HTTP_TIMEOUT,
    SECRET,
    TOKEN,
    admin,
    closed_code,
    login,
    logout,
    session_socket,
    who,
)

ENV = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN}
EVIL = "http://evil.example"
CREDENTIALS = {"username": "alice", "password": "demo"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with hypercorn("examples.auth_admin:app", tmp_path_factory.mktemp("auth-example"),
                   env=ENV, ready_path="/login") as running:
        yield running


def request(method: str, url: str, *, cookie: str | None = None,
            headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
    """One HTTP request as it arrives from a page, redirects not followed."""
    return requests.request(method, url, headers=headers or {}, allow_redirects=False,
                            cookies={COOKIE: cookie} if cookie else None,
                            timeout=HTTP_TIMEOUT, **kwargs)


def post_login(base: str, headers: dict[str, str]) -> requests.Response:
    return request("POST", base + "/login", headers=headers, data=CREDENTIALS)


def assert_refused_cross_site(response: requests.Response) -> None:
    assert response.status_code == 403, (response.status_code, response.text[:200])
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"].startswith("cross-site request refused")
    assert COOKIE not in response.cookies


# --- cross-site posts ------------------------------------------------------------------
def test_login_from_another_site_is_refused(server: Server) -> None:
    """Login CSRF: a page elsewhere signs the visitor in as the attacker."""
    base = server.url
    assert_refused_cross_site(post_login(base, {"Origin": EVIL}))
    assert_refused_cross_site(post_login(base, {"Origin": "null"}))  # a sandboxed page
    assert_refused_cross_site(post_login(base, {"Sec-Fetch-Site": "cross-site"}))
    assert_refused_cross_site(post_login(base, {"Sec-Fetch-Site": "same-site"}))
    # Browsers send one of the two on every post: a post with neither is no page's.
    assert_refused_cross_site(post_login(base, {}))
    for same_origin in ({"Origin": base}, {"Sec-Fetch-Site": "same-origin"}):
        response = post_login(base, same_origin)
        assert response.status_code == 303 and response.headers["Location"] == "/"
        assert response.cookies.get(COOKIE)


async def test_logout_from_another_site_is_refused_and_keeps_the_session(
    server: Server,
) -> None:
    base = server.url
    cookie = login(base, "alice")
    async with session_socket(base, cookie) as ws:
        assert await who(ws) == "Signed in as alice"
        for headers in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}, {}):
            response = await asyncio.to_thread(
                request, "POST", base + "/logout", cookie=cookie, headers=headers)
            assert_refused_cross_site(response)
        assert await who(ws) == "Signed in as alice"  # the socket lives on: no logout
        page = await asyncio.to_thread(request, "GET", base + "/", cookie=cookie)
        assert page.status_code == 200  # and the cookie is still a login
        response = await asyncio.to_thread(logout, base, cookie)  # the page's own post
        assert response.status_code == 303 and response.headers["Location"] == "/login"
        code, _ = await closed_code(ws)
    assert code == CloseCode.SESSION_ENDED


# --- the login guard -------------------------------------------------------------------
PAGES = ["/", "/some/page", "/static/app.css", "/favicon.ico"]
DASH_JSON = [("GET", "/_dash-layout"), ("GET", "/_dash-dependencies"),
             ("GET", "/_reload-hash"), ("POST", "/_dash-update-component")]


def _dash_files(base: str, cookie: str) -> list[str]:
    """The scripts the page loads (Dash's component suites, quartdash's page script),
    read from the page a logged-in browser gets."""
    html = request("GET", base + "/", cookie=cookie).text
    found = re.findall(r'src="(/_(?:dash-component-suites|quartdash/static)/[^"]+)"', html)
    assert any(path.startswith("/_dash-component-suites/") for path in found), html[:500]
    return found


def test_without_a_login_pages_redirect_and_dash_answers_401(server: Server) -> None:
    base = server.url
    for path in PAGES:
        response = request("GET", base + path)
        assert response.status_code == 303, (path, response.status_code)
        assert response.headers["Location"] == "/login", path
    for method, path in DASH_JSON:
        response = request(method, base + path, json={})
        assert response.status_code == 401, (path, response.status_code, response.text[:200])
        assert response.json() == {"error": "authentication required"}, path
    # After a logout, the revoked cookie is no login either.
    cookie = login(base, "carol")
    assert request("GET", base + "/_dash-layout", cookie=cookie).status_code == 200
    assert logout(base, cookie).status_code == 303
    assert request("GET", base + "/_dash-layout", cookie=cookie).status_code == 401
    assert request("GET", base + "/", cookie=cookie).status_code == 303


def test_what_the_login_page_needs_is_served_without_a_login(server: Server) -> None:
    base = server.url
    files = _dash_files(base, login(base, "dave"))
    for path in ["/login", "/_favicon.ico", *files]:
        response = request("GET", base + path)
        assert response.status_code == 200, (path, response.status_code)
    # The admin API keeps its own answers (a bearer token, JSON refusals).
    anonymous = admin(base, "GET", "connections")
    assert anonymous.status_code == 401 and anonymous.json()["error"]
    assert admin(base, "GET", "connections", token=TOKEN).status_code == 200


def test_logged_in_everything_is_served(server: Server) -> None:
    base = server.url
    cookie = login(base, "erin")
    for path in ["/", "/_dash-layout", "/_dash-dependencies"]:
        assert request("GET", base + path, cookie=cookie).status_code == 200, path


# --- run as the docstring says -----------------------------------------------------------
async def test_runs_without_a_secret_on_one_worker(tmp_path: Any) -> None:
    """No key at all: a random per-process one, with a warning, and logins work."""
    with hypercorn("examples.auth_admin:app", tmp_path, ready_path="/login",
                   env={"QUARTDASH_SECRET_KEY": ""}) as running:
        cookie = await asyncio.to_thread(login, running.url, "frank")
        async with session_socket(running.url, cookie) as ws:
            assert await who(ws) == "Signed in as frank"
        assert "no secret key" in running.log
