"""The connection registry, ``app.connections``: list and close sockets by connection,
session, user or everyone, across every worker that shares the backplane.

Each worker keeps its own sockets (``Member``) and acts on commands; the backplane
(``backplane.py``) carries commands, presence and revocations between workers, so the
registry's callers never know whether there is one process or many. The command and
record types here are plain data with a JSON form, for the same reason.

Closing by session or user also revokes, as logout does: the session's cookie can no
longer open a socket or pass as a login anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Union

from quartdash import signals
from quartdash._compat.hypercorn import watch_server_stop
from quartdash.auth.sessions import Revocation, SessionToken, session_hash
from quartdash.config import DEFAULTS
from quartdash.transport.limits import printable
from quartdash.transport.protocol import CONNECTION_CLOSED, SIGNED_OUT, CloseCode, admin_reason

if TYPE_CHECKING:
    from quart_auth import AuthUser

    from quartdash.app import QuartDash
    from quartdash.cluster.backplane import Backplane
    from quartdash.transport.connection import Connection
    from quartdash.transport.limits import TokenBucket

log = logging.getLogger("quartdash.connections")


WORKER = f"{socket.gethostname()}:{os.getpid()}"
_TOO_MANY_FOR_SESSION = "too many connections for this session"
TOO_MANY_FROM_ADDRESS = "too many connections from this address"


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConnectionInfo:
        fields: dict[str, Any] = {name: data.get(name) for name in cls.__dataclass_fields__}
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class Selector:
    """Which sockets a command or listing means. Empty selects every socket; the
    fields that are set must all match."""

    connection: str | None = None
    session: str | None = None
    user: str | None = None

    def matches(self, info: ConnectionInfo | Member) -> bool:
        return (
            (self.connection is None or info.id == self.connection)
            and (self.session is None or info.session == self.session)
            and (self.user is None or info.user == self.user)
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


Command = Union[Close, Extend]


def command_to_json(command: Command) -> dict[str, Any]:
    if isinstance(command, Close):
        return {"close": asdict(command.selector), "code": command.code, "reason": command.reason}
    # JSON has no infinity: a session that never expires says null.
    expires_at = None if math.isinf(command.expires_at) else command.expires_at
    return {"extend": command.session, "expires_at": expires_at}


def command_from_json(data: Mapping[str, Any]) -> Command:
    if "close" in data:
        return Close(Selector(**data["close"]), int(data["code"]), str(data["reason"]))
    expires_at = data["expires_at"]
    return Extend(str(data["extend"]), math.inf if expires_at is None else float(expires_at))


class Member:
    """This worker's record of one of its sockets."""

    __slots__ = (
        "_opened_clock",
        "conn",
        "expires_at",
        "id",
        "inbound",
        "opened_at",
        "origin",
        "remote_addr",
        "token",
        "user_agent",
        "user_object",
    )

    def __init__(
        self,
        conn: Connection,
        inbound: TokenBucket,
        *,
        user: AuthUser | None,
        token: SessionToken | None,
        origin: str | None,
        remote_addr: str | None,
        user_agent: str | None,
    ) -> None:
        self.conn = conn
        #: The socket's inbound rate limiter; it also knows when the last message came.
        self.inbound = inbound
        self.id = conn.id
        self.user_object = user
        self.token = token
        self.origin = origin
        self.remote_addr = remote_addr
        self.user_agent = user_agent
        self.opened_at = time.time()
        self._opened_clock = inbound.stamp
        self.expires_at = token.expires_at if token is not None else float("inf")

    @property
    def user(self) -> str | None:
        return self.token.user if self.token is not None else None

    @property
    def session(self) -> str | None:
        return self.token.session_id if self.token is not None else None

    @property
    def last_seen(self) -> float:
        """When the last message arrived (wall clock), read off the rate limiter."""
        return self.opened_at + (self.inbound.stamp - self._opened_clock)

    def info(self) -> ConnectionInfo:
        return ConnectionInfo(
            self.id, self.user, self.session, self.origin, self.remote_addr,
            self.user_agent, self.opened_at, self.last_seen, WORKER, len(self.conn.running),
        )


class ConnectionRegistry:
    """``app.connections``: the app's view of every socket, and the force-close."""

    def __init__(
        self,
        app: QuartDash,
        backplane: Backplane,
        *,
        max_per_session: int | None = DEFAULTS.max_connections_per_session,
        max_per_address: int | None = None,
        check_interval: float = DEFAULTS.session_check_interval,
        send_timeout: float = DEFAULTS.send_timeout,
    ) -> None:
        self._app = app
        #: A socket whose send stays blocked this long is closed (1013).
        self.send_timeout = send_timeout
        #: Set once the server stops: dropped sockets are then not kept for a resume.
        self.stopping = False
        self.backplane = backplane
        self.max_per_session = max_per_session
        #: Sockets without a session that one address may hold in this worker.
        self.max_per_address = max_per_address
        #: Sockets per session ("s", id) and, without one, per address ("a", address):
        #: open ones, and those accepted but not admitted yet (``reserve``). Kept as
        #: counts, so admitting a socket costs the same however many are open.
        self._held: Counter[tuple[str, str | None]] = Counter()
        self._held_keys: dict[str, tuple[str, str | None]] = {}
        self._check_interval = check_interval
        self._members: dict[str, Member] = {}
        self._starting: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._stop_watch: asyncio.Task[None] | None = None
        #: Departures still being announced (see ``leave``).
        self._pending: set[asyncio.Task[None]] = set()

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Join the backplane and start the session checks (Quart ``before_serving``;
        idempotent, and safe to call from many sockets at once)."""
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        await self.backplane.start(self)
        loop = asyncio.get_running_loop()
        self._sweeper = loop.create_task(self._sweep_forever())
        self._stop_watch = loop.create_task(watch_server_stop(self.going_away))

    def going_away(self) -> int:
        """The server is stopping: close this worker's sockets with 1001, so each page
        reconnects with backoff, to this server when it is back or to another one."""
        self.stopping = True
        closed = self.apply(Close(Selector(), CloseCode.GOING_AWAY, "server restarting"))
        if closed:
            log.info("quartdash: server stopping: closed %d WebSocket(s) with 1001", closed)
        return closed

    async def stop(self) -> None:
        """Leave the backplane (Quart ``after_serving``)."""
        starting, self._starting = self._starting, None
        if starting is None:
            return
        with contextlib.suppress(Exception):
            await starting
        self.going_away()  # servers that stop sockets after the lifespan shutdown
        for task in (self._stop_watch, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._sweeper = self._stop_watch = None
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=5)
        await self.backplane.stop()

    def __len__(self) -> int:
        """Sockets open in this worker."""
        return len(self._members)

    # --- this worker's sockets ------------------------------------------------------------
    async def join(self, member: Member) -> str | None:
        """Admit a socket; else why not: its session already holds ``max_per_session``
        (across workers), or, without a session, its address holds ``max_per_address``
        in this worker."""
        await self.start()  # a no-op once serving; covers servers that skip the lifespan
        limit = self.max_per_session if member.session is not None else None
        key = _held_by(member)
        if limit is not None:
            if self._held[key] >= limit:
                return _TOO_MANY_FOR_SESSION
        elif self.max_per_address is not None and self._held[key] >= self.max_per_address:
            return TOO_MANY_FROM_ADDRESS
        self._add(member)  # before any await: the counts above stay exact
        info = member.info()
        try:
            admitted = await self.backplane.announce(info, limit)
        except BaseException:  # BackplaneUnavailable included: the caller closes with 1013
            self._remove(member)
            raise
        if not admitted:
            self._remove(member)
            return _TOO_MANY_FOR_SESSION
        _log_event("connect", member)
        await signals.emit(signals.connection_opened, self._app, info=info)
        return None

    def _add(self, member: Member) -> None:
        self._members[member.id] = member
        key = self._held_keys[member.id] = _held_by(member)
        self._held[key] += 1

    def _remove(self, member: Member) -> bool:
        """Forget ``member``; False if it was not here."""
        if self._members.pop(member.id, None) is None:
            return False
        key = self._held_keys.pop(member.id)
        self._held[key] -= 1
        if self._held[key] <= 0:
            del self._held[key]
        return True

    def reserve(self, address: str) -> bool:
        """Count a socket of ``address`` (one with no session) from its acceptance on,
        while it says what it is (``quartdash_hello``); False if the address holds
        ``max_per_address`` already. Each True is paired with one ``release``."""
        if self.max_per_address is None:
            return True
        key = ("a", address)
        if self._held[key] >= self.max_per_address:
            log.warning("quartdash: refused a WebSocket from %s: it holds %d already (behind "
                        "a proxy? see trust_proxy_headers)", printable(address), self._held[key])
            return False
        self._held[key] += 1
        return True

    def release(self, address: str) -> None:
        """The socket ``reserve`` counted was admitted (or refused): stop counting it."""
        key = ("a", address)
        self._held[key] -= 1
        if self._held[key] <= 0:
            del self._held[key]

    def retire(self, member: Member, code: int | None) -> None:
        """A socket is done for good: its callbacks learn first (``is_shutdown``), then
        the registry forgets it. The caller then awaits ``member.conn.shutdown()``."""
        member.conn.stop()
        self.leave(member, code)

    def leave(self, member: Member, code: int | None) -> None:
        """Forget a closed socket now; ``code`` is the close code sent, None if the peer
        left. Synchronous, so a handler cancelled twice over still leaves the registry
        exact; telling the backplane and the signal receivers runs in a tracked task."""
        if not self._remove(member):
            return
        info = member.info()
        _log_event("disconnect", member, code=code,
                   seconds=round(time.time() - member.opened_at, 1))
        task = asyncio.get_running_loop().create_task(self._left(info, code))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _left(self, info: ConnectionInfo, code: int | None) -> None:
        try:
            await self.backplane.withdraw(info)
        finally:
            await signals.emit(signals.connection_closed, self._app, info=info, code=code)

    def local_list(self, selector: Selector) -> list[ConnectionInfo]:
        """This worker's sockets that ``selector`` matches (the backplane's side)."""
        return [m.info() for m in self._members.values() if selector.matches(m)]

    def apply(self, command: Command) -> int:
        """Carry out a command on this worker's sockets; how many it affected."""
        if isinstance(command, Extend):
            hits = [m for m in self._members.values() if m.session == command.session]
            for member in hits:
                member.expires_at = max(member.expires_at, command.expires_at)
            return len(hits)
        closed = 0
        for member in list(self._members.values()):
            if command.selector.matches(member) and member.conn.abort(
                command.code, command.reason
            ):
                closed += 1
        return closed

    # --- the public API ---------------------------------------------------------------------
    async def list(
        self, user: str | None = None, session: str | None = None
    ) -> list[ConnectionInfo]:
        """Every open socket (cluster-wide with a shared backplane), optionally of one
        user and/or one session, oldest first."""
        infos = await self.backplane.list(Selector(user=user, session=session))
        return sorted(infos, key=lambda info: (info.opened_at, info.id))

    async def close(
        self,
        connection_id: str | None = None,
        *,
        session: str | None = None,
        user: str | None = None,
        everyone: bool = False,
        reason: str | None = None,
        code: int = CloseCode.SESSION_ENDED,
    ) -> int:
        """Close sockets; returns how many were closed. Give exactly one of a
        connection id, ``session``, ``user`` or ``everyone=True``. Closing by session or
        user ends it as logout does: the cookie is revoked until it would have expired.

        The close reason says which of the two it was (``protocol.admin_reason``), with
        ``reason`` after it: the page tells "signed out" from "connection closed" by it,
        since both close with 4401, and only a signed-out tab goes to ``login_url``."""
        given = [connection_id is not None, session is not None, user is not None, everyone]
        if sum(given) != 1:
            raise ValueError("close() takes exactly one of: a connection id, session=, "
                             "user=, everyone=True")
        if code not in {member.value for member in CloseCode} and not 3000 <= code <= 4999:
            raise ValueError(f"{code} is not a close code a server may send")
        ends_session = session is not None or user is not None
        text = admin_reason(SIGNED_OUT if ends_session else CONNECTION_CLOSED, reason)
        if session is not None:
            owners = {info.user for info in await self.backplane.list(Selector(session=session))}
            owner = owners.pop() if len(owners) == 1 else None
            return await self.end_session(
                session, owner, "closed", until=None, text=text, code=code
            )
        if user is not None:
            return await self._end_user(user, text, code)
        return await self.backplane.send(Close(Selector(connection=connection_id), code, text))

    # --- sessions ---------------------------------------------------------------------------
    async def end_session(
        self,
        session_id: str,
        user: str | None,
        reason: str,
        *,
        until: float | None,
        text: str,
        code: int = CloseCode.SESSION_ENDED,
    ) -> int:
        """Revoke one session (until ``until``, else as long as any token can live),
        close its sockets everywhere and send ``session_ended``."""
        await self.backplane.revoke(Revocation(until or self._revoke_until(), session=session_id))
        closed = await self.backplane.send(Close(Selector(session=session_id), code, text))
        await signals.emit(
            signals.session_ended, self._app, session_id=session_id, user=user, reason=reason
        )
        return closed

    async def _end_user(self, user: str, text: str, code: int) -> int:
        now = time.time()
        sessions = {info.session for info in await self.backplane.list(Selector(user=user))}
        await self.backplane.revoke(Revocation(self._revoke_until(), user=user, before=now))
        closed = await self.backplane.send(Close(Selector(user=user), code, text))
        for session_id in sorted(s for s in sessions if s is not None):
            await signals.emit(
                signals.session_ended, self._app, session_id=session_id, user=user, reason="closed"
            )
        return closed

    async def renew_session(self, token: SessionToken) -> None:
        """A renewed login: the session's sockets live until the new token expires."""
        await self.backplane.send(Extend(token.session_id, token.expires_at))

    def _revoke_until(self) -> float:
        """Until when a revocation made now must be kept: as long as a token issued now
        can live; forever (infinite) when tokens never expire (``QUART_AUTH_DURATION``
        None), else such a cookie would pass again once the entry is purged."""
        sessions = self._app.sessions
        duration = sessions.duration if sessions is not None else 0.0
        return time.time() + duration + 1  # inf + 1 is inf: never int() it

    async def _sweep_forever(self) -> None:
        """Close sockets whose session expired (4408) or was revoked while a command was
        missed (4401), and those whose peer stopped reading (1013); forget revocations
        that can no longer match."""
        while True:
            await asyncio.sleep(self._check_interval)
            try:
                await self.sweep(time.time())
            except Exception:  # pylint: disable=broad-exception-caught
                log.exception("quartdash: session check failed")

    async def sweep(self, now: float) -> None:
        """One pass of the session checks (see ``_sweep_forever``)."""
        revocations = self.backplane.revocations
        expired: dict[str, str | None] = {}
        clock = time.monotonic()
        for member in list(self._members.values()):
            if member.conn.stalled_for(clock) > self.send_timeout:
                log.warning("quartdash: closing WebSocket %s with 1013: client is not "
                            "reading (a send blocked %.0f s)", member.id, self.send_timeout)
                member.conn.abort(CloseCode.TRY_AGAIN_LATER, "client is not reading")
            if member.token is None or member.conn.is_shutdown:
                continue
            if revocations.revoked(member.token):
                member.conn.abort(CloseCode.SESSION_ENDED, "session revoked")
            elif member.expires_at <= now:
                if member.conn.abort(CloseCode.SESSION_EXPIRED, "session expired"):
                    expired[member.token.session_id] = member.user
        revocations.purge(now)
        for session_id, user in expired.items():
            await signals.emit(
                signals.session_ended, self._app, session_id=session_id, user=user,
                reason="expired",
            )


def _held_by(member: Member) -> tuple[str, str | None]:
    """What a socket counts against: its session, or without one its address."""
    session = member.session
    return ("s", session) if session is not None else ("a", member.remote_addr)


def _log_event(event: str, member: Member, **more: Any) -> None:
    """One structured line: ``event key=value ...``, the same fields in the record's
    ``quartdash`` attribute. The session appears only as a hash."""
    fields = {
        "id": member.id,
        "user": member.user,
        "session": session_hash(member.session),
        "origin": member.origin,
        "address": member.remote_addr,
        **more,
    }
    text = " ".join(f"{key}={'-' if value is None else printable(value)}"
                    for key, value in fields.items())
    log.info("%s %s", event, text,
             extra={"quartdash": {"event": event, "worker": WORKER, **fields}})
