"""``ctx.websocket``: what a callback sees of its socket (``CallbackSocket``).

A callback reaches its page through this object, from the event loop (async
callbacks) or from a thread of the pool (sync ones); it encodes what the callback
sends and hands it to the connection (``transport/connection.py``), whose outbound
queue (``transport/outbound.py``) holds it until the socket takes it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, Protocol

from dash.exceptions import WebsocketDisconnected

from quartdash._compat.dash import stringify_id
from quartdash.callbacks.encoding import checked_name, coalesces, encode_json
from quartdash.transport import protocol
from quartdash.transport.connection import Connection
from quartdash.transport.outbound import props_key

#: Longest a thread-pool ``emit_sync`` or ``subscribe_sync`` waits.
EMIT_WAIT_SECONDS = 30.0


class Topics(Protocol):
    """The registry's side of one socket's subscriptions (``cluster/registry.py``):
    what ``subscribe`` and ``unsubscribe`` need, and no more."""

    async def subscribe(self, renderer_id: str, topic: str) -> None: ...

    async def unsubscribe(self, renderer_id: str, topic: str) -> None: ...


class CallbackSocket:
    """What a callback sees as ``ctx.websocket``: its connection, from its renderer.

    The same methods as Dash's ``DashWebsocketCallback`` (``set_prop``,
    ``set_prop_sync``, ``get_prop``, ``is_shutdown``), safe from the loop and from a
    thread-pool callback alike, plus ``get_prop_sync`` for sync callbacks.
    """

    __slots__ = ("_conn", "_renderer_id", "_topics")

    def __init__(self, conn: Connection, renderer_id: str, topics: Topics | None = None) -> None:
        self._conn = conn
        self._renderer_id = renderer_id
        self._topics = topics

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
        ``Patch``, or one of ``encoding.DELTA_PROPS``): those all arrive, in order."""
        component = stringify_id(component_id)
        frame = protocol.set_props_frame(self._renderer_id, component, encode_json(props))
        key = props_key(self._renderer_id, component, props) if coalesces(props) else None
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
        frame = protocol.event_frame(self._renderer_id, checked_name(event), encode_json(data))
        if conn.crowded() and not conn.on_loop_thread():
            asyncio.run_coroutine_threadsafe(conn.room(), conn.loop).result(EMIT_WAIT_SECONDS)
        conn.send_frame(frame, urgent=False)

    async def emit(self, event: str, data: Any = None) -> None:
        """Awaitable ``emit_sync``: waits while the page is far behind."""
        if self._conn.crowded():
            await self._conn.room()
        self.emit_sync(event, data)

    async def subscribe(self, topic: str) -> None:
        """Subscribe this tab to ``topic`` (idempotent): ``app.connections.push(topic=
        ...)`` from anywhere in the cluster then reaches it, and ``list(topic=...)``
        counts its socket. The subscription lasts until the tab leaves, its socket
        closes or its session ends, survives a resume, and is not the page's to make:
        only server code subscribes. ``ValueError`` for a name that is not a string of
        1 to 200 characters, or past ``max_topics_per_connection`` topics."""
        await self._registry().subscribe(self._renderer_id, checked_name(topic, "a topic"))

    async def unsubscribe(self, topic: str) -> None:
        """End this tab's subscription to ``topic``; nothing if it had none."""
        await self._registry().unsubscribe(self._renderer_id, checked_name(topic, "a topic"))

    def subscribe_sync(self, topic: str) -> None:
        """``subscribe`` from a sync callback (it runs in the thread pool)."""
        self._from_thread(self.subscribe(topic))

    def unsubscribe_sync(self, topic: str) -> None:
        """``unsubscribe`` from a sync callback."""
        self._from_thread(self.unsubscribe(topic))

    def _registry(self) -> Topics:
        if self._topics is None:
            raise RuntimeError("this socket has no registry to subscribe with")
        return self._topics

    def _from_thread(self, work: Coroutine[Any, Any, None]) -> None:
        if self._conn.on_loop_thread():
            work.close()
            raise RuntimeError("the _sync form would block the event loop: await it")
        asyncio.run_coroutine_threadsafe(work, self._conn.loop).result(EMIT_WAIT_SECONDS)

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
