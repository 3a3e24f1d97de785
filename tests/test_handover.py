"""The handover store (``handover.py``): single use, bound to a session, expiring,
bounded per socket and in size; what of a callback's headers can be handed over; and
the cookies the socket's later callbacks see."""

from __future__ import annotations

import pytest
from quart import Response

from quartdash.handover import (
    MAX_HANDOVER_BYTES,
    HandoverRefused,
    Handovers,
    split_framing,
    valid_token,
    with_cookies,
)

COOKIE = [("Set-Cookie", "a=b; HttpOnly; Path=/")]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_token_redeems_once() -> None:
    store = Handovers()
    token = store.issue("c1", None, COOKIE)
    assert valid_token(token)
    assert store.redeem(token, None) == COOKIE
    assert store.redeem(token, None) is None
    assert len(store) == 0


def test_bound_to_its_session_and_spent_by_a_wrong_one() -> None:
    store = Handovers()
    token = store.issue("c1", "session-a", COOKIE)
    assert store.redeem(token, "session-b") is None
    assert store.redeem(token, "session-a") is None  # spent by the wrong try
    token = store.issue("c1", "session-a", COOKIE)
    assert store.redeem(token, None) is None
    token = store.issue("c1", "session-a", COOKIE)
    assert store.redeem(token, "session-a") == COOKIE


def test_expires_and_is_purged() -> None:
    clock = Clock()
    store = Handovers(seconds=60, clock=clock)
    token = store.issue("c1", None, COOKIE)
    clock.now += 60
    assert store.redeem(token, None) is None
    for _ in range(5):
        store.issue("c2", None, COOKIE)
    clock.now += 61
    store.issue("c3", None, COOKIE)  # purges what expired
    assert len(store) == 1


def test_bounded_per_socket_until_redeemed_or_expired() -> None:
    clock = Clock()
    store = Handovers(seconds=60, per_owner=2, clock=clock)
    first = store.issue("c1", None, COOKIE)
    store.issue("c1", None, COOKIE)
    with pytest.raises(HandoverRefused, match="already wait"):
        store.issue("c1", None, COOKIE)
    store.issue("c2", None, COOKIE)  # another socket is not affected
    assert store.redeem(first, None) == COOKIE
    store.issue("c1", None, COOKIE)  # a redeem frees a place
    with pytest.raises(HandoverRefused):
        store.issue("c1", None, COOKIE)
    clock.now += 61
    store.issue("c1", None, COOKIE)  # and so does expiry


def test_bounded_in_size() -> None:
    with pytest.raises(HandoverRefused, match="bytes"):
        Handovers().issue("c1", None, [("X-Big", "x" * MAX_HANDOVER_BYTES)])


def test_framing_headers_are_not_handed_over() -> None:
    kept, refused = split_framing([("Content-Length", "5"), *COOKIE, ("X-A", "1"),
                                   ("transfer-encoding", "chunked")])
    assert kept == [*COOKIE, ("X-A", "1")]
    assert refused == ["Content-Length", "transfer-encoding"]


@pytest.mark.parametrize("value", [None, 5, "", "x" * 42, "x" * 44, "a" * 42 + "/",
                                   "a" * 42 + "\n"])
def test_malformed_tokens(value: object) -> None:
    assert not valid_token(value)


def test_with_cookies_sets_and_deletes_as_the_browser_will() -> None:
    response = Response()
    response.set_cookie("a", "1 - x", httponly=True)
    response.delete_cookie("b")
    response.set_cookie("c", "gone", expires=0)
    response.set_cookie("d", "later", max_age=60)
    response.headers.add("X-Other", "c=ignored")
    before = {"b": "old", "c": "old", "keep": "k"}
    after = with_cookies(before, list(response.headers.items()))
    assert after == {"a": "1 - x", "d": "later", "keep": "k"}
    assert before == {"b": "old", "c": "old", "keep": "k"}  # a new dict
