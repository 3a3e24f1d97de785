"""One admitted socket, from its admission to its close: the welcome, the receive loop,
the callbacks it starts, and the teardown.

``route.serve_socket`` decides whether a socket may be served and with which
connection (a fresh one, or a parked one it resumes); ``serve`` runs it. A frame goes
socket -> ``protocol.parse_frame`` -> ``_receive_loop`` -> ``_start_callback`` ->
``callbacks.runner`` (and Dash) -> ``protocol.callback_response_*`` ->
``Connection.respond`` -> socket.

How a socket ends, and who sends its close:

* a frame breaks the rules (``ProtocolError``), a ``websocket_message`` hook rejects one,
  the page says goodbye, the backplane cannot be reached, or the registry refuses it:
  this handler sends the close;
* the server closes it from outside (``Connection.abort``: logout, admin, server stop,
  a peer that stopped reading): the handler's task is cancelled, and it sends the close
  that ``abort`` recorded;
* the peer went away without a close: the task is cancelled with nothing recorded; a
  resumable connection is parked for its page's resume (``resume.py``), any other is
  torn down and the cancellation goes on.

Every close goes through ``send_close`` (the ``quartdash_close`` notice, then the close
frame), whose reason goes through ``protocol.close_reason``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from quartdash._compat import servers
from quartdash.callbacks.encoding import encode_json
from quartdash.callbacks.runner import (
    LazyResponseAdapter,
    Prepared,
    error_page,
    execute,
    outcome,
    ws_context,
)
from quartdash.callbacks.socket import CallbackSocket
from quartdash.exceptions import BackplaneUnavailable, ClientError, HandoverRefused, ProtocolError
from quartdash.observe import events
from quartdash.transport import protocol
from quartdash.transport.connection import State
from quartdash.transport.handover import issue, split_framing, with_cookies
from quartdash.transport.limits import byte_bucket, printable
from quartdash.transport.protocol import CloseCode

if TYPE_CHECKING:
    from quartdash.cluster.registry import Member
    from quartdash.transport.connection import Connection
    from quartdash.transport.services import SocketServices

log = logging.getLogger("quartdash")

#: How long a closing socket keeps reading, waiting for the peer's close frame. Brief:
#: under hypercorn what arrives after the close is dropped before it reaches the app
#: (``_compat/hypercorn.py``), so this only waits for the peer's answer.
DRAIN_SECONDS = 1.0
#: A socket's refused requests that are logged, one line each; past this many, one
#: more line says the rest are not (a client repeating a mistake must not fill the log).
LOGGED_REFUSALS = 5
#: How long sending the close notice and frame may take.
CLOSE_SECONDS = 2.0


async def serve(
    services: SocketServices,
    ws: Any,
    conn: Connection,
    member: Member,
    *,
    ours: bool,
    resumed: int | None,
    admit: Callable[[], Awaitable[tuple[int, str] | None]],
) -> None:
    """Serve one socket until it closes. ``admit`` (the route's) joins it to the
    registry: None, or the close that refuses it. ``ours``: the client is quartdash's
    worker (it gets a welcome, may resume, its page takes handovers). ``resumed``: the
    count of frames the page received, when ``conn`` is a parked connection it resumes.

    The server may cancel this task more than once (a client gone, a server stopping),
    so what must happen at the end (the registry forgets the socket, its callbacks
    learn it is closing) happens before any await of the teardown."""
    parking = services.parking if ours else None
    close: tuple[int, str] | None = None
    resume_token: str | None = None
    park = False
    admitted = False
    try:
        close = await admit()
        if close is not None:
            events.observer.handshake_refused("limit")
        else:
            admitted = True
            if ours:  # with resume off, a welcome without a token: the worker waits for it
                if parking is not None:
                    conn.enable_resume()
                    resume_token = parking.new_token()
                grace = parking.grace if parking is not None else 0.0
                await ws.send(protocol.welcome(conn.id, resume_token, grace, resumed is not None))
                # Unless the server closed it meanwhile (a session revoked while the
                # welcome went out): then this task's cancellation is on its way.
                if resumed is not None and conn.state is State.PARKED:
                    conn.resume(ws.send, resumed, servers.direct_writer(ws))
                elif resumed is None:
                    # Only now: a push written straight to the socket before the welcome
                    # would be counted by the page and then forgotten at the welcome,
                    # one frame off for a resume.
                    conn.attach_writer(servers.direct_writer(ws))
            close = await _receive_loop(services, ws, conn, member, ours)
    except BackplaneUnavailable as err:
        if not admitted:
            events.observer.handshake_refused("cluster")
        log.warning("quartdash: closing WebSocket with 1013: %s (address=%s)", err,
                    ws.remote_addr)
        close = (CloseCode.TRY_AGAIN_LATER, "cluster unavailable, try again later")
    except ProtocolError as err:
        log.warning(
            "quartdash: closing WebSocket with %d: %s (address=%s)",
            err.code,
            err.reason,
            ws.remote_addr,
        )
        close = (int(err.code), err.reason)
    except Exception:  # a bug of the server's: the page is told (1011), and reconnects
        log.exception("quartdash: closing WebSocket %s with 1011: the server failed", conn.id)
        close = (CloseCode.INTERNAL_ERROR, "internal error")
    except asyncio.CancelledError:
        if conn.abort_reason is not None:  # the server closed it from outside
            close = (int(conn.abort_reason[0]), conn.abort_reason[1])
        elif (resume_token is not None and conn.resumable
              and not services.connections.stopping):
            park = True  # dropped, not closed: kept for the worker's resume
        else:
            raise  # the client went away or the server is stopping
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
    finally:
        if park:
            assert parking is not None and resume_token is not None
            parking.park(resume_token, conn, member)
        else:
            # Callbacks and the registry first, then the page (the close frame goes out
            # before waiting for callbacks to finish). Nothing that must happen waits
            # behind an await: a second cancellation may end this handler at any one.
            services.connections.retire(member, close[0] if close else None)
            if close is not None:
                await send_close(ws, *close)
            await asyncio.shield(conn.finish())
    if not park:
        await drain(ws)


async def _receive_loop(
    services: SocketServices, ws: Any, conn: Connection, member: Member, ours: bool
) -> tuple[int, str]:
    """Read and act on frames until a ``websocket_message`` hook rejects one (returns
    its close), a frame breaks the rules (``ProtocolError``), or the task is cancelled.
    ``ours``: the client is quartdash's worker, whose page takes handovers."""
    user, token = member.user_object, member.token
    facts: dict[str, Any] = {
        "cookies": dict(ws.cookies),
        "headers": dict(ws.headers),
        "args": ws.args,
        "path": ws.full_path,
        "remote": ws.remote_addr,
        "origin": ws.headers.get("origin"),
        "quartdash_user": user,
        "quartdash_session_id": token.session_id if token is not None else None,
    }
    caller = _Caller(services, conn, member, facts, ours)
    settings = services.settings
    bucket = member.inbound
    byte_budget = byte_bucket(settings.byte_rate_limit, settings.max_message_bytes)
    message_hooks = services.has_ws_hooks("websocket_message")
    while True:
        data = await ws.receive()
        events.observer.received(data)
        if not bucket.take():
            raise ProtocolError(CloseCode.RATE_LIMITED, "rate limit exceeded")
        if not byte_budget.take(len(data)):
            raise ProtocolError(CloseCode.RATE_LIMITED, "byte rate limit exceeded")
        message = protocol.parse_frame(data, settings.max_message_bytes)
        if message_hooks:
            rejection = await services.run_ws_hooks(
                "websocket_message", ws, orjson.loads(data))
            if rejection is not None:
                return rejection
        if isinstance(message, protocol.CallbackRequest):
            _start_callback(services, conn, message, caller)
        elif isinstance(message, protocol.GetPropsResponse):
            conn.resolve_prop(message.request_id, message.payload)
        elif isinstance(message, protocol.Ack):
            conn.acknowledge(message.received)
        elif isinstance(message, protocol.Bye):
            return CloseCode.NORMAL, "goodbye"
        elif isinstance(message, protocol.Leave):
            caller.tab_left(message.renderer_id)
        else:
            conn.send_frame(protocol.HEARTBEAT_ACK)


# --- closing ------------------------------------------------------------------------------
async def send_close_and_drain(ws: Any, code: int, reason: str) -> None:
    """Send the close frame, then read and discard until the peer's close arrives.

    A client that flooded the socket still has frames in flight ahead of its close
    reply; hypercorn hands frames to the app through a small queue, so if the app
    stopped reading, hypercorn stops too and never sees the reply: both ends would
    wait for each other. Draining (bounded by ``DRAIN_SECONDS``) completes the handshake.
    Quart cancels this task when the peer's close arrives, which ends the drain.
    """
    await send_close(ws, code, reason)
    await drain(ws)


async def send_close(ws: Any, code: int, reason: str) -> None:
    """The close frame, announced by a ``quartdash_close`` message just before it: a
    proxy or a dropped connection can lose the close frame's code, the message stays.
    The reason, whoever chose it (quartdash, an administrator, a Dash hook of the app),
    goes through ``protocol.close_reason``. Bounded in time: a peer that stopped
    reading cannot take the notice (the send waits for room that never comes), and
    must not hold the handler."""
    reason = protocol.close_reason(reason)
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_SECONDS):
            await ws.send(protocol.close_notice(code, reason))
            await ws.close(code, reason)


async def drain(ws: Any) -> None:
    """Read and discard, for at most ``DRAIN_SECONDS``, until the peer's close."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_SECONDS):
            while True:
                await ws.receive()


# --- callbacks ------------------------------------------------------------------------------
class _Caller:
    """What the callbacks of one socket share: whose threads they use, what Dash's
    debug mode lets the page see, how many of the socket's mistakes were logged, and
    where the cookies and headers its callbacks set wait for the page (``handover.py``).
    One per socket; what must outlive a resume (the callbacks each tab runs) is on the
    ``Connection``."""

    __slots__ = ("backplane", "binding", "clients", "conn", "debug", "facts",
                 "handovers", "member", "ours", "pool", "refusals", "topics",
                 "unhanded")

    def __init__(self, services: SocketServices, conn: Connection, member: Member,
                 facts: dict[str, Any], ours: bool = False) -> None:
        self.pool = services.pool
        self.handovers = services.handovers
        #: Where the handovers wait for any worker to redeem them, if it can keep them.
        self.backplane = services.backplane
        self.ours = ours
        #: A handover of this socket is redeemed only in its session (with ``auth``).
        self.binding: str | None = member.token.session_id if member.token else None
        #: Set once a callback's headers could not be handed over (logged once).
        self.unhanded = False
        self.debug = services.debug_mode()
        self.facts = facts
        self.conn = conn
        self.member = member
        #: This socket's subscriptions: ``ctx.websocket.subscribe`` of its callbacks, and
        #: the end of a tab's when it leaves.
        self.topics = services.connections.topics_for(member)
        # A sync callback counts against this socket and its session (without auth,
        # its address): opening more sockets buys no more threads.
        owner = f"s:{member.session}" if member.session else f"a:{member.remote_addr}"
        self.clients = (f"c:{conn.id}", owner)
        self.refusals = 0

    def tab_left(self, renderer_id: str) -> None:
        """quartdash's worker says a tab left while the socket stays for others: its
        subscriptions end, and its callbacks (a persistent one streaming into a page
        that is gone) are cancelled."""
        self.topics.drop_tab(renderer_id)
        self.conn.cancel_tab(renderer_id)

    def quiet(self) -> bool:
        """Count one refused request; True once it is past ``LOGGED_REFUSALS``."""
        self.refusals += 1
        if self.refusals == LOGGED_REFUSALS + 1:
            log.warning("quartdash: socket %s keeps sending refused requests; no more "
                        "are logged", self.conn.id)
        return self.refusals > LOGGED_REFUSALS

    async def hand_over(self, output: str,
                        headers: list[tuple[str, str]]) -> tuple[str | None, str | None]:
        """Keep what a callback set on ``ctx.response`` for its page: the token that
        redeems it (None if nothing can be handed over), and what could not be, if
        anything (logged once per socket; the caller shows it in debug mode)."""
        kept, framing = split_framing(headers)
        problem = None
        token = None
        if framing:
            problem = (f"{', '.join(sorted(set(framing)))} describe the callback's own HTTP "
                       "response and cannot be set over the WebSocket")
        try:
            if kept and not self.ours:
                raise HandoverRefused("this client has no quartdash page script to take them")
            if kept:
                token = await issue(self.handovers, self.backplane, self.conn.id,
                                    self.binding, kept)
                # The socket's next callbacks see the cookies as the next HTTP request
                # would. A new dict: callbacks running in threads keep the one they got.
                self.facts["cookies"] = with_cookies(self.facts["cookies"], kept)
        except HandoverRefused as exc:
            problem = f"{'; '.join(p for p in (problem, str(exc)) if p)}"
        if problem is not None and not self.unhanded:
            self.unhanded = True
            log.warning("quartdash: callback %s set response headers that do not reach the "
                        "browser (socket %s; this line is logged once per socket): %s",
                        printable(output), self.conn.id, problem)
        return token, problem


def _start_callback(
    services: SocketServices,
    conn: Connection,
    request: protocol.CallbackRequest,
    caller: _Caller,
) -> None:
    """Bind the request to its callback and start it; refusals answer at once."""
    renderer, request_id = request.renderer_id, request.request_id
    try:
        if (renderer, request_id) in conn.running:
            raise ClientError(f"request id {request_id[:40]!r} is already running")
        if len(conn.running) >= services.settings.max_callbacks_in_flight:
            raise ClientError("too many callbacks in flight on this connection")
        # The handshake's cookies and headers ride along, as Dash has them over HTTP.
        g = ws_context(request.payload, CallbackSocket(conn, renderer, caller.topics),
                       caller.facts)
        prepared = services.prepare(g, request.payload)
        tab_key = (renderer, prepared.output)
        if prepared.persistent and tab_key in conn.persistent:
            raise ClientError(
                f"persistent callback {prepared.output[:200]!r} already runs in this tab"
            )
    except ClientError as exc:
        status, text = outcome(request.output, exc, quiet=caller.quiet())
        conn.send_frame(protocol.callback_response_status(renderer, request_id, status, text))
        return

    if prepared.persistent:
        conn.persistent.add(tab_key)
    caller.member.saw_tab(renderer)
    conn.running[renderer, request_id] = conn.loop.create_task(
        _run_callback(conn, prepared, caller, renderer, request_id, g.dash_response)
    )


async def _run_callback(
    conn: Connection,
    prepared: Prepared,
    caller: _Caller,
    renderer: str,
    request_id: str,
    response: Any = None,
) -> None:
    """One callback's task: run it, then send its response (or its error), with a
    handover for what it set on ``ctx.response`` (``response``)."""
    try:
        data = await execute(prepared, caller.pool, caller.clients, "websocket")
        changes = response.changes() if isinstance(response, LazyResponseAdapter) else []
        token, problem = (await caller.hand_over(prepared.output, changes) if changes
                          else (None, None))
        if problem is not None and caller.debug:
            frame = protocol.callback_response_status(
                renderer, request_id, "error", f"ctx.response over the WebSocket: {problem}")
        else:
            frame = protocol.callback_response_ok(
                renderer, request_id, data if isinstance(data, str) else encode_json(data),
                token)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # pylint: disable=broad-exception-caught
        status, text = outcome(prepared.output, exc, debug=caller.debug)
        frame = protocol.callback_response_status(
            renderer, request_id, status, text, error_page(exc, caller.debug))
    finally:
        conn.running.pop((renderer, request_id), None)
        if prepared.persistent:
            conn.persistent.discard((renderer, prepared.output))
    await conn.respond(frame)
