"""``DashClient``: a page of a QuartDash app, in process, without a browser.

It speaks to the app what quartdash's page speaks, through Quart's test client (no
server, no network, real Quart, real Dash, quartdash's real socket handler): the layout
and dependencies over HTTP, then the socket with ``?quartdash=1`` and its
``quartdash_hello``, so a drop can be resumed as the browser's worker resumes it. The
page's state and the renderer's rules are in ``page.py``; here is only the I/O: a
reader that applies every frame as it comes, the calls the graph says a change fires
(each sent once its inputs are no longer being computed, as the renderer waits), and
the waits.

Clientside callbacks are not run: there is no JavaScript here. A prop a clientside
callback would set keeps its value, and a server callback that only a clientside one
would fire does not fire; test those with a browser (``dash_duo``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any

from quartdash.testing.page import (
    ANY,
    Call,
    ComponentId,
    Graph,
    Layout,
    PropKey,
    _dep,
    load_callbacks,
    parse_id,
    stringify_id,
)
from quartdash.transport.protocol import PROTOCOL_VERSION

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import TracebackType

    from quartdash.app import QuartDash

#: The origin the page is served from: the test client's own host.
ORIGIN = "http://localhost"
#: How many frames are taken before the client acknowledges them (as the worker does,
#: so the server forgets what it keeps for a resume).
ACK_EVERY = 32


class CallbackFailed(AssertionError):
    """A callback answered with an error (the server's message is the text)."""


class DashClient:
    """``async with DashClient(app, user="alice") as page``: the app in process; see the
    module's docstring and docs/testing.md."""

    def __init__(self, app: QuartDash, user: str | None = None,
                 timeout: float = 10.0) -> None:
        self.app = app
        self.user = user
        #: How long entering (the initial callbacks) and ``set_props`` may take.
        self.timeout = timeout
        self.prefix = str(app.config.routes_pathname_prefix or "/")
        self.renderer_id = "testkit-" + secrets.token_hex(4)
        #: The events received (``{"event": name, "data": data}``), in order.
        self.events: list[dict[str, Any]] = []
        #: Every message received on the socket, in order (for assertions on the wire).
        self.messages: list[dict[str, Any]] = []
        #: The errors of callbacks, in order.
        self.errors: list[str] = []
        #: The last ``quartdash_close`` notice, and the close code, once closed.
        self.close_notice: dict[str, Any] | None = None
        self.close_code: int | None = None
        #: The connection's id (as ``app.connections.list`` lists it).
        self.connection_id: str | None = None
        self.layout = Layout(None)
        self.graph = Graph([], self.layout)
        self._headers: dict[str, str] = {"Origin": ORIGIN}
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._token: str | None = None
        self._received = 0
        self._acked = 0
        self._seq = 0
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._queue: list[Call] = []
        self._flight: dict[str, set[PropKey]] = {}  # request id -> outputs being computed
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        #: Every value every prop took, in order: ``wait_for`` sees a value even when
        #: the next one came in the same frame.
        self._history: list[tuple[str, str, Any]] = []

    # --- entering and leaving ------------------------------------------------------
    async def __aenter__(self) -> DashClient:
        try:
            test_app = await self._stack.enter_async_context(self.app.server.test_app())
            self._client = test_app.test_client()
            if self.user is not None:
                await self._login(self.user)
            self.layout.tree = await self._get_json("_dash-layout")
            self.layout.reindex()
            self.graph.callbacks = load_callbacks(await self._get_json("_dash-dependencies"))
            await self._open(resume=False)
            await self._settle(self.graph.initial())
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if self._ws is not None and self.close_code is None:
                await self._ws.send(json.dumps({"type": "quartdash_bye", "v": PROTOCOL_VERSION}))
            await self._close_socket()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            await self._stack.aclose()

    async def _login(self, user: str) -> None:
        """Log ``user`` in as a login route would: ``quart_auth.login_user`` in a request
        of the app, whose after-request hooks (quart-auth's cookie, quartdash's session)
        run as for any route; the cookie it sets is this page's from then on."""
        from quart_auth import AuthUser, login_user

        server = self.app.server
        if not server.extensions.get("QUART_AUTH"):
            raise ValueError("DashClient(user=...) needs an app with auth (quart-auth)")
        async with server.test_request_context("/", method="POST", headers=self._headers):
            login_user(AuthUser(user))
            response = await server.process_response(server.response_class(""))
        jar: SimpleCookie = SimpleCookie()
        for header in response.headers.getlist("Set-Cookie"):
            jar.load(header)
        if not jar:
            raise ValueError("DashClient(user=...) needs an app with auth: no login cookie was set")
        self._headers["Cookie"] = "; ".join(f"{k}={m.value}" for k, m in jar.items())

    async def _get_json(self, route: str) -> Any:
        response = await self._client.get(self.prefix + route, headers=self._headers)
        if response.status_code != 200:
            raise AssertionError(f"GET {self.prefix}{route}: {response.status_code}")
        return json.loads(await response.get_data(as_text=True))

    # --- the socket ----------------------------------------------------------------
    async def _open(self, resume: bool) -> dict[str, Any]:
        """Open the socket and say hello (resuming the last one if asked); the welcome."""
        from quart.testing.connections import WebsocketDisconnectError

        ws = self._client.websocket(self.prefix + "_dash-ws-callback?quartdash=1",
                                    headers=self._headers)
        await ws.__aenter__()
        self._ws = ws
        token = self._token if resume else None
        await ws.send(json.dumps({"type": "quartdash_hello", "v": PROTOCOL_VERSION,
                                  "resume": token,
                                  "received": self._received if token else 0}))
        try:
            async with asyncio.timeout(self.timeout):
                welcome: dict[str, Any] = json.loads(await ws.receive())
        except WebsocketDisconnectError as closed:
            self.close_code = int(closed.args[0])
            raise ConnectionError(f"the app closed the socket with {self.close_code}") from None
        if welcome.get("type") == "quartdash_close":
            self.close_notice = welcome
            raise ConnectionError(f"the app refused the socket: {welcome}")
        assert welcome.get("type") == "quartdash_welcome", welcome
        if not welcome.get("resumed"):
            self._received = self._acked = 0
        self._token = welcome.get("token")
        self.connection_id = welcome.get("id")
        self._reader = asyncio.ensure_future(self._read(ws))
        return welcome

    async def _close_socket(self) -> None:
        """Cut the socket: no close frame, no goodbye (the app sees a drop)."""
        ws, self._ws = self._ws, None
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.__aexit__(None, None, None)

    async def _read(self, ws: Any) -> None:
        from quart.testing.connections import WebsocketDisconnectError

        try:
            while True:
                data = await ws.receive()
                self._received += 1
                message = json.loads(data)
                self._take(message if isinstance(message, list) else [message])
                if self._received - self._acked >= ACK_EVERY:
                    self._acked = self._received
                    await ws.send(json.dumps({"type": "quartdash_ack", "v": PROTOCOL_VERSION,
                                              "received": self._received}))
        except WebsocketDisconnectError as closed:
            self.close_code = int(closed.args[0])
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"closed with {self.close_code}"))
            await self._notify()

    def _take(self, messages: list[dict[str, Any]]) -> None:
        """Apply one frame's messages as the renderer does (a batch of set_props at once)."""
        changed: list[PropKey] = []
        new_ids: set[str] = set()
        for msg in messages:
            self.messages.append(msg)
            kind = msg.get("type")
            if kind == "callback_response":
                future = self._pending.pop(str(msg.get("requestId")), None)
                if future is not None and not future.done():
                    future.set_result(msg.get("payload") or {})
            elif kind == "set_props":
                payload = msg["payload"]
                got, fresh = self._apply({payload["componentId"]: payload["props"]})
                changed += got
                new_ids |= fresh
            elif kind == "get_props_request":
                self._answer_get_props(msg)
            elif kind == "quartdash_event":
                self.events.append(dict(msg["payload"]))
            elif kind == "quartdash_close":
                self.close_notice = msg
        self._fire(changed, new_ids)
        self._bump()

    def _answer_get_props(self, msg: dict[str, Any]) -> None:
        payload = msg.get("payload") or {}
        id_ = parse_id(str(payload.get("componentId")))
        props = self.layout.index.get(stringify_id(id_), {})
        answer = {k: props.get(k) for k in payload.get("properties", []) if k in props}
        frame = json.dumps({"type": "get_props_response", "rendererId": self.renderer_id,
                            "requestId": msg.get("requestId"), "payload": answer})
        if self._ws is not None:
            self._spawn(self._ws.send(frame))

    # --- props and the callbacks they fire -----------------------------------------
    def _apply(self, updates: dict[Any, dict[str, Any]]) -> tuple[list[PropKey], set[str]]:
        changed: list[PropKey] = []
        new_ids: set[str] = set()
        for key, props in updates.items():
            id_ = parse_id(key) if isinstance(key, str) else key
            before = set(self.layout.index)
            got, components = self.layout.update(id_, props)
            self._record(got)
            changed += got
            if components:
                new_ids |= set(self.layout.index) - before
        return changed, new_ids

    def _fire(self, changed: list[PropKey], new_ids: set[str]) -> None:
        calls = self.graph.triggered(changed)
        if new_ids:
            calls += self.graph.initial(new_ids)
        for call in calls:
            # The renderer makes one request of a callback however many of its inputs
            # changed before it went out: a call already queued takes the new changes.
            queued = next((c for c in self._queue if c.key == call.key), None)
            if queued is None:
                self._queue.append(call)
            else:
                queued.changed.extend(c for c in call.changed if c not in queued.changed)
        if calls:
            self._pump()

    def _pump(self) -> None:
        """Send every queued call none of whose inputs another call is still to compute:
        one in flight, or one queued (as the renderer waits for every pending producer).
        If every queued call waits on another queued one and nothing is in flight (a
        cycle), the first goes, so the page never stalls."""
        in_flight = set().union(*self._flight.values()) if self._flight else set()
        outputs = {call.key: self.graph.outputs_of(call) for call in self._queue}
        waiting: list[Call] = []
        ready: list[Call] = []
        for call in self._queue:
            pending = set(in_flight)
            for other in self._queue:
                if other.key != call.key:
                    pending |= outputs[other.key]
            (waiting if self.graph.inputs_of(call) & pending else ready).append(call)
        if not ready and waiting and not self._flight:
            ready.append(waiting.pop(0))
        for call in ready:
            self._seq += 1
            request_id = f"t{self._seq}"
            if not call.callback.persistent:
                self._flight[request_id] = self.graph.outputs_of(call)
            self._spawn(self._run(request_id, call))
        self._queue = waiting

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _running(self, call: Call, which: str) -> None:
        """Set the props of ``running=`` (``which`` "running" or "runningOff")."""
        for text, value in call.callback.running.get(which, {}).items():
            dep = _dep(text)
            for id_ in self.graph._found(dep, call.bindings):
                self._record(self.layout.update(id_, {dep.prop: value})[0])

    def _record(self, changed: list[PropKey]) -> None:
        self._history.extend((k, p, self.layout.index[k][p]) for k, p in changed)

    async def _run(self, request_id: str, call: Call) -> None:
        payload = self.graph.request(call)
        self._running(call, "running")
        self._bump()
        try:
            if call.callback.websocket:
                answer = await self._over_socket(request_id, payload)
            else:
                answer = await self._over_http(payload)
        except (ConnectionError, asyncio.CancelledError):
            answer = {"status": "prevent_update"}
        finally:
            self._running(call, "runningOff")
            self._flight.pop(request_id, None)
        if answer.get("status") == "error":
            self.errors.append(str(answer.get("message")))
        data = answer.get("data") or {}
        changed, new_ids = self._apply(dict(data.get("response") or {}))
        side, side_new = self._apply(dict(data.get("sideUpdate") or {}))
        self._fire(changed + side, new_ids | side_new)
        self._pump()
        await self._notify()

    async def _over_socket(self, request_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        if self._ws is None:
            raise ConnectionError("no socket")
        await self._ws.send(json.dumps({"type": "callback_request", "requestId": request_id,
                                        "rendererId": self.renderer_id, "payload": payload}))
        return await future

    async def _over_http(self, payload: dict[str, Any]) -> dict[str, Any]:
        response = await self._client.post(self.prefix + "_dash-update-component",
                                           json=payload, headers=self._headers)
        if response.status_code == 204:
            return {"status": "prevent_update"}
        text = await response.get_data(as_text=True)
        if response.status_code != 200:
            return {"status": "error", "message": f"HTTP {response.status_code}: {text[:200]}"}
        return {"status": "ok", "data": json.loads(text)}

    def _bump(self) -> None:
        self._spawn(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _busy(self) -> bool:
        return bool(self._queue or self._flight)

    async def _settle(self, calls: list[Call]) -> None:
        """Send ``calls`` and wait until every call they fire is answered."""
        errors = len(self.errors)
        self._queue.extend(calls)
        self._pump()
        async with asyncio.timeout(self.timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: not self._busy())
        if len(self.errors) > errors:
            raise CallbackFailed("; ".join(self.errors[errors:]))

    # --- the public API -------------------------------------------------------------
    def props(self, id: ComponentId) -> dict[str, Any]:
        """The current props of one component (the page's own dict: read, do not keep)."""
        return self.layout.props(id)

    async def set_props(self, id: ComponentId, **props: Any) -> None:
        """Change props as a user would, and wait for every callback that fires.
        Raises ``CallbackFailed`` if one of them answered with an error."""
        if id not in self.layout:
            raise KeyError(f"no component {stringify_id(id)!r} in the layout")
        changed, new_ids = self._apply({stringify_id(id): props})
        self._bump()
        await self._settle(self.graph.triggered(changed)
                           + (self.graph.initial(new_ids) if new_ids else []))

    async def wait_for(self, id: ComponentId, prop: str, value: Any = ANY,
                       timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        """The prop once it equals ``value`` (at once if it does now), or by default
        the first new value it takes after the call; every value the prop takes counts,
        even one the next frame replaced. ``TimeoutError`` after ``timeout`` seconds."""
        key = stringify_id(id)
        current = self.layout.index.get(key, {})
        if value is not ANY and prop in current and current[prop] == value:
            return current[prop]
        start, seen = current.get(prop), len(self._history)
        found: list[Any] = []

        def done() -> bool:
            nonlocal seen
            for k, p, v in self._history[seen:]:
                if k == key and p == prop and (v != start if value is ANY else v == value):
                    found.append(v)
                    return True
            seen = len(self._history)
            return False

        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(done)
        except TimeoutError:
            now = self.layout.index.get(key, {}).get(prop)
            raise TimeoutError(f"{key}.{prop} is {now!r} after {timeout} s, "
                               f"waiting for {value!r}") from None
        return found[0]

    async def drop(self, away: Callable[[], Awaitable[Any]] | None = None) -> dict[str, Any]:
        """Lose the socket as a network would (no close frame, frames in flight lost),
        then resume it as quartdash's worker does: the hello names the resume token and
        how many frames were received, the app replays the rest. Returns the welcome
        (``resumed`` says whether the app resumed it). A page not resumed is told as
        the renderer is: its pending callbacks end without an update, its persistent
        callbacks start again. ``away``, if given, is awaited while the socket is cut:
        what the app sends meanwhile is what a page loses in flight."""
        await self._close_socket()
        if away is not None:
            await away()
        welcome = await self._open(resume=True)
        if not welcome.get("resumed"):
            for future in list(self._pending.values()):
                if not future.done():
                    future.set_exception(ConnectionError("not resumed"))
            self._pending.clear()
            restart = [c for c in self.graph.initial()
                       if c.callback.persistent and not c.callback.inputs]
            self._queue.extend(restart)
            self._pump()
        return welcome
