"""Every exception quartdash raises for a reason of its own, in one place.

Each says what the server answers the client, so the code that catches it does not have
to know which module raised it: ``ProtocolError`` carries the close code and reason of
the socket it ends, ``ClientError`` the text of the error response of the one request
it refuses (the socket lives), ``BackplaneUnavailable`` means 1013 "try again later",
``InvalidState`` is quartdash's own mistake (a connection asked to do what its state
forbids), never a client's.
Exceptions of Dash (``PreventUpdate``, ``WebsocketDisconnected``) and of Python
(``TimeoutError`` of ``get_prop``) reach callbacks as Dash documents them.
"""

from __future__ import annotations


class QuartDashError(Exception):
    """Base class of quartdash's own exceptions."""


class ProtocolError(QuartDashError):
    """An inbound frame or handshake breaks the rules: the socket is closed with
    ``code`` (a ``CloseCode``) and ``reason``, and one line is logged."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ClientError(QuartDashError):
    """The request names no callback, or does not fit the one it names: that request is
    answered with an error and the socket lives. Its text is for the client and for a
    log line (made printable there)."""


class HandoverRefused(QuartDashError):
    """A callback's cookies or headers cannot reach the browser; the text says why (no
    header value in it)."""


class BackplaneUnavailable(QuartDashError):
    """The shared state cannot be reached now, so a decision that needs it (admitting
    a socket whose revocation status is unknown) cannot be made: close with 1013."""


class InvalidState(QuartDashError):
    """A connection was asked for a step its state does not allow (resuming one that is
    not parked, parking one that is closing): a bug in quartdash, not in the client or
    the app. The message names the state the step expected and the one it found, as
    websockets' ``InvalidState("connection is closing")`` does."""


class AdminError(QuartDashError):
    """The command line: the admin API refused, or could not be reached."""
