"""What quartdash serves to the browser: its SharedWorker and its page script.

Both are built from ``renderer_patch/`` into ``static/`` and committed, so installing
quartdash needs no Node. Dash takes the worker's URL from its page config
(``websocket.worker_url``); quartdash puts its own worker there, so Dash's renderer is
unchanged, and adds the page script to the page's scripts, before the renderer starts.

A browser keeps one SharedWorker per script URL, so the worker's URL carries a tag of
the session (an HMAC of the session id under the app's secret: the URL reveals
nothing of the id): after a logout and a login as someone else, the new pages get a
new worker, and no tab goes on using the old session's socket.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from quart import Quart, Response, request

STATIC = Path(__file__).resolve().parent / "static"
#: The SharedWorker's file (not a server worker: ``cluster.models.THIS_WORKER``).
WORKER_SCRIPT = "quartdash-worker.js"
PAGE_SCRIPT = "quartdash-page.js"


@dataclass(frozen=True, slots=True)
class Asset:
    """One built file, held in memory (a few kilobytes) with its content hash."""

    body: bytes
    fingerprint: str

    @classmethod
    def load(cls, name: str) -> Asset:
        body = (STATIC / name).read_bytes()
        return cls(body, hashlib.sha256(body).hexdigest()[:12])


def session_tag(secret: str | bytes, session_id: str) -> str:
    """A stable, unguessable name for one session's worker."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, b"quartdash-worker:" + session_id.encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


class BrowserFiles:
    """The two files, their URLs as the page requests them, and the route serving them.

    ``route_prefix`` is Dash's ``routes_pathname_prefix`` (where the server listens),
    ``url_prefix`` its ``requests_pathname_prefix`` (what the browser asks for: they
    differ behind a proxy that strips a path)."""

    def __init__(self, route_prefix: str, url_prefix: str) -> None:
        self.assets = {name: Asset.load(name) for name in (WORKER_SCRIPT, PAGE_SCRIPT)}
        self.route = f"{route_prefix}_quartdash/static/<name>"
        self.base = f"{url_prefix}_quartdash/static/"

    def url(self, name: str) -> str:
        return f"{self.base}{name}?v={self.assets[name].fingerprint}"

    def worker_url(self, tag: str | None) -> str:
        """The worker for one session (``tag``), or for every page without a session."""
        return self.url(WORKER_SCRIPT) + (f"&s={tag}" if tag else "")

    def page_script_tag(self) -> str:
        return f'<script src="{self.url(PAGE_SCRIPT)}"></script>'

    def register(self, server: Quart) -> None:
        server.add_url_rule(
            self.route, "quartdash_static", self.serve, methods=["GET"], strict_slashes=False
        )

    async def serve(self, name: str) -> Response:
        asset = self.assets.get(name)
        if asset is None:
            return Response("not found", status=404, content_type="text/plain")
        response = Response(asset.body, content_type="text/javascript; charset=utf-8")
        response.headers["X-Content-Type-Options"] = "nosniff"
        # The URL names the content: cache it for good, unless it names older content.
        if request.args.get("v") == asset.fingerprint:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response
