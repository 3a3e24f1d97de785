"""Push and topics: one publish reaches many pages, from any process of the cluster.

A push is encoded here once, by whoever makes it (a route, a task, a thread, another
process through ``Publisher``), into a ``models.Push``: each component's props and the
event's data as JSON text. It then crosses the backplane once (one Redis message,
whatever the number of subscribers), and every worker splices that text into the frames
of its own sockets (``PushFrames``): written straight to a socket that nothing else is
being sent to (``transport/direct.py``), else queued under that socket's limits
(``transport/outbound.py``): while a page is behind, ``set_props`` to the same props
coalesce to the latest; events never merge; pushes from one publisher keep their order.

Who receives a push:

* ``topic=``: the tabs subscribed to the topic (``ctx.websocket.subscribe``); the
  registry keeps each worker's subscriptions (``cluster/registry.py``).
* ``connection=``, ``session=``, ``user=``, ``everyone=True``: every tab of the selected
  sockets. To quartdash's own worker this is one frame with an empty renderer id, which
  it gives to each of its tabs; to any other client (Dash's worker, a script), one
  frame per tab the socket has named in its callback requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from quartdash._compat.dash import stringify_id
from quartdash.callbacks.encoding import checked_name, coalesces, encode_json
from quartdash.cluster.models import Push, Selector, Update
from quartdash.transport import protocol
from quartdash.transport.direct import text_frame
from quartdash.transport.outbound import props_key

if TYPE_CHECKING:
    from types import TracebackType

    from quartdash.cluster.redis import RedisPublisher

#: The renderer id that means "every tab of this socket" to quartdash's worker.
EVERY_TAB = ""

#: What ``push(set_props=...)`` takes: a mapping of string ids to props (dicts), or
#: pairs ``(id, props)`` when an id is a dict (a pattern-matching id cannot be a dict
#: key). Loose on purpose: a dict literal of mixed props must type-check as given;
#: ``encode`` checks the shapes.
SetProps = Mapping[str, Any] | Iterable[tuple[Any, Any]]
#: A frame to queue and the key a later one may replace it by (None: never replaced).
Frame = tuple[str, Hashable | None]


def select(*, topic: str | None = None, user: str | None = None,
           session: str | None = None, connection: str | None = None,
           everyone: bool = False) -> Selector:
    """Whom a push is for: exactly one of the keywords, else ``ValueError``."""
    given = [topic is not None, user is not None, session is not None,
             connection is not None, everyone]
    if sum(given) != 1:
        raise ValueError("push() takes exactly one of: topic=, user=, session=, "
                         "connection=, everyone=True")
    if topic is not None:
        checked_name(topic, "a topic")
    return Selector(connection=connection, session=session, user=user, topic=topic)


def encode(selector: Selector, set_props: SetProps | None = None,
           event: tuple[str, Any] | None = None) -> Push:
    """The push, encoded once (``TypeError``/``ValueError`` for what cannot be sent):
    each component's props as Dash encodes a callback's ``set_props``, the event's data
    as ``ctx.websocket.emit`` encodes it."""
    updates = []
    pairs = set_props.items() if isinstance(set_props, Mapping) else (set_props or ())
    for component_id, props in pairs:
        if not isinstance(props, Mapping) or not props:
            raise TypeError(f"set_props[{component_id!r}] must be a non-empty dict of props")
        if not all(isinstance(name, str) for name in props):
            raise TypeError(f"set_props[{component_id!r}] has a prop name that is not a string")
        name = component_id if isinstance(component_id, str) else dict(component_id)
        updates.append(Update(stringify_id(name), tuple(props),
                              encode_json(dict(props)), coalesces(props)))
    encoded_event = None
    if event is not None:
        if not isinstance(event, tuple) or len(event) != 2:
            raise TypeError("event= takes a tuple (name, data)")
        encoded_event = (checked_name(event[0]), encode_json(event[1]))
    if not updates and encoded_event is None:
        raise ValueError("push() needs set_props= or event=")
    return Push(selector, tuple(updates), encoded_event)


class PushFrames:
    """One push's frames for any tab, spliced from text built once per push: each
    tab's frames with their coalescing keys (``for_tab``, what a socket's queue takes,
    built once per tab id), and the one frame a socket is written when nothing waits
    for it (``direct``: built once for a push to every tab, which every socket of
    quartdash's worker shares; per socket for tab ids of its own)."""

    __slots__ = ("_encoded", "_event", "_every", "_tabs", "_updates")

    def __init__(self, push: Push) -> None:
        self._updates = [(protocol.set_props_parts(update.component, update.props_json),
                          update) for update in push.updates]
        self._event = None if push.event is None else protocol.event_parts(*push.event)
        #: Every message's parts in UTF-8, in order (the updates', then the event's).
        self._encoded = [(head.encode(), tail.encode()) for (head, tail), _ in self._updates]
        if self._event is not None:
            self._encoded.append((self._event[0].encode(), self._event[1].encode()))
        self._tabs: dict[str, list[Frame]] = {}
        self._every: tuple[bytes, bytes, str | None] | None = None

    def for_tab(self, renderer_id: str) -> list[Frame]:
        """The frames for one tab (``EVERY_TAB``: every tab of quartdash's worker), each
        with its coalescing key: the same key as a callback's ``set_props`` of the same
        props of the same component in that tab, so the two replace each other while
        the page is behind (``outbound.props_key``)."""
        built = self._tabs.get(renderer_id)
        if built is None:
            built = [(protocol.for_tab(parts, renderer_id),
                      props_key(renderer_id, update.component, update.props)
                      if update.coalesces else None)
                     for parts, update in self._updates]
            if self._event is not None:
                built.append((protocol.for_tab(self._event, renderer_id), None))
            self._tabs[renderer_id] = built
        return built

    def direct(self, tabs: Collection[str]) -> tuple[bytes, bytes, str | None]:
        """The one message for a socket's ``tabs``: as a whole WebSocket frame
        (``transport/direct.py``), in UTF-8, and as text when that is made once for
        many sockets. Built once for ``EVERY_TAB`` (every socket of quartdash's worker
        shares it); a tab id of its own is one socket's."""
        if len(tabs) == 1 and EVERY_TAB in tabs:
            if self._every is None:
                message = self._message(tabs)
                self._every = text_frame(message), message, message.decode()
            return self._every
        message = self._message(tabs)
        return text_frame(message), message, None

    def _message(self, tabs: Collection[str]) -> bytes:
        encoded = self._encoded
        if len(encoded) == 1 and len(tabs) == 1:  # the usual push: nothing to batch
            return protocol.for_tab_encoded(encoded[0], next(iter(tabs)))
        return protocol.batch_encoded([protocol.for_tab_encoded(part, tab)
                                       for tab in tabs for part in encoded])


class Publisher:
    """Push from a process that shares only the Redis (a job, a script, another
    service): no app object, the same channel as the backplane::

        async with Publisher("redis://host:6379/0") as pub:
            n = await pub.push(topic="prices", set_props={"grid": {"rowData": rows}})

    ``push`` returns how many sockets the push was queued for, summed over every worker
    that answered within ``reply_timeout`` (a worker that does not answer still
    delivers; it is only not counted). Pushes made one after another arrive in that
    order. ``prefix`` must be the backplane's (``quartdash`` unless changed). Raises
    ``BackplaneUnavailable`` when Redis cannot be reached: the push was not made.
    Needs redis-py (``pip install 'quartdash[redis]'``)."""

    def __init__(self, redis_url: str, *, prefix: str = "quartdash",
                 reply_timeout: float = 1.0) -> None:
        self.url = redis_url
        self.prefix = prefix
        self.reply_timeout = reply_timeout
        self._client: RedisPublisher | None = None
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Connect (``async with`` does it); idempotent, and safe from concurrent
        first pushes."""
        async with self._starting:
            await self._start()

    async def _start(self) -> None:
        if self._client is None:
            try:
                from quartdash.cluster.redis import RedisPublisher  # pylint: disable=import-outside-toplevel
            except ImportError as exc:
                raise ImportError("Publisher needs redis-py: pip install 'quartdash[redis]'"
                                  ) from exc
            client = RedisPublisher(self.url, prefix=self.prefix,
                                    reply_timeout=self.reply_timeout)
            await client.start()
            self._client = client

    async def aclose(self) -> None:
        """Disconnect; idempotent."""
        client, self._client = self._client, None
        if client is not None:
            await client.stop()

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def push(self, *, topic: str | None = None, user: str | None = None,
                   session: str | None = None, connection: str | None = None,
                   everyone: bool = False, set_props: SetProps | None = None,
                   event: tuple[str, Any] | None = None) -> int:
        """As ``app.connections.push``: exactly one of ``topic``, ``user``, ``session``,
        ``connection`` or ``everyone=True``; ``set_props`` and/or ``event``."""
        command = encode(select(topic=topic, user=user, session=session,
                                connection=connection, everyone=everyone), set_props, event)
        await self.start()
        assert self._client is not None
        return await self._client.send(command)
