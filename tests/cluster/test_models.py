"""The cluster's plain data: what a selector matches."""

from __future__ import annotations

from quartdash.cluster.models import ConnectionInfo, Selector


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
