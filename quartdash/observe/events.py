"""What quartdash reports as it works, to whoever observes it.

Every place that does something worth counting (a frame sent, a callback run, a socket
closed with a code) calls one method of ``observer``. The base ``Observer`` does nothing:
that is what runs with metrics off, so the hot path costs one call per event and nothing
is imported. ``metrics.enable`` puts a ``PrometheusObserver`` in its place.

The observer is per process, as Prometheus' own client keeps its values: every app of a
process reports to it (a process serves one app in production; tests that count serve
each app from its own server process).

Label values are bounded here, never taken from a client: a close code the client chose
is reported as ``"other"`` unless it is one of ``CLOSE_CODES``, so a hostile client cannot
grow the number of series.
"""

from __future__ import annotations

from typing import Literal

Transport = Literal["websocket", "http"]
Outcome = Literal["ok", "error", "prevented", "cancelled"]
Refusal = Literal["origin", "auth", "limit", "cluster"]
ResumeOutcome = Literal["resumed", "expired", "refused"]
EndReason = Literal["logout", "login", "closed", "expired"]

#: Close codes reported by number; any other is ``"other"`` (see the module docstring).
CLOSE_CODES = frozenset({1000, 1001, 1005, 1006, 1008, 1009, 1011, 1012, 1013,
                         4001, 4401, 4408, 4429})


def utf8_size(text: str | bytes) -> int:
    """Bytes of ``text`` in UTF-8 (a frame's size on the wire before compression),
    without encoding it when it is ASCII, as JSON frames mostly are."""
    if isinstance(text, bytes) or text.isascii():
        return len(text)
    return len(text.encode())


def code_label(code: int | None) -> str:
    """The ``code`` label of a close: the code the server sent when it is a known one,
    else ``"other"``; ``"client"`` when the server sent none (the browser closed the
    socket, or it vanished)."""
    if code is None:
        return "client"
    return str(code) if code in CLOSE_CODES else "other"


class Observer:
    """Receives what quartdash reports; this base ignores all of it (metrics off).

    Every method is called on the event loop's thread except ``callback``, which a sync
    callback's thread may call: an implementation must be thread-safe there."""

    __slots__ = ()

    def connection_opened(self) -> None:
        """A socket was admitted."""

    def connection_closed(self, code: int | None) -> None:
        """An admitted socket ended, with ``code`` (None: no close frame)."""

    def handshake_refused(self, reason: Refusal) -> None:
        """A handshake was refused or closed before any callback ran."""

    def callback(self, transport: Transport, outcome: Outcome, seconds: float | None) -> None:
        """A callback ran for ``seconds`` and ended with ``outcome``. ``seconds`` is None
        for a persistent callback, which runs as long as its page stays open: its
        duration says nothing of how fast callbacks answer."""

    def sent(self, frame: str) -> None:
        """One frame went to a socket. Its size (``utf8_size``) is the observer's to
        measure: with metrics off nobody reads it, and every frame would pay for it."""

    def sent_size(self, size: int) -> None:
        """One frame of ``size`` bytes of message went to a socket (a push written
        straight to it, whose size is known)."""

    def received(self, frame: str | bytes) -> None:
        """One frame came from a socket (measured as ``sent``'s)."""

    def coalesced(self) -> None:
        """A queued set_props was replaced by a newer one for the same prop."""

    def resume(self, outcome: ResumeOutcome) -> None:
        """A page asked to resume its dropped socket."""

    def session_ended(self, reason: EndReason) -> None:
        """quartdash ended a session."""

    def pushed(self) -> None:
        """This process made a push (``app.connections.push``): counted where it is
        made, once however many workers it reaches."""

    def delivered(self, sockets: int) -> None:
        """A push, made anywhere (a ``Publisher`` included), reached ``sockets`` sockets
        of this process."""

    def backplane(self, up: bool) -> None:
        """The backplane is reachable (True) or not."""


#: What quartdash reports to in this process (``metrics.enable`` replaces it).
observer: Observer = Observer()
