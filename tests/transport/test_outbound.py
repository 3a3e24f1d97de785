"""The outbound queue alone (outbound.py): budgets, coalescing by key, batches, and
when the page counts as behind. No socket, no loop: it is pure bookkeeping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from quartdash.transport.outbound import BEHIND_SECONDS, Outbound


def test_frames_go_out_in_the_order_pushed() -> None:
    queue = Outbound(10, 1000)
    for frame in ("a", "b", "c"):
        assert queue.push(frame)
    assert (len(queue), queue.size) == (3, 3)
    assert queue.take_batch() == ["a", "b", "c"]
    assert (len(queue), queue.size) == (0, 0)


def test_a_keyed_frame_replaces_the_queued_one_and_goes_last() -> None:
    queue = Outbound(10, 1000)
    queue.push("x=1", key="x")
    queue.push("event")
    queue.push("x=22", key="x")
    assert queue.take_batch() == ["event", "x=22"]
    assert queue.size == 0


def test_frames_without_a_key_never_merge() -> None:
    queue = Outbound(10, 1000)
    for _ in range(3):
        queue.push("same")
    assert queue.take_batch() == ["same"] * 3


def test_past_the_frame_budget_a_push_is_refused_and_nothing_is_queued() -> None:
    queue = Outbound(3, 1000)
    assert all(queue.push(f"f{n}") for n in range(3))
    assert not queue.push("f3")
    assert queue.take_batch() == ["f0", "f1", "f2"]


def test_past_the_byte_budget_a_push_is_refused_but_one_frame_always_fits() -> None:
    queue = Outbound(100, 10)
    assert queue.push("x" * 50)  # alone in an empty queue, however large
    assert not queue.push("y")
    queue.take_batch()
    assert queue.push("a" * 6)
    assert not queue.push("b" * 5)  # 11 > 10
    assert queue.push("c" * 4)  # exactly 10


def test_a_replaced_frame_frees_its_budget() -> None:
    queue = Outbound(100, 10)
    queue.push("x" * 8, key="k")
    assert queue.push("y" * 9, key="k")  # the old 8 are gone first
    assert queue.size == 9


def test_a_batch_stops_at_max_batch_bytes_but_takes_at_least_one_frame() -> None:
    queue = Outbound(100, 10_000, max_batch_bytes=10)
    for frame in ("aaaa", "bbbb", "cccc", "d" * 30, "e"):
        queue.push(frame)
    assert queue.take_batch() == ["aaaa", "bbbb"]
    assert queue.take_batch() == ["cccc"]
    assert queue.take_batch() == ["d" * 30]
    assert queue.take_batch() == ["e"]
    assert queue.size == 0


def test_urgent_lasts_until_the_next_batch() -> None:
    queue = Outbound(10, 1000)
    queue.push("set_props", urgent=False)
    assert not queue.urgent
    queue.push("response")
    assert queue.urgent
    queue.take_batch()
    assert not queue.urgent


def test_crowded_from_half_of_either_budget() -> None:
    by_count = Outbound(4, 1000)
    by_count.push("a")
    assert not by_count.crowded()
    by_count.push("b")
    assert by_count.crowded()
    by_size = Outbound(100, 10)
    by_size.push("x" * 4)
    assert not by_size.crowded()
    by_size.push("y")
    assert by_size.crowded()


def test_a_send_in_flight_is_behind_only_once_blocked_past_the_threshold() -> None:
    queue = Outbound(10, 1000)
    assert not queue.busy and queue.stalled_for(50.0) == 0.0
    queue.sending(100.0)
    assert queue.busy
    assert queue.stalled_for(100.5) == 0.5
    assert not queue.behind(lambda: 100.0 + BEHIND_SECONDS / 2)
    assert queue.behind(lambda: 100.0 + BEHIND_SECONDS * 2)
    queue.sent()
    assert not queue.busy and not queue.behind(lambda: 1e9)


def test_crowded_is_behind_without_reading_the_clock() -> None:
    queue = Outbound(2, 1000)
    queue.push("a")

    def clock() -> float:
        raise AssertionError("the clock is read only for a send in flight")

    assert queue.behind(clock)


@given(st.lists(st.tuples(st.sampled_from([None, "k1", "k2", "k3"]),
                          st.text(min_size=1, max_size=8)), max_size=60),
       st.integers(1, 12), st.integers(1, 40))
def test_the_queue_keeps_its_budgets_and_the_latest_value_of_each_key(
        pushes: list[tuple[str | None, str]], max_frames: int, max_bytes: int) -> None:
    queue = Outbound(max_frames, max_bytes)
    model: dict[object, str] = {}
    serial = 0
    for key, frame in pushes:
        before = dict(model)
        slot: object = key if key is not None else ("unkeyed", serial := serial + 1)
        model.pop(slot, None)
        fits = not model or (len(model) < max_frames
                             and sum(map(len, model.values())) + len(frame) <= max_bytes)
        assert queue.push(frame, key) == fits
        if fits:
            model[slot] = frame
        else:  # refused: the connection closes; the queue is left as it was
            model = before
        assert len(queue) == len(model) and queue.size == sum(map(len, model.values()))
        assert len(queue) <= max_frames
        assert queue.size <= max_bytes or len(queue) == 1  # one frame always fits
    assert queue.take_batch() == list(model.values())


@given(st.lists(st.lists(st.tuples(st.sampled_from([None, "k1", "k2"]),
                                   st.text(min_size=1, max_size=8)), min_size=1, max_size=4),
                max_size=30),
       st.integers(1, 12), st.integers(1, 40))
def test_frames_queued_together_fit_an_empty_queue_or_go_in_whole_or_not_at_all(
        groups: list[list[tuple[str | None, str]]], max_frames: int, max_bytes: int) -> None:
    """``push_all``: one sender's frames (a push's, for every tab and component) as one
    update. Whatever their size they fit a queue holding nothing else; otherwise they
    all go in within the budgets, or none does."""
    queue = Outbound(max_frames, max_bytes)
    for group in groups:
        before = (len(queue), queue.size)
        replaced = {key for key, _ in group if key is not None} & queue_keys(queue)
        alone = len(queue) == len(replaced)
        queued = queue.push_all([(frame, key) for key, frame in group])
        if alone:
            assert queued
        if not queued:
            assert (len(queue), queue.size) == before
        else:
            assert alone or (len(queue) <= max_frames and queue.size <= max_bytes)


def queue_keys(queue: Outbound) -> set[object]:
    """The caller's keys of the frames waiting (a test's look inside)."""
    return {key for key in queue._frames if isinstance(key, str)}


def test_a_held_push_goes_ahead_of_what_waited_and_a_later_value_of_its_key_wins() -> None:
    """A push that held its place and could not be written directly (``push_ahead``)
    goes before the frames that queued behind it; a frame of the same key that waited
    was made later, so it is the one kept."""
    out = Outbound(max_frames=10, max_bytes=1_000)
    assert out.push("later-a") and out.push("later-p", key="p")
    assert out.push_ahead([("push-p", "p"), ("push-e", None)])
    assert out.take_batch() == ["push-e", "later-a", "later-p"]
    assert out.size == 0
    # Past a budget: refused, and the queue as it was.
    out = Outbound(max_frames=3, max_bytes=1_000)
    assert out.push("w1") and out.push("w2")
    assert not out.push_ahead([("x1", None), ("x2", None)])
    assert out.take_batch() == ["w1", "w2"]
    # Into an empty queue, a push always fits, whatever its size.
    out = Outbound(max_frames=2, max_bytes=10)
    assert out.push_ahead([("y" * 50, None), ("z" * 50, None), ("w", None)])
    assert len(out) == 3
