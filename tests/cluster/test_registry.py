"""The registry's plain data: selectors, commands and records, and their JSON forms
(what a shared backplane carries between workers)."""

from __future__ import annotations

import json

from quartdash.cluster.registry import (
    Close,
    ConnectionInfo,
    Extend,
    Selector,
    command_from_json,
    command_to_json,
)


def info(id_: str = "c1", user: str | None = "alice", session: str | None = "s1") -> ConnectionInfo:
    return ConnectionInfo(id_, user, session, "http://a.test", "127.0.0.1", "UA", 1.0, 2.0,
                          "host:1", 3)


def test_selector_matches_every_given_field() -> None:
    assert Selector().matches(info())
    assert Selector(user="alice").matches(info())
    assert not Selector(user="bob").matches(info())
    assert Selector(user="alice", session="s1").matches(info())
    assert not Selector(user="alice", session="s2").matches(info())
    assert Selector(connection="c1").matches(info()) and not Selector(connection="c2").matches(info())
    assert not Selector(user="alice").matches(info(user=None, session=None))


def test_records_and_commands_round_trip_through_json() -> None:
    record = info()
    assert ConnectionInfo.from_json(json.loads(json.dumps(record.to_json()))) == record
    for command in (Close(Selector(session="s1"), 4401, "logged out"),
                    Close(Selector(), 1001, "maintenance"), Extend("s1", 99.5)):
        assert command_from_json(json.loads(json.dumps(command_to_json(command)))) == command
