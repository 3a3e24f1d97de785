"""``ctx.websocket``: what a callback sees of its socket (``CallbackSocket``).

A callback reaches its page through this object, from the event loop (async
callbacks) or from a thread of the pool (sync ones); it encodes what the callback
sends and hands it to the connection (``transport/connection.py``), whose outbound
queue (``transport/outbound.py``) holds it until the socket takes it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

from dash import Patch
from dash.exceptions import WebsocketDisconnected

from quartdash._compat.dash import stringify_id
from quartdash.callbacks.encoding import encode_json
from quartdash.transport import protocol
from quartdash.transport.connection import Connection

#: Props whose value is a change to apply rather than a state to show (dcc.Graph's
#: ``extendData`` and ``prependData``, AG Grid's ``rowTransaction``): a later update
#: does not make an earlier one obsolete, so they never coalesce. Nor does a ``Patch``.
DELTA_PROPS = frozenset({"extendData", "prependData", "rowTransaction"})

#: Longest a thread-pool ``emit_sync`` waits for the page to catch up.
EMIT_WAIT_SECONDS = 30.0
_MAX_EVENT_NAME = 200


def _event_name(event: str) -> str:
    if not isinstance(event, str) or not 0 < len(event) <= _MAX_EVENT_NAME:
        raise ValueError(f"an event name is a string of 1 to {_MAX_EVENT_NAME} characters")
    return event


def _is_state(props: dict[str, Any]) -> bool:
    """True when ``props`` replace what they set, so the latest alone may be sent."""
    return not any(name in DELTA_PROPS or isinstance(value, Patch)
                   for name, value in props.items())


class CallbackSocket:
    """What a callback sees as ``ctx.websocket``: its connection, from its renderer.

    The same methods as Dash's ``DashWebsocketCallback`` (``set_prop``,
    ``set_prop_sync``, ``get_prop``, ``is_shutdown``), safe from the loop and from a
    thread-pool callback alike, plus ``get_prop_sync`` for sync callbacks.
    """

    __slots__ = ("_conn", "_renderer_id")

    def __init__(self, conn: Connection, renderer_id: str) -> None:
        self._conn = conn
        self._renderer_id = renderer_id

    @property
    def is_shutdown(self) -> bool:
        """True once the socket is closing: a streaming loop should return."""
        return self._conn.is_shutdown

    @property
    def renderer_id(self) -> str:
        """The id of the page (tab) whose callback this is."""
        return self._renderer_id

    def set_props(self, component_id: str | dict[str, Any], props: dict[str, Any]) -> None:
        """Push several properties of one component to the page now, in one message.
        While the page is behind, this replaces a queued update of the same properties
        of the same component (see ``Connection``), unless it is a change to apply (a
        ``Patch``, or one of ``DELTA_PROPS``): those all arrive, in order."""
        component = stringify_id(component_id)
        frame = protocol.set_props_frame(self._renderer_id, component, encode_json(props))
        key = (self._renderer_id, component, tuple(props)) if _is_state(props) else None
        self._conn.send_frame(frame, False, key)

    def set_prop_sync(self, component_id: str | dict[str, Any], prop: str, value: Any) -> None:
        """Push one property to the page now (Dash's name for it)."""
        self.set_props(component_id, {prop: value})

    async def set_prop(self, component_id: str | dict[str, Any], prop: str, value: Any) -> None:
        """Awaitable form of ``set_prop_sync``, as in Dash."""
        self.set_props(component_id, {prop: value})

    def emit_sync(self, event: str, data: Any = None) -> None:
        """Send one event to this page: ``window.quartdash.on(event, handler)`` calls
        ``handler(data)``. Every event is delivered, once, in the order sent (also
        relative to ``set_props``); unlike props, events are never merged, so a fast
        stream into a clientside drawing loses nothing. ``data`` is encoded as Dash
        encodes props. From a thread-pool callback this waits while the page is far
        behind; raises ``WebsocketDisconnected`` once the socket is closing."""
        conn = self._conn
        if conn.is_shutdown:
            raise WebsocketDisconnected()
        frame = protocol.event_frame(self._renderer_id, _event_name(event), encode_json(data))
        if conn.crowded() and not conn.on_loop_thread():
            asyncio.run_coroutine_threadsafe(conn.room(), conn.loop).result(EMIT_WAIT_SECONDS)
        conn.send_frame(frame, urgent=False)

    async def emit(self, event: str, data: Any = None) -> None:
        """Awaitable ``emit_sync``: waits while the page is far behind."""
        if self._conn.crowded():
            await self._conn.room()
        self.emit_sync(event, data)

    async def get_prop(
        self,
        component_id: str | dict[str, Any],
        prop: str,
        timeout: float = 30.0,  # noqa: ASYNC109 - Dash's signature
    ) -> Any:
        """The property's current value in the page. Raises ``TimeoutError`` after
        ``timeout`` seconds and ``WebsocketDisconnected`` if the socket closes."""
        future = self._conn.request_prop(self._renderer_id, stringify_id(component_id), prop)
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer for {component_id}.{prop} in {timeout} s") from None
        return result.get(prop)

    def get_prop_sync(
        self, component_id: str | dict[str, Any], prop: str, timeout: float = 30.0
    ) -> Any:
        """Blocking ``get_prop`` for sync callbacks (they run in the thread pool)."""
        if self._conn.on_loop_thread():
            raise RuntimeError("get_prop_sync would block the event loop: await get_prop")
        future = self._conn.request_prop(self._renderer_id, stringify_id(component_id), prop)
        try:
            result = future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer for {component_id}.{prop} in {timeout} s") from None
        return result.get(prop)
