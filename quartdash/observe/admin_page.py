"""The live admin page: every connection of the cluster, its sessions and topics, the
rates of callbacks, frames and closes, and buttons that close a connection, a session
or a user; it updates by itself over a WebSocket of its own.

Routes, under ``{routes_pathname_prefix}_quartdash/admin/`` (mounted where the admin API
is, admitted by the same ``Admission``):

* ``GET`` (the prefix itself): the page. One HTML document with its style and script
  inline (``static/admin.html``, ``admin.css``, ``admin.js``, read once), allowed by
  their hashes in a Content-Security-Policy that allows nothing else: no other script,
  no framing (the close buttons cannot be clickjacked), no URL outside the app. Without
  credentials it answers 401 with a sign-in form when the app has an admin token
  (a browser cannot send a bearer token on a navigation), 403 to a user who is no
  admin. Its URLs are relative, so it works behind a proxy that strips a path.
* ``POST signin`` (form field ``token``): the token, compared in constant time, buys a
  signed cookie (``auth.admin.SIGN_IN_COOKIE``): HttpOnly, ``SameSite=Strict``, its path
  limited to the admin routes, ``Secure`` over HTTPS, for ``SIGN_IN_SECONDS``. Refused
  from a page of another site (``csrf.py``), as a login is. ``POST signout`` ends it.
* ``GET live``, a WebSocket: a JSON snapshot (``snapshot``) about every
  ``INTERVAL`` seconds. The handshake is admitted before it is accepted (a page of
  another origin, or no credentials: a plain HTTP 403 or 401); each round checks again
  that the credentials still admit (a logout, a revoked or expired session, a user the
  predicate no longer admits, an expired sign-in: close 4401). The page sends nothing:
  a frame from it closes the socket (1008).

Bounds: at most ``ADMIN_SOCKETS_PER_WORKER`` admin sockets per worker (one more is
accepted and closed with 1013, so the page can say why); a snapshot that cannot be sent
within ``SEND_TIMEOUT`` closes the socket; Quart cancels the socket's task when the
browser goes. The snapshot is made once per ``INTERVAL`` per worker whatever the number
of admin pages (``Feed``): one cluster-wide listing and one read of the metrics files,
and at most ``MAX_ROWS`` connections, sessions and topics in it (the counts are whole).

Everything shown is a client's choice (user names, origins, topics): the page's script
writes it with ``textContent``, never as HTML.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from quart import Blueprint, Response, redirect, request, websocket

from quartdash.auth.admin import SIGN_IN_COOKIE, SIGN_IN_SECONDS, Admitted
from quartdash.auth.csrf import cross_site_refusal
from quartdash.transport import handler
from quartdash.transport.protocol import CloseCode

if TYPE_CHECKING:
    from quartdash.auth.admin import Admission
    from quartdash.auth.origin import OriginPolicy
    from quartdash.cluster.models import ConnectionInfo
    from quartdash.cluster.registry import ConnectionRegistry
    from quartdash.observe.metrics import PrometheusObserver

log = logging.getLogger("quartdash")

STATIC = Path(__file__).resolve().parent.parent / "static"
#: Admin sockets one worker serves at once; one more is closed with 1013.
ADMIN_SOCKETS_PER_WORKER = 8
#: Seconds between two snapshots.
INTERVAL = 1.0
#: Seconds a snapshot may take to send before the socket is closed (1013).
SEND_TIMEOUT = 5.0
#: Connections, sessions and topics listed in a snapshot, at most each (the counts
#: in its header are whole): the page stays readable, the frame small.
MAX_ROWS = 500
#: Users named per topic, at most.
MAX_TOPIC_USERS = 20
#: The counters whose per-second rates the page shows, by the sample names of
#: ``PrometheusObserver.totals``.
RATES = {
    "callbacks": "quartdash_callbacks_total",
    "frames": "quartdash_frames_sent_total",
    "closes": "quartdash_connections_closed_total",
}
METRICS_OFF = ("Rates need metrics: set QUARTDASH_METRICS=1 or QuartDash(metrics=True).")


# --- the snapshot: pure ----------------------------------------------------------------
def snapshot(infos: Sequence[ConnectionInfo], now: float,
             rates: dict[str, float] | None, metrics_on: bool) -> dict[str, Any]:
    """What the page shows, from the cluster's connections (oldest first): the
    connections, their sessions and topics, counts, and the rates (None while there is
    only one sample, or with metrics off: then ``metrics_off`` says how to turn them on)."""
    sessions: dict[str, dict[str, Any]] = {}
    topics: dict[str, dict[str, Any]] = {}
    for info in infos:
        if info.session is not None:
            entry = sessions.setdefault(info.session, {
                "session": info.session, "user": info.user, "sockets": 0,
                "opened_at": info.opened_at, "workers": set()})
            entry["sockets"] += 1
            entry["opened_at"] = min(entry["opened_at"], info.opened_at)
            entry["workers"].add(info.worker)
        for topic in info.topics:
            subscribed = topics.setdefault(topic, {"topic": topic, "subscribers": 0,
                                                   "users": set()})
            subscribed["subscribers"] += 1
            if info.user is not None:
                subscribed["users"].add(info.user)
    session_rows = [
        {**entry, "workers": len(entry["workers"])} for entry in sessions.values()
    ][:MAX_ROWS]
    topic_rows = [
        {**entry, "users": sorted(entry["users"])[:MAX_TOPIC_USERS]}
        for entry in sorted(topics.values(), key=lambda t: (-t["subscribers"], t["topic"]))
    ][:MAX_ROWS]
    return {
        "type": "snapshot",
        "now": now,
        "counts": {
            "connections": len(infos),
            "sessions": len(sessions),
            "users": len({info.user for info in infos if info.user is not None}),
            "topics": len(topics),
            "workers": len({info.worker for info in infos}),
            "callbacks_running": sum(info.callbacks_running for info in infos),
        },
        "connections": [_row(info) for info in infos[:MAX_ROWS]],
        "sessions": session_rows,
        "topics": topic_rows,
        "rates": rates,
        "metrics_off": None if metrics_on else METRICS_OFF,
    }


def _row(info: ConnectionInfo) -> dict[str, Any]:
    return {"id": info.id, "user": info.user, "session": info.session, "origin": info.origin,
            "worker": info.worker, "opened_at": info.opened_at,
            "callbacks_running": info.callbacks_running, "topics": list(info.topics)}


class RateMeter:
    """Per-second rates of counters, from successive totals (``PrometheusObserver.totals``):
    None until there are two samples. A counter that went down (a worker's files were
    removed) counts as 0, not as a negative rate."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self._last: tuple[float, dict[str, float]] | None = None

    def update(self, totals: dict[str, float], now: float) -> dict[str, float] | None:
        last, self._last = self._last, (now, totals)
        if last is None or now <= last[0]:
            return None
        seconds = now - last[0]
        return {label: max(0.0, totals.get(name, 0.0) - last[1].get(name, 0.0)) / seconds
                for label, name in self.names.items()}


class Feed:
    """The snapshot of this worker, made at most once per ``max_age`` seconds however many
    admin sockets ask (a lock makes the others wait for the one making it), encoded once."""

    def __init__(self, connections: ConnectionRegistry, metrics: PrometheusObserver | None,
                 max_age: float = INTERVAL / 2, clock: Callable[[], float] = time.time) -> None:
        self.connections = connections
        self.metrics = metrics
        self.max_age = max_age
        self.clock = clock
        self.meter = RateMeter(RATES)
        self._lock = asyncio.Lock()
        self._frame: tuple[float, str] | None = None

    async def current(self) -> str:
        async with self._lock:
            now = self.clock()
            if self._frame is not None and now - self._frame[0] < self.max_age:
                return self._frame[1]
            infos = await self.connections.list()
            rates = None
            if self.metrics is not None:
                # Reading every worker's files is file I/O: off the event loop.
                totals = await asyncio.to_thread(self.metrics.totals)
                rates = self.meter.update(totals, self.clock())
            frame = orjson.dumps(snapshot(infos, now, rates, self.metrics is not None)).decode()
            self._frame = (now, frame)
            return frame


# --- the page --------------------------------------------------------------------------
def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


@dataclass(frozen=True, slots=True)
class Documents:
    """The page and the sign-in page, built once from ``static/admin.*``, and the
    Content-Security-Policy of each (their inline style and script by hash)."""

    page: str
    page_policy: str
    sign_in: str
    sign_in_policy: str

    @classmethod
    def load(cls) -> Documents:
        css = (STATIC / "admin.css").read_text()
        js = (STATIC / "admin.js").read_text()
        page = ((STATIC / "admin.html").read_text()
                .replace("/*ADMIN_CSS*/", css).replace("/*ADMIN_JS*/", js))
        base = ("default-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                "form-action 'self'; img-src 'self' data:; ")
        return cls(
            page=page,
            page_policy=base + f"style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
                               "connect-src 'self'",
            sign_in=SIGN_IN_PAGE.replace("/*ADMIN_CSS*/", css),
            sign_in_policy=base + f"style-src {_csp_hash(css)}",
        )


SIGN_IN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>quartdash admin: sign in</title><style>/*ADMIN_CSS*/</style></head>
<body class="signin"><main class="card">
<h1>quartdash <span class="sub">admin</span></h1>
<p class="problem" id="problem">@PROBLEM@</p>
@FORM@@HINT@
</main></body></html>
"""

SIGN_IN_FORM = """<form method="post" action="signin">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit" id="sign-in">Sign in</button>
</form>
<p class="hint">The value of <code>QUARTDASH_ADMIN_TOKEN</code>. The sign-in lasts {hours} hours
in this browser.</p>
"""

USER_HINT = """<p class="hint">Or sign in to the app as a user its <code>admin</code> predicate
admits, then reload this page.</p>
"""


def _headers(policy: str) -> dict[str, str]:
    return {"Content-Security-Policy": policy, "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin"}


def _https(origin_policy: OriginPolicy) -> bool:
    """The browser reached this request over https: the scheme, or behind a proxy
    whose headers the policy trusts (``trust_proxy_headers``), the proxy's. A sign-in
    cookie is then ``Secure``: never sent over plain http, where anyone on the path
    would read 8 hours of admin access."""
    origin = origin_policy.same_origin(request.scheme, request.headers)
    return request.scheme == "https" or (origin is not None and origin.scheme == "https")


def admin_page_blueprint(
    route_prefix: str,
    url_prefix: str,
    connections: ConnectionRegistry,
    admission: Admission,
    origin_policy: OriginPolicy,
    metrics: PrometheusObserver | None,
) -> Blueprint:
    """The admin page and its socket under ``route_prefix`` (Dash's
    ``routes_pathname_prefix``); ``url_prefix`` (its ``requests_pathname_prefix``, what
    the browser sees) limits the sign-in cookie's path. Admitted by ``admission``; the
    sign-in post is checked against ``origin_policy``; ``metrics`` gives the rates
    (None: metrics off)."""
    prefix = route_prefix.rstrip("/") + "/_quartdash/admin/"
    cookie_path = url_prefix.rstrip("/") + "/_quartdash/admin/"
    documents = Documents.load()
    feed = Feed(connections, metrics)
    page = Blueprint("quartdash_admin_page", __name__)
    open_sockets = 0

    def sign_in_page(status: int, problem: str) -> Response:
        form = SIGN_IN_FORM.format(hours=SIGN_IN_SECONDS // 3600) if admission.admin_token else ""
        hint = USER_HINT if admission.predicate is not None else ""
        body = (documents.sign_in.replace("@FORM@", form).replace("@HINT@", hint)
                .replace("@PROBLEM@", html.escape(problem)))
        headers = _headers(documents.sign_in_policy)
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="quartdash"'
        return Response(body, status=status, content_type="text/html; charset=utf-8",
                        headers=headers)

    @page.get(prefix)
    async def show() -> Response:
        found = await admission.admit()
        if not isinstance(found, Admitted):
            problem = ("Sign in to see this server's connections." if found.status == 401
                       else f"Refused: {found.message}.")
            return sign_in_page(found.status, problem)
        return Response(documents.page, content_type="text/html; charset=utf-8",
                        headers=_headers(documents.page_policy))

    @page.post(prefix + "signin")
    async def sign_in() -> Any:
        if (refusal := cross_site_refusal(origin_policy)) is not None:
            return refusal
        form = await request.form
        if not admission.check_token(form.get("token", "")):
            log.warning("quartdash: admin page sign-in with a wrong token (address=%s)",
                        request.remote_addr)
            return sign_in_page(403, "That is not the admin token.")
        response = redirect("./", 303)
        response.set_cookie(SIGN_IN_COOKIE, admission.sign_in_cookie(), max_age=SIGN_IN_SECONDS,
                            path=cookie_path, httponly=True, samesite="Strict",
                            secure=_https(origin_policy))
        response.headers["Cache-Control"] = "no-store"
        return response

    @page.post(prefix + "signout")
    async def sign_out() -> Any:
        if (refusal := cross_site_refusal(origin_policy)) is not None:
            return refusal
        response = redirect("./", 303)
        response.delete_cookie(SIGN_IN_COOKIE, path=cookie_path, httponly=True,
                               samesite="Strict", secure=_https(origin_policy))
        return response

    @page.websocket(prefix + "live")
    async def live() -> Response | None:
        nonlocal open_sockets
        found = await admission.admit()
        if not isinstance(found, Admitted):
            log.info("quartdash: refused admin socket: %s (address=%s)", found.message,
                     websocket.remote_addr)
            return found.response()
        if open_sockets >= ADMIN_SOCKETS_PER_WORKER:
            await websocket.accept()
            await _close(CloseCode.TRY_AGAIN_LATER,
                         f"too many admin pages open (at most {ADMIN_SOCKETS_PER_WORKER} "
                         "per worker)")
            return None
        open_sockets += 1
        try:
            await websocket.accept()
            await _serve(feed, admission, found)
        finally:
            open_sockets -= 1
        return None

    return page


async def _serve(feed: Feed, admission: Admission, admitted: Admitted) -> None:
    """Say who was admitted, then send a snapshot every ``INTERVAL`` for as long as the
    credentials admit."""
    user = admitted.user.auth_id if admitted.user is not None else None
    if not await _send(orjson.dumps({"type": "hello", "by": admitted.by, "user": user,
                                     "interval": INTERVAL}).decode()):
        return
    while True:
        if not await admission.still_admitted(admitted):
            await _close(CloseCode.SESSION_ENDED, "signed out")
            return
        if not await _send(await feed.current()):
            return
        try:
            async with asyncio.timeout(INTERVAL):
                await websocket.receive()
        except TimeoutError:
            continue
        await _close(CloseCode.POLICY_VIOLATION, "the admin socket takes no messages")
        return


async def _send(frame: str) -> bool:
    """Send one frame within ``SEND_TIMEOUT``; else close the socket (1013): False."""
    try:
        async with asyncio.timeout(SEND_TIMEOUT):
            await websocket.send(frame)
    except TimeoutError:
        log.warning("quartdash: closing admin socket: a frame took over %g s to send "
                    "(address=%s)", SEND_TIMEOUT, websocket.remote_addr)
        await _close(CloseCode.TRY_AGAIN_LATER, "too slow to read")
        return False
    return True


async def _close(code: int, reason: str) -> None:
    """Close as every quartdash socket closes (``handler.send_close_and_drain``: the
    notice, the close frame, bounded in time, then read until the browser's reply)."""
    await handler.send_close_and_drain(websocket, code, reason)
