"""The WebSocket route: the handshake and admission of a socket; ``handler.py`` serves it.

The order matters for security: the origin is checked before the socket is accepted
(a refused page gets a plain HTTP 403 and no socket), Dash's ``websocket_connect``
hooks run next (their verdict is sent as a close code after accepting, so the page
learns why), then, with ``auth``, the session (no valid login: 4401), quartdash's
worker's hello (which may resume a parked connection), and the connection limits of
the session or the address (1013); only then does any callback run. Every client
mistake ends in a close code and one log line; no client can make the server log a
traceback or disturb another connection.

The route takes what it uses of the app (``services.SocketServices``), not the app.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import orjson
from quart import Response

from quartdash._compat import servers
from quartdash._compat.quart import current_websocket
from quartdash.cluster.registry import TOO_MANY_FROM_ADDRESS, Member
from quartdash.exceptions import ProtocolError
from quartdash.observe import events, tracing
from quartdash.transport import handler, protocol
from quartdash.transport.connection import Connection
from quartdash.transport.limits import TokenBucket, client_address, printable
from quartdash.transport.protocol import NOT_LOGGED_IN, CloseCode

if TYPE_CHECKING:
    from quartdash.auth.sessions import SessionToken
    from quartdash.transport.resume import Parking
    from quartdash.transport.services import SocketServices

log = logging.getLogger("quartdash")


def _clip(value: str | None, limit: int = 256) -> str | None:
    """A client-chosen header, bounded and printable before the registry keeps it and
    the log reports it."""
    return value if value is None else printable(value, limit)


def _refuse(reason: str) -> Response:
    body = orjson.dumps({"error": reason}).decode()
    return Response(body, status=403, content_type="application/json")


async def serve_socket(services: SocketServices) -> Response | None:
    """Handle one WebSocket from handshake to close: admit it, then ``handler.serve``."""
    ws = current_websocket()
    await services.register_callbacks()
    refusal = services.origin_policy.check(ws.scheme, ws.headers)
    if refusal is not None:
        log.warning(
            "quartdash: refused WebSocket handshake: %s (origin=%r, address=%s)",
            refusal,
            ws.headers.get("origin", "")[:200],
            ws.remote_addr,
        )
        events.observer.handshake_refused("origin")
        return _refuse(refusal)
    rejection = await services.run_ws_hooks("websocket_connect", ws)
    await ws.accept()
    if rejection is not None:
        events.observer.handshake_refused("auth")  # the app's own admission said no
        await handler.send_close_and_drain(ws, *rejection)
        return None
    user, token = None, None
    if services.sessions is not None:
        identity = await services.sessions.identify()
        if identity is None:
            log.info("quartdash: closing WebSocket with 4401: not logged in (address=%s)",
                     ws.remote_addr)
            events.observer.handshake_refused("auth")
            await handler.send_close_and_drain(ws, CloseCode.SESSION_ENDED, NOT_LOGGED_IN)
            return None
        user, token = identity

    # quartdash's worker asks for resumable connections, then says in its first frame
    # whether it resumes one; other clients (Dash's worker, scripts) get exactly Dash's
    # protocol.
    ours = ws.args.get("quartdash") == "1"
    parking = services.parking if ours else None
    connections = services.connections
    address = client_address(ws.remote_addr, ws.headers,
                             services.origin_policy.trust_proxy_headers)
    # Without a session, the address's socket limit holds from here: a socket waiting
    # for its hello is not admitted yet, but counts.
    if token is None and not connections.reserve(address):
        events.observer.handshake_refused("limit")
        await handler.send_close_and_drain(ws, CloseCode.TRY_AGAIN_LATER,
                                           TOO_MANY_FROM_ADDRESS)
        return None
    try:
        claimed = await _claim(parking, ws, token) if ours else None
    except ProtocolError as err:
        log.warning("quartdash: closing WebSocket with %d: %s (address=%s)",
                    err.code, err.reason, ws.remote_addr)
        await handler.send_close_and_drain(ws, err.code, err.reason)
        return None
    finally:
        if token is None:
            connections.release(address)
    resumed: int | None = None  # frames the page received, when it resumes
    if claimed is not None:
        conn, member, resumed = claimed
        member.remote_addr = address
    else:
        conn = Connection(
            ws.send,
            # quartdash's worker gets it once welcomed (``handler.serve``).
            write=None if ours else servers.direct_writer(ws),
            batch_delay=services.batch_delay(),
            max_pending=services.settings.max_pending_frames,
            max_pending_bytes=services.settings.max_pending_bytes,
        )
        member = Member(
            conn,
            TokenBucket(services.settings.rate_limit),
            user=user,
            token=token,
            origin=_clip(ws.headers.get("origin")),
            remote_addr=address,
            user_agent=_clip(ws.headers.get("user-agent")),
            ours=ours,
        )

    async def admit() -> tuple[int, str] | None:
        """Join the registry (a resumed connection is in it already): None, or the
        close that refuses the socket. A session revoked meanwhile is closed as the
        registry's sweep would close it."""
        refusal = None if resumed is not None else await connections.join(member)
        if refusal is not None:
            return CloseCode.TRY_AGAIN_LATER, refusal
        if token is not None and services.backplane.revocations.revoked(token):
            conn.abort(CloseCode.SESSION_ENDED, "session revoked")  # during the handshake
        return None

    if tracing.tracer is not None:  # what this socket's callbacks link to
        tracing.socket_opened(ws.headers)
    await handler.serve(services, ws, conn, member, ours=ours, resumed=resumed, admit=admit)
    return None


async def _claim(
    parking: Parking | None, ws: Any, token: SessionToken | None
) -> tuple[Connection, Member, int] | None:
    """Read quartdash's worker's first frame (``quartdash_hello``); the parked
    connection it resumes, if it names one it may have, else None (a fresh connection).

    The token comes in this frame and never from the URL, whose query string proxies
    and access logs record. No hello within ``HELLO_SECONDS``, or a malformed one,
    raises ``ProtocolError`` (1008): until it arrives the server cannot tell a resume
    from a fresh connection."""
    try:
        async with asyncio.timeout(protocol.HELLO_SECONDS):
            data = await ws.receive()
    except TimeoutError:
        raise ProtocolError(
            CloseCode.POLICY_VIOLATION,
            f"no quartdash_hello within {protocol.HELLO_SECONDS:g} s",
        ) from None
    hello = protocol.parse_hello(data)
    if parking is None or hello.resume is None:
        return None
    claimed = parking.claim(hello.resume, token.session_id if token else None, hello.received)
    return None if claimed is None else (*claimed, hello.received)
