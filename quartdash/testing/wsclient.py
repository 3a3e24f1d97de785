"""A minimal client of Dash's WebSocket protocol and quartdash's additions to it, for
tests and benchmarks that drive a served app (``servers.hypercorn``) without a browser.

It needs ``websockets`` (quartdash's ``test`` extra), which is imported when a socket
is opened, not with this module: the message builders and parsers work without it.
The waits take a ``timeout`` of their own (ruff's ASYNC109 is silenced for them), as
the tests call them: each bounds the whole exchange, not one receive.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any, cast

from quartdash.transport.protocol import PROTOCOL_VERSION

if TYPE_CHECKING:
    from collections.abc import Callable

    from websockets.asyncio.client import ClientConnection, connect

#: How long opening a socket may take.
OPEN_TIMEOUT = 10.0


def callback_request(
    request_id: str,
    output_id: str,
    output_prop: str,
    inputs: list[tuple[str, str, Any]],
    renderer_id: str = "R",
) -> str:
    """A callback_request as Dash's renderer sends it, for a single-output callback."""
    return json.dumps(
        {
            "type": "callback_request",
            "requestId": request_id,
            "rendererId": renderer_id,
            "payload": {
                "output": f"{output_id}.{output_prop}",
                "outputs": {"id": output_id, "property": output_prop},
                "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
                "changedPropIds": [f"{i}.{p}" for i, p, _ in inputs[:1]],
                "state": [],
            },
        }
    )


def messages(frame: str | bytes) -> list[dict[str, Any]]:
    """The messages of one frame (a batch is a JSON array)."""
    data = json.loads(frame)
    return cast("list[dict[str, Any]]", data if isinstance(data, list) else [data])


def ws_url(base: str) -> str:
    """The app's WebSocket URL, from its base URL (``http://host:port``)."""
    return base.replace("http://", "ws://") + "/_dash-ws-callback"


def _connect(url: str, origin: str, **kwargs: Any) -> connect:
    """``websockets``' ``connect`` (an awaitable and an async context manager), imported
    here so that this module loads without websockets installed."""
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    return connect(url, origin=Origin(origin), open_timeout=OPEN_TIMEOUT, max_size=None,
                   **kwargs)


def open_socket(base: str, origin: str | None = None, **kwargs: Any) -> connect:
    """Connect to the app's WebSocket with a same-origin ``Origin`` by default; use as
    ``async with open_socket(url) as ws``. ``kwargs`` go to ``websockets``' ``connect``."""
    return _connect(ws_url(base), origin or base, **kwargs)


async def call(
    ws: ClientConnection, request: str, timeout: float = 10.0  # noqa: ASYNC109
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Send a callback_request; return its response and the messages before it."""
    request_id = json.loads(request)["requestId"]
    await ws.send(request)
    before: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            for msg in messages(await ws.recv()):
                if msg.get("type") == "callback_response" and msg["requestId"] == request_id:
                    return msg, before
                before.append(msg)


async def echo_rtt(ws: ClientConnection, n: int, timeout: float = 10.0) -> float:  # noqa: ASYNC109
    """Round trip of the echo callback, in seconds."""
    start = time.perf_counter()
    request = callback_request(f"e{n}", "out", "children", [("in", "value", f"v{n}")])
    response, _ = await call(ws, request, timeout)
    assert response["payload"]["data"]["response"]["out"]["children"] == f"v{n}", response
    return time.perf_counter() - start


def slow_http_body() -> bytes:
    """The HTTP callback request for the echo app's 1 s sync callback."""
    return json.dumps({
        "output": "slow-out.children",
        "outputs": {"id": "slow-out", "property": "children"},
        "inputs": [{"id": "slow", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["slow.n_clicks"],
        "state": [],
    }).encode()


async def post_slow(base: str, timeout: float = 30.0) -> dict[str, Any]:  # noqa: ASYNC109
    """Run the 1 s sync callback over HTTP, as a page whose callback is on HTTP does."""
    import urllib.request

    def post() -> dict[str, Any]:
        request = urllib.request.Request(
            base + "/_dash-update-component", data=slow_http_body(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return cast("dict[str, Any]", json.loads(response.read()))

    return await asyncio.to_thread(post)


async def worst_rtt_while(ws: ClientConnection, task: asyncio.Task[Any]) -> tuple[float, int]:
    """Probe the echo callback every 2 ms until ``task`` ends: worst round trip, count."""
    worst, n = 0.0, 0
    while not task.done():
        n += 1
        worst = max(worst, await echo_rtt(ws, n, timeout=30))
        await asyncio.sleep(0.002)  # far below the rate limit however fast the machine
    return worst, n


async def inprocess_close(ws: Any, timeout: float = 5.0) -> int:  # noqa: ASYNC109
    """Read a Quart test-client socket until the server closes it; the close code.

    The server announces each close with a ``quartdash_close`` message carrying the
    same code; that is checked here, so every close test checks it too."""
    from quart.testing.connections import WebsocketDisconnectError

    announced: list[int] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                announced += [m["code"] for m in messages(await ws.receive())
                              if m.get("type") == "quartdash_close"]
    except WebsocketDisconnectError as closed:
        code = int(closed.args[0])
    assert announced == [code], f"announced {announced}, closed with {code}"
    return code


def hello(resume: str | None = None, received: int = 0) -> str:
    """quartdash's worker's first frame: the resume token it holds (None: afresh)."""
    return json.dumps({"type": "quartdash_hello", "v": PROTOCOL_VERSION, "resume": resume,
                       "received": received if resume is not None else 0})


class ResumingClient:
    """quartdash's worker, as far as resume goes: connects with ``?quartdash=1``, says
    in its first frame whether it resumes (the token never goes in the URL), counts
    the frames it takes, acknowledges them, and reconnects with its resume token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.ws: ClientConnection | None = None
        self.token: str | None = None
        self.received = 0
        self.messages: list[dict[str, Any]] = []

    async def connect(self, resume: bool = False, **kwargs: Any) -> dict[str, Any]:
        """Open a socket (resuming if asked); returns the server's welcome."""
        if self.ws is not None:
            self.ws.transport.abort()  # what was left of the previous socket
        self.ws = await _connect(ws_url(self.base) + "?quartdash=1", self.base, **kwargs)
        await self.ws.send(hello(self.token if resume else None, self.received))
        welcome: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        assert welcome["type"] == "quartdash_welcome", welcome
        self.token = welcome["token"]
        return welcome

    def drop(self) -> None:
        """Lose the connection as a network would: no close frame, frames in flight lost."""
        assert self.ws is not None
        self.ws.transport.abort()

    async def take(self, timeout: float = 10.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """The next frame's messages (counted, kept in ``messages``)."""
        assert self.ws is not None
        got = messages(await asyncio.wait_for(self.ws.recv(), timeout))
        self.received += 1
        self.messages.extend(got)
        return got

    async def until(self, done: Callable[[dict[str, Any]], bool],
                    timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Take frames until ``done(message)`` holds for one of them."""
        async with asyncio.timeout(timeout):
            while True:
                if any(done(m) for m in await self.take(timeout)):
                    return

    async def __aenter__(self) -> ResumingClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def ack(self) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps({"type": "quartdash_ack", "v": PROTOCOL_VERSION,
                                       "received": self.received}))
