"""``examples/live_dashboard.py`` (the guide's app) on a real hypercorn, as the guide runs
it: sign in, every page guarded while signed out, the live reading arriving for the
sensor the page names (and nothing for one it made up), the sync export reporting its
steps, logout closing the socket with 4401, and the command line listing and closing
connections with the admin token. Its cookie is Secure unless the server is told
otherwise, as the guide says."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.asyncio.client import ClientConnection

from quartdash import CloseCode
from quartdash.testing.servers import Server, hypercorn
from quartdash.testing.wsclient import messages
from tests import ROOT
from tests.authclient import (
    COOKIE,
    HTTP_TIMEOUT,
    SECRET,
    TOKEN,
    closed_code,
    login,
    logout,
    session_socket,
    who,
)

TARGET = "examples.live_dashboard:app"
ENV = {"QUARTDASH_SECRET_KEY": SECRET, "QUARTDASH_ADMIN_TOKEN": TOKEN,
       "QUART_AUTH_COOKIE_SECURE": "0"}
PASSWORDS = {"alice": "wonderland", "bob": "builder"}
WAIT = 15.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with hypercorn(TARGET, tmp_path_factory.mktemp("live-dashboard"), env=ENV,
                   ready_path="/login") as running:
        yield running


def sign_in(base: str, user: str) -> str:
    return login(base, user, password=PASSWORDS[user])


def get(url: str, cookie: str | None = None) -> requests.Response:
    return requests.get(url, cookies={COOKIE: cookie} if cookie else None,
                        allow_redirects=False, timeout=HTTP_TIMEOUT)


def persistent_callback(base: str, cookie: str) -> str:
    """The id of the page's persistent callback, as the page learns it."""
    spec = get(base + "/_dash-dependencies", cookie).json()
    return str(next(s["output"] for s in spec if s.get("persistent")))


async def start_stream(ws: ClientConnection, output: str) -> None:
    """Start the persistent callback as the renderer does when the page loads."""
    await ws.send(json.dumps({
        "type": "callback_request", "requestId": "stream", "rendererId": "R",
        "payload": {"output": output, "outputs": [], "inputs": [], "changedPropIds": [],
                    "state": []}}))


async def next_message(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` (others are skipped)."""
    async with asyncio.timeout(WAIT):
        while True:
            for message in messages(await ws.recv()):
                if message.get("type") == kind:
                    return message


async def answer(ws: ClientConnection, request: dict[str, Any], value: Any) -> None:
    """The page's answer to a get_props_request: ``value`` for every prop asked."""
    props = {prop: value for prop in request["payload"]["properties"]}
    await ws.send(json.dumps({"type": "get_props_response", "requestId": request["requestId"],
                              "payload": props}))


def cli(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "QUARTDASH_ADMIN_TOKEN"}
    if token is not None:
        env["QUARTDASH_ADMIN_TOKEN"] = token
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "quartdash", "connections", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)


# --- signed out ----------------------------------------------------------------------------
async def test_every_page_is_guarded_while_signed_out(server: Server) -> None:
    base = server.url
    for path in ["/", "/any/page", "/assets/x.css"]:
        response = get(base + path)
        assert response.status_code == 303 and response.headers["Location"] == "/login", path
    for path in ["/_dash-layout", "/_dash-dependencies", "/_reload-hash"]:
        response = get(base + path)
        assert response.status_code == 401, path
        assert response.json() == {"error": "authentication required"}, path
    assert get(base + "/login").status_code == 200
    async with session_socket(base, None) as ws:  # the socket: quartdash's own guard
        code, _ = await closed_code(ws)
    assert code == CloseCode.SESSION_ENDED


def test_sign_in_checks_the_password_and_the_posting_site(server: Server) -> None:
    base = server.url

    def post(origin: str, password: str) -> requests.Response:
        return requests.post(base + "/login", data={"username": "alice", "password": password},
                             headers={"Origin": origin}, allow_redirects=False,
                             timeout=HTTP_TIMEOUT)

    wrong = post(base, "not-it")
    assert wrong.status_code == 401 and COOKIE not in wrong.cookies
    unknown = requests.post(base + "/login", data={"username": "mallory", "password": "x"},
                            headers={"Origin": base}, timeout=HTTP_TIMEOUT)
    assert unknown.status_code == 401
    forged = post("http://evil.example", PASSWORDS["alice"])  # login CSRF
    assert forged.status_code == 403 and COOKIE not in forged.cookies
    assert forged.json()["error"].startswith("cross-site request refused")
    signed_in = post(base, PASSWORDS["alice"])
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/"
    cookie = signed_in.cookies[COOKIE]
    assert "secure" not in signed_in.headers["Set-Cookie"].lower()  # COOKIE_SECURE=0
    assert get(base + "/", cookie).status_code == 200
    assert get(base + "/_dash-layout", cookie).status_code == 200


# --- signed in -----------------------------------------------------------------------------
async def test_logout_closes_the_socket_with_4401(server: Server) -> None:
    base = server.url
    cookie = sign_in(base, "alice")
    async with session_socket(base, cookie) as ws:
        assert await who(ws) == "Signed in as alice"
        response = await asyncio.to_thread(logout, base, cookie)
        assert response.status_code == 303 and response.headers["Location"] == "/login"
        code, _ = await closed_code(ws)
    assert code == CloseCode.SESSION_ENDED
    assert get(base + "/", cookie).status_code == 303  # the cookie is no login any more


# --- the operator --------------------------------------------------------------------------
async def test_the_command_line_lists_and_closes_with_the_admin_token(server: Server) -> None:
    base = server.url
    cookie = sign_in(base, "bob")
    async with session_socket(base, cookie) as ws:
        assert await who(ws) == "Signed in as bob"
        listed = await asyncio.to_thread(cli, "list", "--user", "bob", "--json", "--url", base)
        assert listed.returncode == 0, listed.stderr
        infos = json.loads(listed.stdout)
        assert [info["user"] for info in infos] == ["bob"]
        table = await asyncio.to_thread(cli, "list", "--url", base)
        assert table.returncode == 0 and infos[0]["id"] in table.stdout
        # The log line names the connection and the session as the listing does.
        assert f"connect id={infos[0]['id']} user=bob session={infos[0]['session']} " \
            in server.log
        wrong = await asyncio.to_thread(cli, "list", "--url", base, token="x" * 32)
        assert wrong.returncode == 1 and "403" in wrong.stderr
        missing = await asyncio.to_thread(cli, "list", "--url", base, token=None)
        assert missing.returncode == 2 and "QUARTDASH_ADMIN_TOKEN" in missing.stderr
        closed = await asyncio.to_thread(cli, "close", "--user", "bob", "--url", base)
        assert closed.returncode == 0 and closed.stdout.strip() == "closed 1"
        code, _ = await closed_code(ws)
    assert code == CloseCode.SESSION_ENDED
    assert get(base + "/", cookie).status_code == 303  # closing a user signs it out


# --- the cookie ----------------------------------------------------------------------------
def test_the_cookie_is_secure_unless_the_server_is_told_otherwise(tmp_path: Path) -> None:
    env = {**ENV}
    del env["QUART_AUTH_COOKIE_SECURE"]
    with hypercorn(TARGET, tmp_path, env=env, ready_path="/login") as running:
        response = requests.post(running.url + "/login", allow_redirects=False,
                                 data={"username": "alice", "password": "wonderland"},
                                 headers={"Origin": running.url}, timeout=HTTP_TIMEOUT)
        assert response.status_code == 303
        assert "; secure" in response.headers["Set-Cookie"].lower()
        # A client that honours Secure keeps it away from plain http: no login there.
        jar = requests.Session()
        jar.cookies.update(response.cookies)
        assert jar.get(running.url + "/", allow_redirects=False,
                       timeout=HTTP_TIMEOUT).status_code == 303
