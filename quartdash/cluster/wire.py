"""The wire format: how the plain data of ``models.py`` is written between workers.

A shared backplane (``redis.py``) stores and publishes these bytes; nothing else in
quartdash depends on their shape, so changing the format is a change here alone (as
channels_redis keeps its ``serializers.py`` apart from its core). Every reader refuses
what it cannot read with ``ValueError``, ``KeyError`` or ``TypeError`` (orjson's
``JSONDecodeError`` is a ``ValueError``); the backplane logs and drops such a message.

JSON has no infinity: orjson would write ``null`` silently and ``json`` a non-standard
``Infinity``, so a time that never comes (a revocation kept forever, a session that never
expires) is written ``null`` and read back as ``math.inf``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

import orjson

from quartdash.cluster.models import (
    Close,
    Command,
    ConnectionInfo,
    Extend,
    Headers,
    Push,
    Revocation,
    Selector,
    Update,
)

_INFO_FIELDS = tuple(field.name for field in fields(ConnectionInfo))


def _time(value: float) -> float | None:
    return None if math.isinf(value) else value


def _read_time(value: Any) -> float:
    return math.inf if value is None else float(value)


# --- the records, as JSON objects ------------------------------------------------------
def info_to_json(info: ConnectionInfo) -> dict[str, Any]:
    """A socket's presence record (what the admin API lists, too)."""
    return info.to_json()


def info_from_json(data: Mapping[str, Any]) -> ConnectionInfo:
    """A presence record; a field it lacks (written by another version) reads as None."""
    values: dict[str, Any] = {name: data.get(name) for name in _INFO_FIELDS}
    values["topics"] = tuple(str(topic) for topic in values["topics"] or ())
    return ConnectionInfo(**values)


def command_to_json(command: Command) -> dict[str, Any]:
    if isinstance(command, Close):
        return {"close": asdict(command.selector), "code": command.code, "reason": command.reason}
    if isinstance(command, Push):
        # The props and the event's data stay the JSON text the pusher encoded: the
        # receiving worker splices them into frames without decoding them.
        return {"push": asdict(command.selector),
                "updates": [[u.component, list(u.props), u.props_json, u.coalesces]
                            for u in command.updates],
                "event": None if command.event is None else list(command.event)}
    return {"extend": command.session, "expires_at": _time(command.expires_at)}


def _selector(data: Mapping[str, Any]) -> Selector:
    """A selector; only its own fields, each a string or None."""
    values = {name: data.get(name) for name in ("connection", "session", "user", "topic")}
    if any(value is not None and not isinstance(value, str) for value in values.values()):
        raise TypeError("a selector's fields are strings")
    return Selector(**values)


def command_from_json(data: Mapping[str, Any]) -> Command:
    if "close" in data:
        return Close(_selector(data["close"]), int(data["code"]), str(data["reason"]))
    if "push" in data:
        return Push(_selector(data["push"]), tuple(map(_update, data["updates"])),
                    _event(data["event"]))
    return Extend(str(data["extend"]), _read_time(data["expires_at"]))


def _update(item: Any) -> Update:
    """One update of a push, checked: its JSON text goes into every selected page's
    frame unparsed, so text that is not one JSON object (which could close the message
    and add others of its own) is refused here, once per worker."""
    component, props, text, coalesces = item
    if not (isinstance(component, str) and isinstance(props, list)
            and all(isinstance(name, str) for name in props) and isinstance(text, str)
            and isinstance(coalesces, bool) and isinstance(orjson.loads(text), dict)):
        raise TypeError("a push's update is [component, [props], props JSON, coalesces]")
    return Update(component, tuple(props), text, coalesces)


def _event(item: Any) -> tuple[str, str] | None:
    """A push's event, checked as ``_update`` checks an update (its data: any JSON)."""
    if item is None:
        return None
    name, text = item
    if not (isinstance(name, str) and isinstance(text, str)):
        raise TypeError("a push's event is [name, data JSON]")
    orjson.loads(text)  # one JSON value, or ValueError
    return name, text


def revocation_to_json(entry: Revocation) -> dict[str, Any]:
    return {**asdict(entry), "until": _time(entry.until)}


def revocation_from_json(data: Mapping[str, Any]) -> Revocation:
    before = data.get("before")
    return Revocation(_read_time(data["until"]), data.get("session"), data.get("user"),
                      None if before is None else float(before))


# --- what the Redis backplane stores and publishes, as bytes ---------------------------
def dump_info(info: ConnectionInfo) -> bytes:
    """A socket's entry in its worker's presence hash: ``info_to_json``'s fields, by
    orjson's own dataclass encoding (a worker writes every socket's entry on each
    refresh; ``dataclasses.asdict`` copied each one first: 5x slower, measured)."""
    return orjson.dumps(info)


def load_info(raw: bytes | str) -> ConnectionInfo:
    return info_from_json(orjson.loads(raw))


def load_revocation(raw: bytes | str) -> Revocation:
    """A revocation stored one key each, as quartdash wrote them before the sorted sets."""
    return revocation_from_json(orjson.loads(raw))


def command_message(request: str, sender: str, command: Command) -> bytes:
    """A command for every other worker; each answers ``sender`` with ``reply_message``."""
    return orjson.dumps({"id": request, "from": sender, "command": command_to_json(command)})


def revoke_message(sender: str, entry: Revocation) -> bytes:
    """A revocation for every other worker's mirror (no answer)."""
    return orjson.dumps({"from": sender, "revoke": revocation_to_json(entry)})


def read_message(data: bytes | str) -> tuple[str, str | None, Command | Revocation]:
    """A ``command_message`` or ``revoke_message``: who sent it, the request id to
    answer (None for a revocation) and what it carries."""
    message = orjson.loads(data)
    sender = str(message["from"])
    if "revoke" in message:
        return sender, None, revocation_from_json(message["revoke"])
    return sender, str(message["id"]), command_from_json(message["command"])


def reply_message(request: str, count: int) -> bytes:
    """A worker's answer to a command: how many of its sockets it affected."""
    return orjson.dumps({"id": request, "count": count})


def read_reply(data: bytes | str) -> tuple[str, int]:
    message = orjson.loads(data)
    return str(message["id"]), int(message["count"])


def dump_handover(binding: str | None, headers: Headers) -> bytes:
    """The cookies and headers kept for a handover, and the session that may take them."""
    return orjson.dumps({"binding": binding, "headers": headers})


def load_handover(raw: bytes | str) -> tuple[str | None, Headers]:
    """What ``dump_handover`` kept. A binding that is not a string or None is refused,
    never read as "any session may redeem"."""
    kept = orjson.loads(raw)
    binding = kept["binding"]
    headers = [(str(name), str(value)) for name, value in kept["headers"]]
    if binding is not None and not isinstance(binding, str):
        raise TypeError("binding")
    return binding, headers
