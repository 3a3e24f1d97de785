"""The plain data that workers share: socket records, selectors, commands, revocations.

No behaviour and no I/O, and nothing of quartdash imported: the registry, the backplanes
and the session lifecycle all speak in these terms, and none of them need import another
to do so. Their JSON forms, what a shared backplane writes, are in ``wire.py``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any, Protocol, Union

#: This process, as ``ConnectionInfo.worker`` names it: ``host:pid``. (Not the browser's
#: SharedWorker, whose file is ``browser.WORKER_SCRIPT``.)
THIS_WORKER = f"{socket.gethostname()}:{os.getpid()}"

#: The cookies and headers a WebSocket callback set, as ``(name, value)`` pairs, kept for
#: its page (``transport/handover.py``) and carried between workers by the backplane.
Headers = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """A snapshot of one socket, as ``list`` and the admin API report it."""

    id: str
    user: str | None
    session: str | None
    origin: str | None
    remote_addr: str | None
    user_agent: str | None
    opened_at: float
    last_seen: float
    worker: str
    callbacks_running: int
    #: The topics any tab of this socket is subscribed to, sorted.
    topics: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The fields as a dict, as the admin API lists them (``wire.py`` writes it)."""
        return asdict(self)


class Addressed(Protocol):
    """What a selector matches on: a ``ConnectionInfo``, or a worker's live record of
    a socket (``registry.Member``)."""

    @property
    def id(self) -> str: ...

    @property
    def user(self) -> str | None: ...

    @property
    def session(self) -> str | None: ...

    @property
    def topics(self) -> Collection[str]: ...


@dataclass(frozen=True, slots=True)
class Selector:
    """Which sockets a command or listing means. Empty selects every socket; the
    fields that are set must all match."""

    connection: str | None = None
    session: str | None = None
    user: str | None = None
    #: Sockets with at least one tab subscribed to this topic.
    topic: str | None = None

    def matches(self, info: Addressed) -> bool:
        return (
            (self.connection is None or info.id == self.connection)
            and (self.session is None or info.session == self.session)
            and (self.user is None or info.user == self.user)
            and (self.topic is None or self.topic in info.topics)
        )


@dataclass(frozen=True, slots=True)
class Close:
    """Close the selected sockets with ``code`` and ``reason``."""

    selector: Selector
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Extend:
    """A session was renewed: its sockets live until ``expires_at``."""

    session: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Update:
    """One component's props in a push, encoded once: the component id as Dash names
    it in a ``set_props`` message, the names of the props, the ``{prop: value}`` object
    as JSON text, and whether a later update of the same props may replace it while a
    page is behind (False for a ``Patch`` and for props that apply a change, such as
    ``extendData``)."""

    component: str
    props: tuple[str, ...]
    props_json: str
    coalesces: bool


@dataclass(frozen=True, slots=True)
class Push:
    """Deliver ``updates`` (``set_props``) and ``event`` (a name and its data as JSON
    text) to the selected sockets: with a ``topic``, to their subscribed tabs; else to
    every tab. Encoded once by whoever pushes (``cluster/topics.py``); every worker only
    splices the text into frames."""

    selector: Selector
    updates: tuple[Update, ...] = ()
    event: tuple[str, str] | None = None


Command = Union[Close, Extend, Push]


@dataclass(frozen=True, slots=True)
class Revocation:
    """One entry of the revocation list (``auth.sessions.Revocations``), kept until
    ``until`` (when every token it can match has expired anyway; infinite when tokens
    never expire). Either one session, or every token of ``user`` issued at or before
    ``before``."""

    until: float
    session: str | None = None
    user: str | None = None
    before: float | None = None
