"""The handover store (``handover.py``): single use, bound to a session, expiring,
bounded per socket and in size; what of a callback's headers can be handed over; and
the cookies the socket's later callbacks see."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from quart import Response

from quartdash import Input, Output, QuartDash, ctx, html
from quartdash.cluster.backplane import LocalBackplane
from quartdash.transport.handover import (
    MAX_HANDOVER_BYTES,
    HandoverRefused,
    Handovers,
    issue,
    redeem,
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


def test_a_shared_set_keeps_its_place_until_redeemed_here_or_expired() -> None:
    """Once the backplane holds a set, this worker keeps no copy, and the set counts
    against its socket until this worker redeems it or it expires: a redeem on another
    worker is not seen here."""
    clock = Clock()
    store = Handovers(seconds=60, per_owner=2, clock=clock)
    here, elsewhere = store.issue("c1", None, COOKIE), store.issue("c1", None, COOKIE)
    store.shared(here)
    store.shared(elsewhere)
    with pytest.raises(HandoverRefused):
        store.issue("c1", None, COOKIE)
    assert store.redeem(here, None) is None  # the headers are the backplane's
    store.issue("c1", None, COOKIE)  # but its place is free
    with pytest.raises(HandoverRefused):
        store.issue("c1", None, COOKIE)
    clock.now += 61
    store.issue("c1", None, COOKIE)  # and the one redeemed elsewhere frees at expiry


def test_at_its_limit_a_socket_lists_its_shared_sets_and_forgets_those_taken() -> None:
    store = Handovers(per_owner=3)
    local = store.issue("c1", None, COOKIE)
    shared = [store.issue("c1", None, COOKIE) for _ in range(2)]
    for token in shared:
        store.shared(token)
    store.issue("c2", None, COOKIE)
    assert sorted(store.shared_at_limit("c1")) == sorted(shared)
    assert store.shared_at_limit("c2") == []  # places left: nothing to ask
    store.forget([shared[0], "unknown"])
    assert store.shared_at_limit("c1") == []
    store.issue("c1", None, COOKIE)  # the forgotten one's place
    with pytest.raises(HandoverRefused):
        store.issue("c1", None, COOKIE)
    assert store.redeem(local, None) == COOKIE  # local sets are never listed nor lost


async def test_the_local_backplane_keeps_them_in_this_worker() -> None:
    store, backplane = Handovers(), LocalBackplane()
    token = await issue(store, backplane, "c1", "session-a", COOKIE)
    assert await redeem(store, backplane, token, "session-b") is None
    token = await issue(store, backplane, "c1", "session-a", COOKIE)
    assert await redeem(store, backplane, token, "session-a") == COOKIE
    assert await redeem(store, backplane, token, "session-a") is None
    assert len(store) == 0


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


# --- over a socket, in process: what cannot be handed over is said, never dropped quietly
def _cookie_app(debug: bool) -> QuartDash:
    app = QuartDash(__name__)
    app.layout = html.Div([html.Button(id="b"), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("b", "n_clicks"))
    def set_cookie(n: int) -> str:
        ctx.response.set_cookie("c", "v")
        ctx.response.set_header("Content-Length", "3")
        return "set"

    if debug:
        app.enable_dev_tools(debug=True, dev_tools_hot_reload=False)
    return app


REQUEST = {"type": "callback_request", "rendererId": "r", "requestId": "1", "payload": {
    "output": "out.children", "outputs": {"id": "out", "property": "children"},
    "inputs": [{"id": "b", "property": "n_clicks", "value": 1}],
    "changedPropIds": ["b.n_clicks"], "state": []}}


async def _call(app: QuartDash, ours: bool) -> dict[str, Any]:
    await app.register_callbacks()
    async with app.server.test_app() as test_app:
        client = test_app.test_client()
        path = "/_dash-ws-callback" + ("?quartdash=1" if ours else "")
        async with client.websocket(path, headers={"Origin": "http://localhost"}) as ws:
            if ours:
                await ws.send(json.dumps({"type": "quartdash_hello", "v": 1, "resume": None,
                                          "received": 0}))
                await asyncio.wait_for(ws.receive(), 5)  # welcome
            await ws.send(json.dumps(REQUEST))
            while True:
                message = json.loads(await asyncio.wait_for(ws.receive(), 5))
                if message["type"] == "callback_response":
                    return message  # type: ignore[no-any-return]


@pytest.mark.parametrize("ours", [True, False])
async def test_refused_headers_are_logged_once(ours: bool,
                                               caplog: pytest.LogCaptureFixture) -> None:
    message = await _call(_cookie_app(debug=False), ours)
    assert message["payload"]["status"] == "ok"
    # Our page gets the cookie (not Content-Length); a client without it gets nothing.
    assert ("quartdash_handover" in message) is ours
    [line] = [r.getMessage() for r in caplog.records if "do not reach" in r.getMessage()]
    assert "Content-Length" in line
    assert ("no quartdash page script" in line) is not ours
    assert "c=v" not in line and "3" not in line.rsplit("): ", 1)[1]  # no header value


async def test_refused_headers_show_in_debug_mode() -> None:
    message = await _call(_cookie_app(debug=True), True)
    assert message["payload"]["status"] == "error"
    assert "Content-Length" in message["payload"]["message"]
    assert "quartdash_handover" not in message
