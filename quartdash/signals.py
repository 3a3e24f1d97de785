"""Signals (blinker, as Quart's own) for the life of sessions and connections.

Each is sent with the ``QuartDash`` app as sender; receivers may be sync or async::

    from quartdash import signals

    @signals.connection_opened.connect_via(app)
    async def opened(sender, info):
        ...

* ``session_started``: a login created a session. Keywords: ``session_id`` (str),
  ``user`` (the auth id, str).
* ``session_ended``: quartdash ended a session. Keywords: ``session_id``, ``user``
  (str, or None when only the id is known) and ``reason``: ``"logout"``, ``"login"``
  (another user signed in in the same browser), ``"closed"`` (by the registry or the
  admin API) or ``"expired"`` (noticed on a live socket).
* ``connection_opened``: a WebSocket was admitted. Keyword: ``info``
  (``ConnectionInfo``).
* ``connection_closed``: it closed. Keywords: ``info`` and ``code`` (the close code the
  server sent, or None when the browser closed it).
* ``topic_joined``: a socket's first tab subscribed to a topic
  (``ctx.websocket.subscribe``). Keywords: ``info`` (``ConnectionInfo``, with the topic
  in ``info.topics``) and ``topic``. Sent once the socket's presence shows the topic
  in every worker, so ``app.connections.list(topic=...)`` in a receiver includes it.
* ``topic_left``: a socket's last tab on a topic left it: unsubscribed, the tab
  left, or the socket closed (then before ``connection_closed``). Keywords: ``info``
  and ``topic``; the socket is already out of ``list(topic=...)``.

Each is sent in the worker that holds the socket; with a shared backplane, a receiver
that pushes (say, the new list of who is here) reaches every worker's pages.

A receiver that raises is logged and does not disturb the connection or the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from blinker import Namespace, Signal

log = logging.getLogger("quartdash")

_signals = Namespace()

session_started = _signals.signal("quartdash-session-started")
session_ended = _signals.signal("quartdash-session-ended")
connection_opened = _signals.signal("quartdash-connection-opened")
connection_closed = _signals.signal("quartdash-connection-closed")
topic_joined = _signals.signal("quartdash-topic-joined")
topic_left = _signals.signal("quartdash-topic-left")

#: Quart's ``app.ensure_async``: a sync receiver runs in a thread, an async one as is.
EnsureAsync = Callable[[Callable[..., Any]], Callable[..., Coroutine[Any, Any, Any]]]


class Emitter:
    """Sends quartdash's signals from one sender, the ``QuartDash`` app: what the
    registry and the session lifecycle are given instead of the app itself.

    ``ensure_async`` is called at each send: the app's reads ``app.server`` then,
    since ``init_app`` may replace the server after the modules that send were built."""

    __slots__ = ("_ensure_async", "sender")

    def __init__(self, sender: object, ensure_async: EnsureAsync) -> None:
        self.sender = sender
        self._ensure_async = ensure_async

    async def __call__(self, signal: Signal, /, **kwargs: Any) -> None:
        """Send ``signal``; a failing receiver is logged, never raised."""
        if not signal.receivers:
            return
        try:
            await signal.send_async(self.sender, _sync_wrapper=self._ensure_async, **kwargs)
        except Exception:  # pylint: disable=broad-exception-caught
            log.exception("quartdash: a receiver of %s raised", getattr(signal, "name", signal))
