"""The wire format: every record, command and message a shared backplane writes reads
back as what was written, through orjson and the standard json module alike, and what
cannot be read is refused with the errors the backplane catches."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import orjson
import pytest

from quartdash.cluster import wire
from quartdash.cluster.models import Close, Extend, Revocation, Selector
from tests.cluster.test_models import info

COMMANDS = (Close(Selector(session="s1"), 4401, "logged out"), Close(Selector(), 1001, "bye"),
            Close(Selector(connection="c", user="u"), 4000, "x"), Extend("s1", 99.5),
            Extend("s", math.inf))
REVOCATIONS = (Revocation(5.0, session="s"), Revocation(6.0, user="u", before=3.0),
               Revocation(math.inf, session="s"), Revocation(math.inf, user="u", before=3.5))


def through_json(data: object) -> Any:
    return json.loads(json.dumps(data))


def test_records_and_commands_round_trip_through_json() -> None:
    record = info()
    assert wire.info_from_json(through_json(wire.info_to_json(record))) == record
    assert wire.load_info(wire.dump_info(record)) == record
    for command in COMMANDS:
        assert wire.command_from_json(
            through_json(wire.command_to_json(command))) == command


def test_revocations_round_trip_and_forever_is_null() -> None:
    """orjson writes infinity as null without a word: reading it back once failed, and a
    revocation of a never-expiring token reached no other worker."""
    for entry in REVOCATIONS:
        data = wire.revocation_to_json(entry)
        assert data["until"] is None if math.isinf(entry.until) else data["until"] == entry.until
        for encoded in (orjson.dumps(data), json.dumps(data)):
            assert wire.load_revocation(encoded) == entry


def test_messages_between_workers() -> None:
    for command in COMMANDS:
        assert wire.read_message(wire.command_message("r1", "h:1", command)) == (
            "h:1", "r1", command)
    for entry in REVOCATIONS:
        assert wire.read_message(wire.revoke_message("h:2", entry)) == ("h:2", None, entry)
    assert wire.read_reply(wire.reply_message("r1", 3)) == ("r1", 3)


def test_handovers_keep_their_binding_and_refuse_a_forged_one() -> None:
    headers = [("Set-Cookie", "a=1; Path=/"), ("X-Note", "é")]
    for binding in (None, "s1"):
        assert wire.load_handover(wire.dump_handover(binding, headers)) == (binding, headers)
    for raw in (b'{"binding": 1, "headers": []}', b'{"binding": null}', b"not json",
                b'{"binding": null, "headers": [["only-a-name"]]}'):
        with pytest.raises((KeyError, TypeError, ValueError)):
            wire.load_handover(raw)


def test_a_record_of_another_version_reads() -> None:
    """A presence record lacking a field (written by an older worker) reads it as None;
    a field this version does not know is ignored."""
    data = wire.info_to_json(info())
    del data["user_agent"]
    data["unknown"] = 1
    assert wire.info_from_json(data).user_agent is None


def test_a_presence_entry_is_the_admin_apis_record() -> None:
    """``dump_info`` encodes the dataclass directly (orjson), the admin API lists
    ``info_to_json``: the two must stay the same fields and values."""
    for record in (info(), dataclasses.replace(info(user=None, session=None),
                                               topics=("a", "b"))):
        assert orjson.loads(wire.dump_info(record)) == json.loads(
            json.dumps(wire.info_to_json(record)))
        assert wire.load_info(wire.dump_info(record)) == record
