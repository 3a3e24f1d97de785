"""The replay buffer alone (replay.py): frames numbered as sent, forgotten once
acknowledged, the oldest dropped past the limit, and which resumes it can serve."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from quartdash.transport.replay import ReplayBuffer


def test_frames_are_numbered_from_one_and_kept_until_acknowledged() -> None:
    replay = ReplayBuffer(1000)
    assert [replay.record(frame) for frame in ("a", "bb", "ccc")] == [1, 2, 3]
    assert (replay.sent, len(replay), replay.size) == (3, 3, 6)
    replay.acknowledge(2)
    assert replay.unacknowledged() == ["ccc"] and replay.size == 3
    replay.acknowledge(2)  # again: nothing more goes
    assert replay.unacknowledged() == ["ccc"]
    replay.acknowledge(10)
    assert replay.unacknowledged() == [] and replay.size == 0 and replay.sent == 3


def test_past_the_limit_the_oldest_go_and_raise_the_floor() -> None:
    replay = ReplayBuffer(10)
    for frame in ("aaaa", "bbbb", "cccc"):
        replay.record(frame)
    assert replay.unacknowledged() == ["bbbb", "cccc"]
    assert (replay.floor, replay.size) == (1, 8)


def test_the_newest_frame_is_kept_even_alone_past_the_limit() -> None:
    replay = ReplayBuffer(10)
    replay.record("a")
    replay.record("x" * 50)
    assert replay.unacknowledged() == ["x" * 50]
    assert replay.floor == 1


def test_a_resume_is_served_only_from_the_floor_up_to_what_was_sent() -> None:
    replay = ReplayBuffer(10)
    for frame in ("aaaa", "bbbb", "cccc"):
        replay.record(frame)
    assert [replay.covers(n) for n in (0, 1, 2, 3, 4)] == [False, True, True, True, False]


@given(st.lists(st.one_of(st.text(max_size=6).map(lambda t: ("send", t)),
                          st.integers(0, 30).map(lambda n: ("ack", n))), max_size=50),
       st.integers(1, 20))
def test_what_is_kept_is_every_frame_after_the_ack_and_the_floor(
        steps: list[tuple[str, object]], limit: int) -> None:
    replay = ReplayBuffer(limit)
    sent: list[str] = []
    acked = 0
    for kind, value in steps:
        if kind == "send":
            assert isinstance(value, str)
            sent.append(value)
            replay.record(value)
        else:
            assert isinstance(value, int)
            acked = max(acked, min(value, len(sent)))  # only frames sent can go
            replay.acknowledge(value)
        first = max(acked, replay.floor)
        assert replay.unacknowledged() == sent[first:]
        assert replay.size == sum(map(len, sent[first:]))
        assert replay.size <= limit or len(replay) == 1
        assert replay.sent == len(sent)
