"""One WebSocket connection: its state, its outbound queue and sender, its replay
buffer, pending get_prop requests, and the callbacks running on its behalf.

Callbacks run in two places: async ones as tasks on the connection's loop, sync ones in
a thread pool. Everything a callback does to the connection (``set_props``,
``get_prop``, the final response) therefore goes through methods that are safe from any
thread: work from a thread is handed to the loop with ``call_soon_threadsafe``, which
keeps it in order with the callback's own response.

The connection's life is one ``State``, changed in one method (``_enter``)::

    OPEN ──park──> PARKED ──resume──> OPEN
      │              │
      └────stop──────┴──> CLOSING ──finish──> CLOSED

* ``OPEN``: a socket is attached; frames go out as they come.
* ``PARKED``: the socket dropped (or a send to it failed) and the connection is kept for
  a resume (``resume.py``): callbacks keep running, frames keep queueing, nothing is sent.
* ``CLOSING``: the teardown has begun; ``is_shutdown`` is true, nothing more is queued.
* ``CLOSED``: the teardown is over: callbacks ended (or were given up on) and the
  sender is gone.

A step the state does not allow raises ``InvalidState`` naming the state it expected and
the one it found. Whether the connection keeps frames for a resume (``enable_resume``)
is not a state but a mode, chosen once at the welcome.

Tearing down has one verb per meaning, here and in the socket's handler:

* ``abort(code, reason)``: the server decides to close the socket from outside its
  handler (logout, admin, server stop, a peer that stopped reading; any thread): the
  close is recorded (``abort_reason``), the connection is stopped, and the task that
  answers for it (its handler, or its parking's wait) is cancelled, which sends the close.
* ``stop()``: begin the teardown at once, synchronously (CLOSING): ``is_shutdown`` turns
  true, pending ``get_prop`` calls fail, every running callback is cancelled.
* ``finish()``: stop, then wait (bounded) for the callbacks and the sender (CLOSED).
* ``park(owner)`` / ``resume(send, received)``: the socket is gone but the connection
  is kept / a new socket takes it over.
* ``handler.send_close`` / ``handler.drain``: the close notice and frame to the peer /
  reading until the peer's close arrives. Only these send a close, and every reason
  they send goes through ``protocol.close_reason``.

The registry (``cluster/registry.py``) has its own two: ``retire`` (``stop``, then
``leave``) and ``leave`` (forget the socket, tell the backplane and the signals).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import itertools
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from dash.exceptions import WebsocketDisconnected

from quartdash.config import DEFAULTS
from quartdash.exceptions import InvalidState
from quartdash.observe import events
from quartdash.transport import protocol
from quartdash.transport.direct import DirectWriter
from quartdash.transport.outbound import DEFAULT_MAX_BATCH_BYTES, Outbound
from quartdash.transport.replay import DEFAULT_REPLAY_BYTES, ReplayBuffer

log = logging.getLogger("quartdash")


class State(enum.IntEnum):
    """Where a connection is in its life (see the module's docstring)."""

    OPEN = 1
    PARKED = 2
    CLOSING = 3
    CLOSED = 4


OPEN, PARKED, CLOSING, CLOSED = State.OPEN, State.PARKED, State.CLOSING, State.CLOSED


class Connection:
    """The server's side of one socket, independent of Quart so it can be tested alone.

    Outbound frames wait in an ``Outbound`` queue (``outbound.py``). While the socket
    keeps up they are all sent, in order; while it is behind (a send is blocked on the
    peer, the connection is parked, or half a limit is queued), a ``set_props`` to the
    same properties of the same component replaces the queued one, so the queue stays
    bounded by the number of distinct properties. Past ``max_pending`` frames or
    ``max_pending_bytes`` bytes waiting, the socket is closed (1013).

    The sender is a task only while there is something to send: an idle socket costs no
    task, and a callback's response on an idle socket is sent by the callback's own task
    (``respond``) without a hop through the sender.
    """

    __slots__ = (
        "_batch_delay", "_flush", "_held", "_ids", "_loop_thread", "_outbound", "_owner", "_replay",
        "_replay_limit", "_room", "_send", "_sender", "_write", "abort_reason", "id", "loop",
        "pending_props", "persistent", "running", "state",
    )

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        batch_delay: float = 0.005,
        max_pending: int = DEFAULTS.max_pending_frames,
        max_pending_bytes: int = DEFAULTS.max_pending_bytes,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        replay_bytes: int = DEFAULT_REPLAY_BYTES,
        write: DirectWriter | None = None,
    ) -> None:
        #: Where the connection is in its life; changed only by ``_enter``.
        self.state = OPEN
        #: The attached socket's send. None once the socket is gone (PARKED); a socket
        #: still attached while CLOSING gets what the sender has in hand.
        self._send: Callable[[str], Awaitable[None]] | None = send
        #: The attached socket's direct write, where the server has one (``direct.py``):
        #: what a push takes when nothing else waits for the socket.
        self._write = write
        #: A push's place is held (``hold``): nothing is sent until it is filled.
        self._held = False
        #: Names this socket in the registry and the admin API.
        self.id = secrets.token_hex(8)
        self._batch_delay = batch_delay
        self._outbound = Outbound(max_pending, max_pending_bytes, max_batch_bytes)
        #: The loop this socket lives on; threads hand their work to it.
        self.loop = asyncio.get_running_loop()
        #: The task answering for this connection; ``abort`` cancels it to close.
        self._owner = asyncio.current_task()
        #: Why the server closes this socket, once it has decided to (``abort``).
        self.abort_reason: tuple[int, str] | None = None
        self._loop_thread = threading.get_ident()
        #: get_prop request ids.
        self._ids = itertools.count(1)
        self._sender: asyncio.Task[None] | None = None
        #: The batching delay's wait; an urgent frame or ``stop`` ends it.
        self._flush: asyncio.Future[None] | None = None
        #: Set when the queue has room again; made on first need (see ``room``).
        self._room: asyncio.Event | None = None
        self._replay_limit = replay_bytes
        #: Sent frames until acknowledged; None unless resume is on (``enable_resume``).
        self._replay: ReplayBuffer | None = None
        #: get_prop requests awaiting the page's answer, by request id.
        self.pending_props: dict[str, concurrent.futures.Future[Any]] = {}
        #: callbacks in flight, by (renderer id, request id): a request id is its tab's,
        #: and a tab that leaves takes its callbacks along (``cancel_tab``). A sync
        #: one's task awaits its thread. Kept here, as all of this, across a resume.
        self.running: dict[tuple[str, str], asyncio.Task[None]] = {}
        #: (renderer id, callback id) of the persistent callbacks running, one per tab.
        self.persistent: set[tuple[str, str]] = set()

    # --- state ------------------------------------------------------------------------
    def _enter(self, state: State, *expected: State) -> None:
        """The one way the state changes: to ``state``, from one of ``expected``."""
        if self.state not in expected:
            raise InvalidState(
                f"connection is {self.state.name.lower()}, not "
                f"{' or '.join(s.name.lower() for s in expected)}: it cannot become "
                f"{state.name.lower()}"
            )
        self.state = state

    @property
    def is_shutdown(self) -> bool:
        """True once the connection is closing; long-running callbacks should stop.
        (Read from callbacks' threads too: one attribute, set on the loop.)"""
        return self.state >= CLOSING

    @property
    def resumable(self) -> bool:
        """Resume is on and the connection is not closing."""
        return self._replay is not None and self.state < CLOSING

    @property
    def owner(self) -> asyncio.Task[Any] | None:
        """The task that answers for the connection now (its socket's handler, or the
        wait for a resume): what a stopping server waits for."""
        return self._owner

    @property
    def sent(self) -> int:
        """Frames sent so far on a resumable connection (0 with resume off)."""
        return self._replay.sent if self._replay is not None else 0

    def on_loop_thread(self) -> bool:
        """True when called from the thread running this connection's event loop."""
        return threading.get_ident() == self._loop_thread

    # --- outbound ---------------------------------------------------------------------
    def send_frame(self, frame: str, urgent: bool = True, key: Hashable | None = None) -> None:
        """Queue a frame from any thread. ``urgent`` frames end the batching delay;
        a ``key`` lets a later frame with the same key replace this one while behind."""
        if self.on_loop_thread():
            self._enqueue(frame, urgent, key)
        elif self.state < CLOSING:
            self.loop.call_soon_threadsafe(self._enqueue, frame, urgent, key)

    def send_frames(self, items: Sequence[tuple[str, Hashable | None]],
                    start: bool = True) -> bool:
        """Queue several urgent frames (one push's, with their keys) together, on the
        loop: all or none (``Outbound.push_all``). True if they were queued; False if
        the connection is closing, or they overflowed the queue (then it closes).
        ``start=False``: the send begins at ``start_sending``, not at once."""
        return self._admit(self._outbound.push_all, items, start)

    def start_sending(self) -> None:
        """Send what is queued, if nothing is sending it already (see ``send_frames``)."""
        self._kick()

    def attach_writer(self, write: DirectWriter | None) -> None:
        """Give the open socket its direct write (``direct.py``), from now on."""
        if self.state is OPEN:
            self._write = write

    @property
    def held(self) -> bool:
        """A push holds this socket's next send (``hold``)."""
        return self._held

    def hold(self) -> bool:
        """Hold this socket's next send for a push that is to be written straight to
        it (``direct.py``) once the cluster was told of it (``write_held``): True if
        that may be tried, as far as this side knows (the server gave a direct write,
        the socket is open, nothing of its own queued or in flight). Meanwhile every
        frame queues behind the held place, so the push keeps its order among them."""
        if (self._write is None or self.state is not OPEN or self._sender is not None
                or self._held or self._outbound or self._outbound.busy):
            return False
        self._held = True
        return True

    def write_held(self, frame: bytes, message: bytes, text: str | None = None) -> bool:
        """Fill the place ``hold`` kept with ``frame`` (``message`` as one whole
        WebSocket frame), written straight to the socket, if the server says it is safe
        and the peer is reading; then send what waited behind it. False, and the place
        still held, otherwise: the caller queues the push (``queue_held``). ``text`` is
        ``message`` decoded when the caller has it (the replay buffer keeps text)."""
        write = self._write
        if (self.state is not OPEN or write is None or self._sender is not None
                or self._outbound.busy or len(message) > self._outbound.max_batch_bytes
                or not write.try_write(frame)):
            return False
        self._held = False
        if self._replay is not None:
            self._replay.record(message.decode() if text is None else text)
        events.observer.sent_size(len(message))
        self._kick()
        return True

    def queue_held(self, items: Sequence[tuple[str, Hashable | None]]) -> bool:
        """Fill the place ``hold`` kept with a push's frames (``send_frames``'s
        ``items``), queued ahead of what waited behind it, and send. True if queued;
        False if the connection is closing, or they overflowed the queue (it closes)."""
        self._held = False
        return self._admit(self._outbound.push_ahead, items, True)

    def _admit(self, put: Callable[[list[tuple[str, Hashable | None]]], bool],
               items: Sequence[tuple[str, Hashable | None]], start: bool) -> bool:
        """A push's frames into the queue by ``put`` (keyed only while behind), all or
        none; past a budget the socket closes (1013)."""
        if self.state >= CLOSING:
            return False
        behind = self.behind()
        if not put([(frame, key if behind else None) for frame, key in items]):
            self._overflowed()
            return False
        self._queued(True, start)
        return True

    async def respond(self, frame: str) -> None:
        """Send a frame now from a task on the loop (a callback's response): straight to
        the socket when nothing is queued or in flight, else behind what is."""
        if self._outbound or self._outbound.busy or self.state is not OPEN or self._held:
            self._enqueue(frame, True, None)
        else:
            await self._transmit(frame)
            self._kick()

    def behind(self) -> bool:
        """The page is not keeping up (``Outbound.behind``), or the connection is
        parked. set_props coalesce from here on."""
        return self.state is PARKED or self._outbound.behind()

    def crowded(self) -> bool:
        """The queue is past half its limits: a sender that can wait should."""
        return self._outbound.crowded()

    async def room(self) -> None:
        """Wait (on the loop) until the queue is below half its limit or the connection
        is closing. A callback that sends in a tight loop then goes at the page's pace
        instead of filling the queue until the socket is closed as not reading."""
        while self._outbound.crowded() and self.state < CLOSING:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()

    def stalled_for(self, now: float) -> float:
        """How long the send in flight has been blocked (``time.monotonic`` seconds)."""
        return self._outbound.stalled_for(now)

    def _enqueue(self, frame: str, urgent: bool, key: Hashable | None) -> None:
        """Queue one frame (a set_props, an event, a response: every frame but a push's),
        on the loop."""
        if self.state >= CLOSING:
            return
        if self._outbound.push(frame, key if key is not None and self.behind() else None,
                               urgent):
            self._queued(urgent, start=True)
        else:
            self._overflowed()

    def _queued(self, urgent: bool, start: bool) -> None:
        if urgent and self._flush is not None and not self._flush.done():
            self._flush.set_result(None)
        if start:
            self._kick()

    def _overflowed(self) -> None:
        """What waits is past a budget: the page is not reading. Close it (1013)."""
        if self.abort(protocol.CloseCode.TRY_AGAIN_LATER, "client is not reading"):
            log.warning("quartdash: closing WebSocket %s with 1013: client is not reading "
                        "(%d frames, %d bytes waiting)", self.id, len(self._outbound),
                        self._outbound.size)

    def _kick(self) -> None:
        """Start the sender if frames wait and nothing else is sending (or holds the
        next send: ``hold``)."""
        if (
            self._sender is None and self._outbound and not self._outbound.busy
            and self.state is OPEN and not self._held
        ):
            self._sender = self.loop.create_task(self._run_sender())

    async def _run_sender(self, replay: list[str] | None = None) -> None:
        """Send what is queued; set_props wait up to ``batch_delay`` to share a frame.
        After a resume, first the frames the page missed (``replay``), as they were."""
        outbound = self._outbound
        try:
            for frame in replay or ():
                await self._transmit(frame, renumber=False)
            # A push's held place (``hold``) goes first: what queued behind it waits.
            while outbound and self.state is OPEN and not self._held:
                if self._batch_delay and not outbound.urgent:
                    self._flush = self.loop.create_future()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._batch_delay):
                            await self._flush
                    self._flush = None
                # Stopped meanwhile: a socket still attached gets what is queued, once.
                if outbound.busy or self._send is None:
                    break
                frames = outbound.take_batch()
                if self._room is not None:
                    self._room.set()
                await self._transmit(protocol.batch(frames))
        finally:
            self._sender = None
        self._kick()

    async def _transmit(self, text: str, renumber: bool = True) -> None:
        """Send one frame to the attached socket, numbered and kept for a resume when
        that is on."""
        send = self._send
        if send is None:
            return
        if renumber and self._replay is not None:
            self._replay.record(text)
        self._outbound.sending(time.monotonic())
        events.observer.sent(text)
        try:
            await send(text)
        except Exception:  # pylint: disable=broad-exception-caught
            # The peer went away. A resumable connection waits for its resume (the
            # frame is in the replay buffer); any other is done.
            if self._replay is None:
                if self.state is OPEN:
                    self._enter(CLOSING, OPEN)
            elif self._send is send:
                self._send = None  # stop sending into a dead socket until the resume
                self._write = None
                if self.state is OPEN:
                    self._enter(PARKED, OPEN)
        finally:
            # Unless a resume has since put a new socket in its place (with its own send
            # in flight), this send is over.
            if self._send is send or self._send is None:
                self._outbound.sent()

    # --- resume -----------------------------------------------------------------------
    def enable_resume(self) -> None:
        """Keep sent frames until acknowledged, so this connection can be resumed."""
        if self._replay is None:
            self._replay = ReplayBuffer(self._replay_limit)

    def acknowledge(self, received: int) -> None:
        """The page has every frame up to ``received``: forget them."""
        if self._replay is not None:
            self._replay.acknowledge(received)

    def park(self, owner: asyncio.Task[Any] | None) -> None:
        """The socket is gone (PARKED): stop sending, keep everything else running.
        ``owner`` is the task that answers for the connection now (``abort`` cancels
        it): the one waiting for a resume, then the handler of the socket that claims
        it (parked already: only the owner changes)."""
        self._enter(PARKED, OPEN, PARKED)
        self._send = None
        self._write = None
        self._owner = owner
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None
        self._outbound.sent()

    def can_resume(self, received: int) -> bool:
        """A page that has every frame up to ``received`` can be given the rest: they
        are still kept (and it does not claim frames never sent)."""
        return self.resumable and self._replay is not None and self._replay.covers(received)

    def resume(self, send: Callable[[str], Awaitable[None]], received: int,
               write: DirectWriter | None = None) -> None:
        """Attach a new socket (PARKED to OPEN) whose page has every frame up to
        ``received`` (checked with ``can_resume``): it gets the frames it missed, then
        what was queued. ``write``: the new socket's direct write, if any."""
        replay = self._replay
        assert replay is not None
        self._enter(OPEN, PARKED)
        replay.acknowledge(received)
        self._send = send
        self._write = write
        self._sender = self.loop.create_task(self._run_sender(replay.unacknowledged()))

    # --- get_prop ---------------------------------------------------------------------
    def request_prop(
        self, renderer_id: str, component_id: str, prop: str
    ) -> concurrent.futures.Future[Any]:
        """Ask the page for a property; the future resolves with ``{prop: value}``."""
        if self.state >= CLOSING:
            raise WebsocketDisconnected()
        request_id = f"p{next(self._ids)}"
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.pending_props[request_id] = future
        future.add_done_callback(lambda _f: self.pending_props.pop(request_id, None))
        self.send_frame(
            protocol.get_props_request(renderer_id, request_id, component_id, [prop])
        )
        return future

    def resolve_prop(self, request_id: str, payload: dict[str, Any] | None) -> None:
        """The page answered; an unknown or late answer is ignored."""
        future = self.pending_props.get(request_id)
        if future is not None and not future.done():
            # A thread's get_prop_sync may cancel it at its timeout meanwhile.
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_result(payload or {})

    # --- teardown ---------------------------------------------------------------------
    def abort(self, code: int, reason: str) -> bool:
        """The server closes this connection from outside its handler (from any
        thread). True if this call decided the close (from the loop), or handed it to
        the loop; False once the connection is closing."""
        if not self.on_loop_thread():
            self.loop.call_soon_threadsafe(self.abort, code, reason)
            return True
        if self.state >= CLOSING:
            return False
        self.abort_reason = (code, protocol.close_reason(reason))
        self.stop()  # is_shutdown turns true before anything is cancelled
        if self._owner is not None:
            self._owner.cancel()
        return True

    def cancel_tab(self, renderer_id: str) -> None:
        """A tab left: cancel its callbacks (a persistent one would stream into a page
        that is gone)."""
        for (tab, _), task in list(self.running.items()):
            if tab == renderer_id:
                task.cancel()

    def stop(self) -> None:
        """Begin the teardown at once (CLOSING): ``is_shutdown`` turns true first, so
        loops in callbacks can end by themselves; pending ``get_prop`` calls fail and
        every running callback is cancelled. Idempotent."""
        if self.state < CLOSING:
            self._enter(CLOSING, OPEN, PARKED)
        if self._room is not None:
            self._room.set()
        if self._flush is not None and not self._flush.done():
            self._flush.set_result(None)
        for future in list(self.pending_props.values()):
            if not future.done():
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    future.set_exception(WebsocketDisconnected())
        for task in list(self.running.values()):
            task.cancel()

    async def finish(self, grace: float = 2.0) -> None:
        """Stop everything for this connection and wait for it (CLOSED): callbacks
        (bounded by ``grace``), pending requests, the sender. Cancelling a sync
        callback's task cancels its thread-pool job if it has not started; a running
        thread cannot be stopped, and its output is dropped."""
        self.stop()
        tasks = list(self.running.values())
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        sender = self._sender
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        if self.state is CLOSING:
            self._enter(CLOSED, CLOSING)
