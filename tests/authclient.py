"""A browser's side of sessions, for tests against ``examples.auth_admin``: log in and
out over HTTP (each login is its own cookie, as in its own browser), open sockets with
the cookie, call the admin API."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import requests
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from quartdash.testing.wsclient import call, callback_request, open_socket

COOKIE = "QUART_AUTH"
HTTP_TIMEOUT = 10.0
TOKEN = "test-admin-token-0123456789abcdef"
SECRET = "5c0e61f4a2d89b37e0f6c1a94d2b7e58a3f06c19d4e7b2a8"


def _post(base: str, path: str, cookie: str | None = None, **kwargs: Any) -> requests.Response:
    """A form post from one of the app's own pages: a browser sends its ``Origin``."""
    cookies = {COOKIE: cookie} if cookie else None
    return requests.post(base + path, cookies=cookies, allow_redirects=False,
                         headers={"Origin": base}, timeout=HTTP_TIMEOUT, **kwargs)


def login(base: str, user: str, cookie: str | None = None, password: str = "demo") -> str:
    """Sign in (in the browser holding ``cookie``, if given); the new cookie."""
    response = _post(base, "/login", cookie, data={"username": user, "password": password})
    assert response.status_code == 303, response.text
    return str(response.cookies[COOKIE])


def logout(base: str, cookie: str) -> requests.Response:
    return _post(base, "/logout", cookie)


def admin(base: str, method: str, path: str, *, token: str | None = None,
          cookie: str | None = None, origin: str | None = None,
          query: dict[str, str] | None = None) -> requests.Response:
    """Call the admin API (path relative to ``/_quartdash/admin/``)."""
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if origin is not None:
        headers["Origin"] = origin
    return requests.request(
        method, f"{base}/_quartdash/admin/{path}", headers=headers, params=query,
        cookies={COOKIE: cookie} if cookie else None, timeout=HTTP_TIMEOUT,
    )


def session_socket(base: str, cookie: str | None, **kwargs: Any) -> Any:
    """Open a socket as a page of the browser holding ``cookie``; ``kwargs`` go to
    ``websockets``' ``connect``."""
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    return open_socket(base, additional_headers=headers, **kwargs)


async def who(ws: ClientConnection) -> str:
    """Ask the page's ``who`` callback who we are (a live round trip)."""
    response, _ = await call(ws, callback_request("w", "who", "children", [("who", "id", "who")]))
    return str(response["payload"]["data"]["response"]["who"]["children"])


async def closed_code(ws: ClientConnection, timeout: float = 5.0) -> tuple[int | None, float]:
    """Wait for the server to close ``ws``: its close code and when it arrived."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            pass
    return ws.close_code, time.perf_counter()
