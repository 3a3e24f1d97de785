"""The connection registry, ``app.connections``: list and close sockets by connection,
session, user or everyone, across every worker that shares the backplane.

Each worker keeps its own sockets (``Member``) and acts on commands; the backplane
(``backplane.py``) carries commands, presence and revocations between workers, so the
registry's callers never know whether there is one process or many. What they carry is
the plain data of ``models.py``.

Closing by session or user ends the session as logout does, through the session
lifecycle (``auth/sessions.py``): the session's cookie can no longer open a socket or
pass as a login anywhere, and ``session_ended`` is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any

from quartdash import signals
from quartdash._compat.graceful import graceful_timeout
from quartdash._compat.servers import watch_server_stop
from quartdash.cluster.models import (
    THIS_WORKER,
    Close,
    Command,
    ConnectionInfo,
    Extend,
    Push,
    Selector,
)
from quartdash.cluster.topics import EVERY_TAB, Frame, PushFrames, SetProps, encode, select
from quartdash.config import DEFAULTS
from quartdash.observe import events, tracing
from quartdash.transport.limits import printable
from quartdash.transport.protocol import CONNECTION_CLOSED, SIGNED_OUT, CloseCode, admin_reason

if TYPE_CHECKING:
    from quart_auth import AuthUser

    from quartdash.auth.sessions import SessionLifecycle, SessionToken
    from quartdash.cluster.backplane import Backplane
    from quartdash.transport.connection import Connection
    from quartdash.transport.limits import TokenBucket

log = logging.getLogger("quartdash.connections")


_TOO_MANY_FOR_SESSION = "too many connections for this session"
#: Tabs remembered per socket of a client other than quartdash's worker, and tabs of one
#: socket on one topic (each callback request names one; a client inventing ids must
#: not grow the sets without bound).
MAX_TABS = 64
#: Longest ``push_sync`` waits for the push to be made and counted.
PUSH_SYNC_SECONDS = 30.0
#: Seconds between two batches of a drain (``drain_seconds``).
DRAIN_TICK = 0.1
#: Seconds the drain leaves free before the server's graceful timeout: the last
#: batch's sockets still answer their close and end their callbacks in it.
DRAIN_MARGIN = 1.0
TOO_MANY_FROM_ADDRESS = "too many connections from this address"
#: Longest the stop of the server waits for this worker's sockets to close.
STOP_WAIT_SECONDS = 8.0


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
        "ours",
        "presence_changes",
        "presence_lock",
        "presence_written",
        "remote_addr",
        "tabs",
        "token",
        "topics",
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
        ours: bool = False,
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
        #: The client is quartdash's worker: a push to every tab is one frame it fans
        #: out (``topics.EVERY_TAB``), and it says when a tab leaves.
        self.ours = ours
        #: For any other client, the tabs (renderer ids) its callback requests named,
        #: the ``MAX_TABS`` heard from last, oldest first: where a push to every tab goes.
        self.tabs: dict[str, None] = {}
        #: Topic -> the tabs subscribed to it (see ``ConnectionRegistry.subscribe``).
        self.topics: dict[str, set[str]] = {}
        #: Changes of ``topics`` so far, and how many of them the backplane holds:
        #: presence writes of one socket go one at a time, each of its latest state
        #: (see ``ConnectionRegistry._write_presence``).
        self.presence_changes = 0
        self.presence_written = 0
        self.presence_lock = asyncio.Lock()

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
            self.user_agent, self.opened_at, self.last_seen, THIS_WORKER,
            len(self.conn.running), tuple(sorted(self.topics)),
        )

    def saw_tab(self, renderer_id: str) -> None:
        """A callback request named this tab (kept for clients other than ours)."""
        if self.ours:
            return
        tabs = self.tabs
        tabs.pop(renderer_id, None)
        tabs[renderer_id] = None  # the most recent last
        if len(tabs) > MAX_TABS:
            # Such a client never says a tab left (each reload is a new id): the tab
            # heard from longest ago is forgotten first.
            del tabs[next(iter(tabs))]

    def targets(self, topic: str | None) -> Collection[str]:
        """The tabs a push goes to: those subscribed to ``topic``; without one, every
        tab (one frame for quartdash's worker, one per known tab for another client)."""
        if topic is not None:
            return self.topics.get(topic, ())
        return (EVERY_TAB,) if self.ours else self.tabs


class _MemberTopics:
    """One socket's subscriptions as its callbacks reach them (``ctx.websocket``)."""

    __slots__ = ("_member", "_registry")

    def __init__(self, registry: ConnectionRegistry, member: Member) -> None:
        self._registry = registry
        self._member = member

    async def subscribe(self, renderer_id: str, topic: str) -> None:
        await self._registry.subscribe(self._member, renderer_id, topic)

    async def unsubscribe(self, renderer_id: str, topic: str) -> None:
        await self._registry.unsubscribe(self._member, renderer_id, topic)

    def drop_tab(self, renderer_id: str) -> None:
        self._registry.drop_tab(self._member, renderer_id)


class ConnectionRegistry:
    """``app.connections``: the app's view of every socket, and the force-close."""

    def __init__(
        self,
        backplane: Backplane,
        sessions: SessionLifecycle,
        emit: signals.Emitter,
        *,
        max_per_session: int | None = DEFAULTS.max_connections_per_session,
        max_per_address: int | None = None,
        check_interval: float = DEFAULTS.session_check_interval,
        send_timeout: float = DEFAULTS.send_timeout,
        max_topics: int = DEFAULTS.max_topics_per_connection,
        drain_seconds: float = DEFAULTS.drain_seconds,
    ) -> None:
        #: Ends sessions (``close(session=|user=)``) and hears of expired ones.
        self._sessions = sessions
        #: Sends ``connection_opened`` and ``connection_closed`` (with the app as sender).
        self._emit = emit
        #: A socket whose send stays blocked this long is closed (1013).
        self.send_timeout = send_timeout
        #: Set once the server stops: dropped sockets are then not kept for a resume.
        self.stopping = False
        #: The window over which a stopping worker closes its sockets (0: at once).
        self.drain_seconds = drain_seconds
        #: The window a stop drains over: ``drain_seconds``, cut at the start to fit
        #: the server's graceful timeout (``fit_drain``).
        self._window = drain_seconds
        #: The drain under way (``going_away``).
        self._drain: asyncio.Task[None] | None = None
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
        #: Topics one socket may be subscribed to at once.
        self.max_topics = max_topics
        #: Topic -> its subscribed sockets in this worker, by id: a push by topic
        #: visits its subscribers only, however many other sockets are open.
        self._by_topic: dict[str, dict[str, Member]] = {}
        #: The loop serving this worker's sockets (``push_sync`` hands work to it).
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Join the backplane and start the session checks (Quart ``before_serving``;
        idempotent, and safe to call from many sockets at once)."""
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        self._loop = loop = asyncio.get_running_loop()
        await self.backplane.start(self)
        events.observer.backplane(self.backplane.healthy)
        self._sweeper = loop.create_task(self._sweep_forever())
        # The server's graceful timeout, read before the stop watch replaces the
        # servers' signal handlers (uvicorn's and granian's are how they are found).
        limit = graceful_timeout()
        self._window = fit_drain(self.drain_seconds, limit)
        if self._window < self.drain_seconds:
            log.warning(
                "quartdash: drain_seconds=%g does not fit the server's graceful timeout "
                "(%g s): a stop will close the sockets over %g s instead; give the server "
                "a graceful timeout of drain_seconds + %g s or more", self.drain_seconds,
                limit, self._window, DRAIN_MARGIN)
        self._stop_watch = loop.create_task(watch_server_stop(self._server_stopping))

    async def _server_stopping(self) -> None:
        """The server told us it begins to stop (``_compat/servers.py``): close the
        sockets (``going_away``: drained over the window), and return once their
        handlers are done (each sent its close and read the page's answer), bounded by
        ``STOP_WAIT_SECONDS`` after the drain: uvicorn and granian hold their own stop
        until then, which would otherwise drop the sockets without a close of ours."""
        handlers = [t for m in self._members.values() if (t := m.conn.owner) is not None]
        self.going_away()
        if self._drain is not None:
            await self._drain
        if handlers:
            await asyncio.wait(handlers, timeout=STOP_WAIT_SECONDS)

    def going_away(self) -> int:
        """The server is stopping: close this worker's sockets with 1001 (announced),
        so each page reconnects with backoff, to this server when it is back or to
        another one. With a drain window the closes come in batches over it, oldest
        socket first, so that the pages do not all land on the other workers at once;
        how many were closed now (the rest follow in the drain's task)."""
        self.stopping = True
        if self._drain is not None:
            return 0  # draining already
        if self._window <= 0 or not self._members:
            return self._close_rest()
        self._drain = asyncio.get_running_loop().create_task(self._drain_over(self._window))
        return 0

    async def _drain_over(self, window: float) -> None:
        """Close the sockets in ``batches`` batches, one every ``window / batches``
        seconds: each closes its share of those still open, the oldest first (the
        members are kept in the order they joined). Whatever joins meanwhile is closed
        too. Paced by the loop's clock, so a slow batch does not stretch the window."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        batches = max(1, round(window / DRAIN_TICK))
        total = len(self._members)
        closed = 0
        for index in range(batches):
            await asyncio.sleep(max(0.0, started + index * window / batches - loop.time()))
            members = [m for m in self._members.values() if not m.conn.is_shutdown]
            share = math.ceil(len(members) / (batches - index))
            closed += self._close(members[:share])
            if share >= len(members):
                break  # all closed: the server's wait for its connections can end now
        closed += self._close(list(self._members.values()))
        log.info("quartdash: server stopping: closed %d WebSocket(s) with 1001 over %.1f s "
                 "(%d open when the stop began)", closed, loop.time() - started, total)

    def _close(self, members: list[Member]) -> int:
        closed = 0
        for member in members:
            if member.conn.abort(CloseCode.GOING_AWAY, "server restarting"):
                closed += 1
        return closed

    def _close_rest(self) -> int:
        """Close every socket still open at once (no drain, or the drain's time is up)."""
        closed = self._close(list(self._members.values()))
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
        # Servers that stop sockets after the lifespan shutdown; a drain still under way
        # has run out of time: what is left closes at once.
        self.stopping = True
        self._close_rest()
        for task in (self._drain, self._stop_watch, self._sweeper):
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
        events.observer.connection_opened()
        await self._emit(signals.connection_opened, info=info)
        return None

    def _add(self, member: Member) -> None:
        self._members[member.id] = member
        key = self._held_keys[member.id] = _held_by(member)
        self._held[key] += 1

    def _remove(self, member: Member) -> bool:
        """Forget ``member``; False if it was not here."""
        if self._members.pop(member.id, None) is None:
            return False
        for topic in member.topics:
            self._unindex(topic, member)
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
        the registry forgets it. The caller then awaits ``member.conn.finish()``."""
        member.conn.stop()
        self.leave(member, code)

    def leave(self, member: Member, code: int | None) -> None:
        """Forget a closed socket now; ``code`` is the close code sent, None if the peer
        left. Synchronous, so a handler cancelled twice over still leaves the registry
        exact; telling the backplane and the signal receivers runs in a tracked task."""
        if not self._remove(member):
            return
        info = member.info()
        events.observer.connection_closed(code)
        _log_event("disconnect", member, code=code,
                   seconds=round(time.time() - member.opened_at, 1))
        task = asyncio.get_running_loop().create_task(self._left(info, code))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _left(self, info: ConnectionInfo, code: int | None) -> None:
        try:
            await self.backplane.withdraw(info)
        finally:
            for topic in info.topics:
                await self._emit(signals.topic_left, info=info, topic=topic)
            await self._emit(signals.connection_closed, info=info, code=code)

    def local_list(self, selector: Selector) -> list[ConnectionInfo]:
        """This worker's sockets that ``selector`` matches (the backplane's side)."""
        return [m.info() for m in self._members.values() if selector.matches(m)]

    def apply(self, command: Command) -> int:
        """Carry out a command on this worker's sockets now; how many it affected."""
        count, start = self.carry_out(command)
        start()
        return count

    def carry_out(self, command: Command) -> tuple[int, Callable[[], None]]:
        """Carry out a command on this worker's sockets: how many it affected, and what
        starts their sends (a push's; nothing for the other commands). A backplane
        tells the cluster first (publishes the push, or answers its sender), which
        would otherwise wait behind the sends to every socket, then runs what this
        returns, always and once (``_deliver``)."""
        if isinstance(command, Push):
            return self._deliver(command)
        return self._act(command), _nothing

    def _act(self, command: Close | Extend) -> int:
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

    # --- topics and push ----------------------------------------------------------------
    def topics_for(self, member: Member) -> _MemberTopics:
        """What ``ctx.websocket.subscribe`` of ``member``'s callbacks calls."""
        return _MemberTopics(self, member)

    async def subscribe(self, member: Member, renderer_id: str, topic: str) -> None:
        """Subscribe one tab of ``member`` to ``topic`` (idempotent). The socket's
        presence shows the topic in every worker before this returns, and
        ``topic_joined`` is sent, when it is the socket's first tab on it."""
        tabs = member.topics.get(topic)
        if tabs is not None:
            if renderer_id not in tabs and len(tabs) >= MAX_TABS:
                # A client inventing tab ids must not grow the set without bound.
                raise ValueError(f"{MAX_TABS} tabs of this connection are subscribed to "
                                 "this topic already")
            tabs.add(renderer_id)
            return
        if member.conn.is_shutdown or member.id not in self._members:
            return  # closing: the subscription would end at once
        if len(member.topics) >= self.max_topics:
            raise ValueError(f"this connection is subscribed to {self.max_topics} topics "
                             "already (max_topics_per_connection)")
        member.topics[topic] = {renderer_id}
        self._by_topic.setdefault(topic, {})[member.id] = member
        await self._changed(member, joined=(topic,))

    async def unsubscribe(self, member: Member, renderer_id: str, topic: str) -> None:
        """End one tab's subscription to ``topic``; nothing if it had none."""
        tabs = member.topics.get(topic)
        if tabs is None or renderer_id not in tabs:
            return
        tabs.discard(renderer_id)
        if not tabs:
            del member.topics[topic]
            self._unindex(topic, member)
            await self._changed(member, left=(topic,))

    def drop_tab(self, member: Member, renderer_id: str) -> None:
        """A tab of ``member`` left (its socket stays for the others): its
        subscriptions end. Synchronous (the receive loop calls it); telling the
        backplane and the signals runs in a tracked task."""
        member.tabs.pop(renderer_id, None)
        left = []
        for topic, tabs in list(member.topics.items()):
            tabs.discard(renderer_id)
            if not tabs:
                del member.topics[topic]
                self._unindex(topic, member)
                left.append(topic)
        if left:
            task = asyncio.get_running_loop().create_task(
                self._changed(member, left=tuple(left)))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def _unindex(self, topic: str, member: Member) -> None:
        subscribers = self._by_topic.get(topic)
        if subscribers is not None:
            subscribers.pop(member.id, None)
            if not subscribers:
                del self._by_topic[topic]

    async def _changed(self, member: Member, joined: tuple[str, ...] = (),
                       left: tuple[str, ...] = ()) -> None:
        """``member``'s topics changed: its presence first (so a receiver's ``list``
        sees the change), then the signals. A socket that closed meanwhile is
        withdrawn again, so the update cannot bring it back into the listings."""
        info = await self._write_presence(member)
        if member.id not in self._members:
            await self.backplane.withdraw(info)
            return
        for topic in joined:
            await self._emit(signals.topic_joined, info=info, topic=topic)
        for topic in left:
            await self._emit(signals.topic_left, info=info, topic=topic)

    async def _write_presence(self, member: Member) -> ConnectionInfo:
        """Tell the backplane ``member``'s topics; what it now holds. One write at a
        time per socket, each of the latest state, so writes cannot land out of order,
        and changes made while one is on its way share the next: a client churning its
        subscriptions costs at most one write in flight and one waiting."""
        member.presence_changes += 1
        wanted = member.presence_changes
        async with member.presence_lock:
            if member.presence_written < wanted:
                changes = member.presence_changes
                await self.backplane.refresh(member.info())
                member.presence_written = changes
        return member.info()

    def _deliver(self, push: Push) -> tuple[int, Callable[[], None]]:
        """Queue ``push`` to this worker's sockets it selects: how many, and what
        starts their sends (see ``carry_out``; it must run, once). Its text is built
        once per push and spliced per tab id (``PushFrames``). A socket that nothing
        waits for holds its next send for the push (``Connection.hold``: what comes
        meanwhile queues behind it), which ``start`` writes straight to it
        (``transport/direct.py``); any other queues the push's frames now, under its
        own limits."""
        selector = push.selector
        if selector.topic is not None:
            members: Iterable[Member] = self._by_topic.get(selector.topic, {}).values()
        elif selector.connection is not None:
            found = self._members.get(selector.connection)
            members = () if found is None else (found,)
        else:
            members = self._members.values()
        spliced = PushFrames(push)
        # Kept until the cluster was told (``start``): nothing is made per socket here
        # that would live that long (thousands of small objects a push would survive
        # into the collector's oldest generation and make it scan every socket's
        # objects over and over: 0.4 s pauses at 2,500 sockets a worker, measured).
        held: list[Member] = []
        queued: list[Connection] = []
        topic = selector.topic
        # The topic's index holds exactly its subscribers: no selector to match there.
        matches = None if topic is not None else selector.matches
        for member in list(members):
            conn = member.conn
            if conn.is_shutdown or (matches is not None and not matches(member)):
                continue
            tabs = member.targets(topic)
            if not tabs:
                continue
            if conn.hold():
                held.append(member)
            elif conn.send_frames(_for_tabs(spliced, tabs), start=False):
                # One push to one socket is admitted whole (or the socket, too far
                # behind, is closed), and counted only if queued.
                queued.append(conn)
        count = len(held) + len(queued)
        if count:
            events.observer.delivered(count)
        started = False

        def start() -> None:
            nonlocal started
            if started:
                return
            started = True
            for member in held:
                conn = member.conn
                tabs = member.targets(topic)  # a tab that left meanwhile gets nothing
                try:
                    if tabs and conn.write_held(*spliced.direct(tabs)):
                        continue
                except Exception:  # pylint: disable=broad-exception-caught
                    log.warning("quartdash: a push's direct write to %s failed", conn.id,
                                exc_info=True)
                if conn.held:  # the place is filled whatever happened, or the socket waits
                    conn.queue_held(_for_tabs(spliced, tabs) if tabs else ())
            for conn in queued:
                conn.start_sending()

        return count, start

    async def push(self, *, topic: str | None = None, user: str | None = None,
                   session: str | None = None, connection: str | None = None,
                   everyone: bool = False, set_props: SetProps | None = None,
                   event: tuple[str, Any] | None = None) -> int:
        """Send ``set_props`` (component id -> props) and/or ``event`` (name, data) to
        the pages of exactly one of: a ``topic``'s subscribed tabs, or every tab of a
        ``user``'s, a ``session``'s, one ``connection``'s or ``everyone``'s sockets, on
        every worker. Returns how many sockets it was queued for (summed over the
        workers that answered in time). Encoded once; see ``cluster/topics.py``."""
        command = encode(select(topic=topic, user=user, session=session,
                                connection=connection, everyone=everyone), set_props, event)
        if tracing.tracer is not None:
            count = await tracing.push(command.selector, self.backplane.send(command))
        else:
            count = await self.backplane.send(command)
        events.observer.pushed()  # made: counted once it went out
        return count

    def push_sync(self, *, topic: str | None = None, user: str | None = None,
                  session: str | None = None, connection: str | None = None,
                  everyone: bool = False, set_props: SetProps | None = None,
                  event: tuple[str, Any] | None = None) -> int:
        """``push`` from a thread (a sync callback, a worker thread of the app): encoded
        in the calling thread, made on the app's loop, waited for up to
        ``PUSH_SYNC_SECONDS``. ``RuntimeError`` on the loop's own thread (await
        ``push``) or before the app serves."""
        command = encode(select(topic=topic, user=user, session=session,
                                connection=connection, everyone=everyone), set_props, event)
        loop = self._loop
        if loop is None or not loop.is_running():
            raise RuntimeError("push_sync: the app is not serving")
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("push_sync would block the event loop: await push()")
        if tracing.tracer is not None:
            return tracing.push_sync(command.selector,
                                     lambda: self._send_sync(command, loop))
        return self._send_sync(command, loop)

    def _send_sync(self, command: Push, loop: asyncio.AbstractEventLoop) -> int:
        future = asyncio.run_coroutine_threadsafe(self.backplane.send(command), loop)
        count = future.result(PUSH_SYNC_SECONDS)
        events.observer.pushed()  # made: counted once it went out
        return count

    # --- the public API ---------------------------------------------------------------------
    async def list(
        self, user: str | None = None, session: str | None = None, *, topic: str | None = None
    ) -> list[ConnectionInfo]:
        """Every open socket (cluster-wide with a shared backplane), optionally of one
        user, one session and/or subscribed to one topic (presence), oldest first."""
        infos = await self.backplane.list(Selector(user=user, session=session, topic=topic))
        return sorted(infos, key=lambda info: (info.opened_at, info.id))

    async def close(
        self,
        connection_id: str | None = None,
        *,
        session: str | None = None,
        user: str | None = None,
        topic: str | None = None,
        everyone: bool = False,
        reason: str | None = None,
        code: int = CloseCode.SESSION_ENDED,
    ) -> int:
        """Close sockets; returns how many were closed. Give exactly one of a
        connection id, ``session``, ``user``, ``topic`` (the sockets with a tab
        subscribed to it) or ``everyone=True``. Closing by session or
        user ends it as logout does: the cookie is revoked until it would have expired.

        The close reason says which of the two it was (``protocol.admin_reason``), with
        ``reason`` after it: the page tells "signed out" from "connection closed" by it,
        since both close with 4401, and only a signed-out tab goes to ``login_url``."""
        given = [connection_id is not None, session is not None, user is not None,
                 topic is not None, everyone]
        if sum(given) != 1:
            raise ValueError("close() takes exactly one of: a connection id, session=, "
                             "user=, topic=, everyone=True")
        if code not in {member.value for member in CloseCode} and not 3000 <= code <= 4999:
            raise ValueError(f"{code} is not a close code a server may send")
        ends_session = session is not None or user is not None
        text = admin_reason(SIGNED_OUT if ends_session else CONNECTION_CLOSED, reason)
        if session is not None:
            return await self._sessions.close(session, text, code)
        if user is not None:
            return await self._sessions.close_user(user, text, code)
        selector = Selector(connection=connection_id, topic=topic)
        return await self.backplane.send(Close(selector, code, text))

    # --- session checks ------------------------------------------------------------------
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
            await self._sessions.expired(session_id, user)


def fit_drain(drain_seconds: float, graceful: float | None) -> float:
    """The window a stop drains over: ``drain_seconds``, cut to what the server's
    graceful timeout (``graceful``; None: unknown, trust the setting) leaves after
    ``DRAIN_MARGIN``, and never below 0 (at once)."""
    if graceful is None:
        return drain_seconds
    return max(0.0, min(drain_seconds, graceful - DRAIN_MARGIN))


def _nothing() -> None:
    """What starts the sends of a command that has none."""


def _held_by(member: Member) -> tuple[str, str | None]:
    """What a socket counts against: its session, or without one its address."""
    session = member.session
    return ("s", session) if session is not None else ("a", member.remote_addr)


def _log_event(event: str, member: Member, **more: Any) -> None:
    """One structured line: ``event key=value ...``, the same fields in the record's
    ``quartdash`` attribute. The session is named by its id, as listings and the admin
    API name it, so an operator can match the two (an id is no credential: see
    ``auth/sessions.py``)."""
    fields = {
        "id": member.id,
        "user": member.user,
        "session": member.session,
        "origin": member.origin,
        "address": member.remote_addr,
        **more,
    }
    text = " ".join(f"{key}={'-' if value is None else printable(value)}"
                    for key, value in fields.items())
    log.info("%s %s", event, text,
             extra={"quartdash": {"event": event, "worker": THIS_WORKER, **fields}})


def _for_tabs(spliced: PushFrames, tabs: Collection[str]) -> list[Frame]:
    """A socket's frames of a push, for each of its ``tabs``, as its queue takes them."""
    if len(tabs) == 1:
        return spliced.for_tab(next(iter(tabs)))
    return [frame for tab in tabs for frame in spliced.for_tab(tab)]
