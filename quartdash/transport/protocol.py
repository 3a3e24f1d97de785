"""The wire protocol, sans I/O: parse inbound frames, build outbound ones, close codes.

Nothing here touches a socket, a loop or Dash's callback map, so every rule about what
a client may send can be tested exhaustively and cheaply. The message shapes are the
ones Dash's renderer and SharedWorker speak (dash-renderer 4.4): the worker sends
``callback_request``, ``get_props_response`` and ``heartbeat``; the server answers with
``callback_response``, ``set_props``, ``get_props_request`` and ``heartbeat_ack``, and may
wrap several of them in one JSON array frame.

quartdash adds messages of its own (version ``PROTOCOL_VERSION``, in the ``v`` field),
which Dash's worker logs as unknown and ignores, so a page served Dash's worker still
works: ``quartdash_event`` (the event channel, ``ctx.websocket.emit``) and
``quartdash_close`` (the close code and reason, sent just before the close frame, so the
browser knows why even when a proxy or a broken connection loses the close frame).
quartdash's own worker, which connects with ``?quartdash=1``, sends ``quartdash_hello``
as its first frame (the resume token it holds, if any, and how many frames it received),
then gets ``quartdash_welcome`` (its new resume token, see ``resume.py``), and later sends
``quartdash_ack`` (how many frames it has received) and ``quartdash_bye`` (it is closing
on purpose: nothing to resume). The token rides in that first frame, never in the URL:
proxies and access logs record URLs, and a logged token would let whoever reads the log
take over the connection within its grace window (given the session cookie too).

One close code, 4401, says "no reconnect" for every socket that must stay closed; the
reason says whether the login still holds, and quartdash's page script words its notice
and decides on the login page by it (``renderer_patch/src/policy.js``, ``closeNotice``):
``CONNECTION_CLOSED`` (an administrator closed the socket, the session lives on: no trip
to the login page), ``SIGNED_OUT`` (an administrator ended the session), and the
handshake's ``"not logged in"``; any other 4401 reads as signed out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Union

import orjson

from quartdash.exceptions import ProtocolError
from quartdash.transport.limits import printable

#: Version of quartdash's additions to Dash's protocol; Dash's worker ignores them.
PROTOCOL_VERSION = 1
#: How long the server waits for the first frame (``quartdash_hello``) of a socket
#: opened with ``?quartdash=1`` before closing it with 1008: the worker sends it as
#: soon as the socket opens, so only a broken or hostile client takes this long.
HELLO_SECONDS = 10.0
#: Bounds of ``quartdash_hello``: the whole frame, and the resume token in it (the
#: server's tokens are 24 characters).
MAX_HELLO_BYTES = 1024
MAX_RESUME_TOKEN = 64


#: The reason of a close by an administrator that leaves the session valid (one
#: connection, or everyone's): the page says so and stays, a reload signs in again.
CONNECTION_CLOSED = "connection closed by an administrator"
#: The reason of a close by an administrator that ended (and revoked) the session.
SIGNED_OUT = "signed out by an administrator"
#: The reason of the 4401 a handshake without a valid login gets: the page asks the
#: visitor to sign in (it was never signed out).
NOT_LOGGED_IN = "not logged in"


def admin_reason(kind: str, text: str | None) -> str:
    """The close reason of an administrator's close: ``kind`` (``CONNECTION_CLOSED`` or
    ``SIGNED_OUT``), then the administrator's own words, if any, after ``": "``. The
    kind comes first so the browser can tell it from the words, however they read."""
    return f"{kind}: {text}" if text else kind


class CloseCode(enum.IntEnum):
    """Every close code quartdash sends, and what the browser should do about it."""

    #: Normal close, for instance the page went away.
    NORMAL = 1000
    #: The server is restarting or shutting down: reconnect with backoff.
    GOING_AWAY = 1001
    #: A binary frame: the protocol is JSON text only. No reconnect.
    UNSUPPORTED_DATA = 1003
    #: Malformed traffic (not JSON, not an object, unknown type, bad fields). No reconnect.
    POLICY_VIOLATION = 1008
    #: An inbound frame larger than ``max_message_bytes``. No reconnect.
    MESSAGE_TOO_BIG = 1009
    #: An error on the server's side: reconnect with backoff.
    INTERNAL_ERROR = 1011
    #: The server cannot decide now (for instance its backplane is down): retry later.
    TRY_AGAIN_LATER = 1013
    #: Dash's idle close: the worker reconnects on the next use.
    INACTIVITY = 4001
    #: Logged out, revoked or closed by an admin: no reconnect; go to ``login_url``.
    SESSION_ENDED = 4401
    #: The session expired while connected: as 4401.
    SESSION_EXPIRED = 4408
    #: Too many messages per second: reconnect only after a long backoff.
    RATE_LIMITED = 4429


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """A request to run one server-side callback."""

    request_id: str
    renderer_id: str
    payload: dict[str, Any]

    @property
    def output(self) -> str:
        """Dash's callback id: the key of ``callback_map``."""
        return str(self.payload["output"])


@dataclass(frozen=True, slots=True)
class GetPropsResponse:
    """The page's answer to a ``get_props_request``."""

    request_id: str
    payload: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The worker's keep-alive; answered with ``heartbeat_ack``."""


@dataclass(frozen=True, slots=True)
class Ack:
    """quartdash's worker has received ``received`` frames on this connection."""

    received: int


@dataclass(frozen=True, slots=True)
class Bye:
    """quartdash's worker closes on purpose: the connection is not to be resumed."""


@dataclass(frozen=True, slots=True)
class Leave:
    """quartdash's worker: one tab (``renderer_id``) left while the socket stays for
    the others. Its topics and its persistent callbacks end with it."""

    renderer_id: str


@dataclass(frozen=True, slots=True)
class Hello:
    """quartdash's worker's first frame: the resume token it holds (None: a fresh
    connection) and how many frames it received on the connection that token names."""

    resume: str | None
    received: int


Inbound = Union[CallbackRequest, GetPropsResponse, Heartbeat, Ack, Bye, Leave]

_MAX_ID = 256
#: A close frame carries at most 123 bytes of reason (125 less the code's two).
MAX_REASON_BYTES = 123


def close_reason(text: object) -> str:
    """The reason every close the server sends carries (the close frame and the
    ``quartdash_close`` notice before it), whoever chose the text (quartdash, an
    administrator, a ``websocket_connect`` hook of the app): printable (control
    characters escaped) and cut on a character boundary to fit the frame, with "..."
    where it was cut."""
    value = printable(text, MAX_REASON_BYTES)
    data = value.encode()
    if len(data) <= MAX_REASON_BYTES:
        return value
    return data[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


def _violation(text: str) -> ProtocolError:
    return ProtocolError(CloseCode.POLICY_VIOLATION, close_reason(text))


def _str_field(message: dict[str, Any], name: str, required: bool = True) -> str:
    value = message.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > _MAX_ID:
        raise _violation(f"{name} must be a string of at most {_MAX_ID} characters")
    return value


def _id_list(payload: dict[str, Any], name: str) -> None:
    """Inputs and state are lists of dicts (or, for wildcards, lists of lists of dicts)."""
    value = payload.get(name, [])
    if not isinstance(value, list):
        raise _violation(f"payload.{name} must be a list")
    for item in value:
        items = item if isinstance(item, list) else [item]
        for entry in items:
            if not isinstance(entry, dict) or "id" not in entry or "property" not in entry:
                raise _violation(f"payload.{name} entries need id and property")


def parse_frame(data: str | bytes, max_bytes: int) -> Inbound:
    """Validate one inbound frame and return the message it carries.

    Raises ``ProtocolError`` with the close code the connection must end with. The size
    is checked before parsing so an oversized frame costs no JSON work.
    """
    if isinstance(data, (bytes, bytearray)):
        raise ProtocolError(CloseCode.UNSUPPORTED_DATA, "binary frames are not accepted")
    # Cheap bound first: a str of n characters is between n and 4n bytes of UTF-8.
    if len(data) * 4 > max_bytes and len(data.encode()) > max_bytes:
        raise ProtocolError(
            CloseCode.MESSAGE_TOO_BIG, f"frame larger than {max_bytes} bytes"
        )
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise _violation("frame is not valid JSON") from None
    if not isinstance(message, dict):
        raise _violation("frame must be a JSON object")
    kind = message.get("type")
    if kind == "callback_request":
        payload = message.get("payload")
        if not isinstance(payload, dict):
            raise _violation("callback_request needs an object payload")
        if not isinstance(payload.get("output"), str):
            raise _violation("callback_request payload.output must be a string")
        _id_list(payload, "inputs")
        _id_list(payload, "state")
        changed = payload.get("changedPropIds", [])
        if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
            raise _violation("payload.changedPropIds must be a list of strings")
        return CallbackRequest(
            _str_field(message, "requestId"),
            _str_field(message, "rendererId", required=False),
            payload,
        )
    if kind == "get_props_response":
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            raise _violation("get_props_response payload must be an object")
        return GetPropsResponse(_str_field(message, "requestId"), payload)
    if kind == "heartbeat":
        return Heartbeat()
    if kind == "quartdash_ack":
        received = message.get("received")
        if type(received) is not int or received < 0:  # bool is an int: excluded
            raise _violation("quartdash_ack needs a non-negative integer received")
        return Ack(received)
    if kind == "quartdash_bye":
        return Bye()
    if kind == "quartdash_leave":
        return Leave(_str_field(message, "rendererId"))
    if isinstance(kind, str):
        raise _violation(f"unknown message type {kind[:40]!r}")
    raise _violation("message needs a string type")


def parse_hello(data: str | bytes) -> Hello:
    """Validate the first frame of a socket opened with ``?quartdash=1``.

    Anything but a well-formed ``quartdash_hello`` raises ``ProtocolError`` with 1008
    (policy violation): the server cannot tell a fresh connection from a resume
    without it. The frame is small by construction, so its bound is tight and fixed
    rather than ``max_message_bytes``.
    """
    if not isinstance(data, str):
        raise _violation("the first frame must be a quartdash_hello text frame")
    if len(data) > MAX_HELLO_BYTES or len(data.encode()) > MAX_HELLO_BYTES:
        raise _violation(f"quartdash_hello larger than {MAX_HELLO_BYTES} bytes")
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise _violation("quartdash_hello is not valid JSON") from None
    if not isinstance(message, dict) or message.get("type") != "quartdash_hello":
        raise _violation("the first frame must be a quartdash_hello")
    resume = message.get("resume")
    if resume is not None and (
        not isinstance(resume, str) or not 0 < len(resume) <= MAX_RESUME_TOKEN
    ):
        raise _violation(
            f"quartdash_hello resume must be null or a string of 1 to {MAX_RESUME_TOKEN} characters"
        )
    received = message.get("received")
    if type(received) is not int or received < 0:  # bool is an int: excluded
        raise _violation("quartdash_hello needs a non-negative integer received")
    return Hello(resume, received)


# --- outbound -------------------------------------------------------------------------
# Frames are built as text by splicing already-encoded JSON, so a callback's response
# (which Dash has already serialised) is never parsed and encoded a second time.

HEARTBEAT_ACK = '{"type":"heartbeat_ack"}'


def _q(value: str) -> str:
    return orjson.dumps(value).decode()


def callback_response_ok(
    renderer_id: str, request_id: str, data_json: str, handover: str | None = None
) -> str:
    """A successful ``callback_response``; ``data_json`` is Dash's serialised response.
    ``handover``: the token quartdash's page script redeems for the cookies and headers
    the callback set, before the renderer sees this response (``handover.py``)."""
    extra = "" if handover is None else ',"quartdash_handover":%s' % _q(handover)
    return (
        '{"type":"callback_response","rendererId":%s,"requestId":%s%s,'
        '"payload":{"status":"ok","data":%s}}'
        % (_q(renderer_id), _q(request_id), extra, data_json)
    )


def callback_response_status(
    renderer_id: str, request_id: str, status: str, message: str | None = None,
    html: str | None = None,
) -> str:
    """A ``callback_response`` without data: ``prevent_update`` or ``error``. An error
    in Dash's debug mode also carries ``html``, Dash's traceback page (what its HTTP
    error handler answers with); Dash's renderer and worker ignore the field, quartdash's
    page script gives it to the renderer as the body of a failed HTTP callback."""
    payload: dict[str, Any] = {"status": status}
    if message is not None:
        payload["message"] = message
    if html is not None:
        payload["html"] = html
    return orjson.dumps(
        {
            "type": "callback_response",
            "rendererId": renderer_id,
            "requestId": request_id,
            "payload": payload,
        }
    ).decode()


#: A message for any tab: its text before the renderer id, and after it. A push builds
#: its parts once and splices each tab's id in (``for_tab``).
TabFrame = tuple[str, str]


def for_tab(parts: TabFrame, renderer_id: str) -> str:
    """The message of ``parts`` for the tab ``renderer_id``."""
    return parts[0] + _q(renderer_id) + parts[1]


def for_tab_encoded(parts: tuple[bytes, bytes], renderer_id: str) -> bytes:
    """``for_tab`` of ``parts`` encoded to UTF-8 once (a push written directly to many
    sockets splices bytes, and encodes no text per socket)."""
    return parts[0] + orjson.dumps(renderer_id) + parts[1]


_SET_PROPS_HEAD = '{"type":"set_props","rendererId":'
_SET_PROPS_TAIL = ',"payload":{"componentId":%s,"props":%s}}'


def set_props_parts(component_id: str, props_json: str) -> TabFrame:
    """A ``set_props`` message for any tab; ``props_json`` is the encoded
    ``{prop: value}`` object."""
    return _SET_PROPS_HEAD, _SET_PROPS_TAIL % (_q(component_id), props_json)


def set_props_frame(renderer_id: str, component_id: str, props_json: str) -> str:
    """A ``set_props`` message for one tab (``set_props_parts``, spliced in one go: every
    streamed ``set_props`` of a callback comes here)."""
    return _SET_PROPS_HEAD + _q(renderer_id) + _SET_PROPS_TAIL % (_q(component_id), props_json)


def get_props_request(
    renderer_id: str, request_id: str, component_id: str, props: list[str]
) -> str:
    """Ask the page for the current value of some properties of one component."""
    return orjson.dumps(
        {
            "type": "get_props_request",
            "rendererId": renderer_id,
            "requestId": request_id,
            "payload": {"componentId": component_id, "properties": props},
        }
    ).decode()


_EVENT_HEAD = '{"type":"quartdash_event","v":%d,"rendererId":' % PROTOCOL_VERSION
_EVENT_TAIL = ',"payload":{"event":%s,"data":%s}}'


def event_parts(event: str, data_json: str) -> TabFrame:
    """One event of the event channel for any tab; ``data_json`` is already encoded."""
    return _EVENT_HEAD, _EVENT_TAIL % (_q(event), data_json)


def event_frame(renderer_id: str, event: str, data_json: str) -> str:
    """One event of the event channel for one tab (``event_parts``, in one go)."""
    return _EVENT_HEAD + _q(renderer_id) + _EVENT_TAIL % (_q(event), data_json)


def close_notice(code: int, reason: str) -> str:
    """Why the server is about to close: sent just before the close frame."""
    return orjson.dumps(
        {"type": "quartdash_close", "v": PROTOCOL_VERSION, "code": code,
         "reason": close_reason(reason)}
    ).decode()


def welcome(connection_id: str, token: str | None, grace: float, resumed: bool) -> str:
    """To quartdash's worker at every (re)connect: the connection's id (as the registry
    lists it), the token to resume it with (None, with grace 0, when resume is off),
    for how long a dropped socket is kept, and whether this socket resumed one."""
    return orjson.dumps(
        {"type": "quartdash_welcome", "v": PROTOCOL_VERSION, "id": connection_id,
         "token": token, "grace": grace, "resumed": resumed}
    ).decode()


def batch(frames: list[str]) -> str:
    """One frame for several messages: a JSON array, as Dash's worker expects."""
    return frames[0] if len(frames) == 1 else "[" + ",".join(frames) + "]"


def batch_encoded(frames: list[bytes]) -> bytes:
    """``batch`` of messages encoded to UTF-8."""
    return frames[0] if len(frames) == 1 else b"[" + b",".join(frames) + b"]"
