"""Topics and push in one process, driven through the registry's own interface: who a
push reaches (subscribed tabs, every tab, the selector's sockets), what it costs (frames
built once per tab id), what a page that is behind keeps, and what is refused. The
connections are real ``Connection`` objects with a recording send; real servers, Redis
and a browser drive the same code in test_topics.py and tests/e2e/test_topics_browser.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from dash import Patch

from quartdash import signals
from quartdash.cluster import wire
from quartdash.cluster.backplane import LocalBackplane
from quartdash.cluster.models import Close, Push, Selector, Update
from quartdash.cluster.registry import MAX_TABS, ConnectionRegistry, Member
from quartdash.cluster.topics import EVERY_TAB, PushFrames, encode, select
from quartdash.transport import protocol
from quartdash.transport.connection import Connection
from quartdash.transport.limits import TokenBucket
from tests.transport.test_connection import Sink, owned, until


class Token:
    """What a member needs of a session token."""

    def __init__(self, user: str, session: str) -> None:
        self.user, self.session_id, self.expires_at = user, session, float("inf")


class Sessions:
    """The registry's session lifecycle, unused here (no close by session or user)."""


@pytest.fixture
async def registry() -> AsyncIterator[ConnectionRegistry]:
    emitter = signals.Emitter(SENDER, lambda func: func)  # receivers below are async
    registry = ConnectionRegistry(LocalBackplane(), Sessions(), emitter,  # type: ignore[arg-type]
                                  max_topics=3)
    await registry.start()
    yield registry
    await registry.stop()
    for task in TASKS:
        task.cancel()
    TASKS.clear()


SENDER = object()
#: The tasks that answer for the test's connections.
TASKS: list[asyncio.Task[None]] = []


async def member(registry: ConnectionRegistry, user: str = "alice", session: str = "s1",
                 ours: bool = True, **connection: Any) -> tuple[Member, Sink]:
    sink = Sink()
    # Made in a task of its own, which answers for it (a close cancels that task).
    conn, task = await owned(lambda: Connection(sink, batch_delay=0, **connection))
    TASKS.append(task)
    joined = Member(conn, TokenBucket(100), user=None, token=Token(user, session),  # type: ignore[arg-type]
                    origin=None, remote_addr="127.0.0.1", user_agent=None, ours=ours)
    assert await registry.join(joined) is None
    return joined, sink


def delivered(sink: Sink) -> list[tuple[str, str, Any]]:
    """(type, rendererId, what) of every message sent so far."""
    out = []
    for message in sink.messages():
        payload = message.get("payload", {})
        what = payload.get("props") if message["type"] == "set_props" else payload.get("data")
        out.append((message["type"], message["rendererId"], what))
    return out


async def test_a_push_by_topic_reaches_the_subscribed_tabs_only(
        registry: ConnectionRegistry) -> None:
    first, first_sink = await member(registry)
    second, second_sink = await member(registry, "bob", "s2")
    await registry.subscribe(first, "tab-a", "prices")
    await registry.subscribe(first, "tab-b", "news")
    await registry.subscribe(second, "tab-c", "prices")

    queued = await registry.push(topic="prices", set_props={"grid": {"rowData": [1]}},
                                 event=("tick", 1))
    assert queued == 2
    await until(lambda: len(first_sink.messages()) == 2 and len(second_sink.messages()) == 2)
    assert delivered(first_sink) == [("set_props", "tab-a", {"rowData": [1]}),
                                     ("quartdash_event", "tab-a", 1)]
    assert delivered(second_sink) == [("set_props", "tab-c", {"rowData": [1]}),
                                      ("quartdash_event", "tab-c", 1)]
    assert {info.id for info in await registry.list(topic="prices")} == {first.id, second.id}
    assert (await registry.list(topic="news"))[0].topics == ("news", "prices")
    assert await registry.push(topic="nobody", event=("tick", 2)) == 0


async def test_a_push_to_a_user_reaches_every_tab_of_each_socket(
        registry: ConnectionRegistry) -> None:
    """quartdash's worker fans one frame out to its tabs; another client gets one frame
    per tab its requests named."""
    _, ours_sink = await member(registry)
    plain, plain_sink = await member(registry, session="s9", ours=False)
    other, other_sink = await member(registry, "bob", "s2")
    plain.saw_tab("t1")
    plain.saw_tab("t2")

    assert await registry.push(user="alice", set_props={"feed": {"children": "x"}}) == 2
    await until(lambda: len(ours_sink.messages()) == 1 and len(plain_sink.messages()) == 2)
    assert delivered(ours_sink) == [("set_props", EVERY_TAB, {"children": "x"})]
    assert sorted(delivered(plain_sink)) == [("set_props", "t1", {"children": "x"}),
                                             ("set_props", "t2", {"children": "x"})]
    assert await registry.push(session="s9", event=("e", None)) == 1
    assert await registry.push(connection=other.id, event=("e", None)) == 1
    assert await registry.push(everyone=True, event=("e", None)) == 3
    await until(lambda: len(other_sink.messages()) == 2)


async def test_a_tab_that_leaves_takes_its_subscriptions_and_the_signals_say_so(
        registry: ConnectionRegistry) -> None:
    heard: list[tuple[str, str, tuple[str, ...]]] = []

    async def joined(sender: Any, info: Any, topic: str) -> None:
        heard.append(("joined", topic, info.topics))

    async def left(sender: Any, info: Any, topic: str) -> None:
        heard.append(("left", topic, info.topics))

    signals.topic_joined.connect(joined, SENDER)
    signals.topic_left.connect(left, SENDER)
    try:
        alice, _ = await member(registry)
        await registry.subscribe(alice, "tab-a", "room")
        await registry.subscribe(alice, "tab-b", "room")  # the socket is on it already
        await registry.subscribe(alice, "tab-a", "room")  # idempotent
        assert heard == [("joined", "room", ("room",))]
        registry.drop_tab(alice, "tab-a")
        assert alice.topics == {"room": {"tab-b"}}
        assert len(await registry.list(topic="room")) == 1
        registry.drop_tab(alice, "tab-b")
        await until(lambda: len(heard) == 2)
        assert heard[1] == ("left", "room", ())
        assert await registry.list(topic="room") == []
        assert await registry.push(topic="room", event=("e", 1)) == 0

        await registry.subscribe(alice, "tab-c", "room")
        await registry.unsubscribe(alice, "tab-c", "room")
        await registry.unsubscribe(alice, "tab-c", "room")  # nothing to end
        assert [kind for kind, *_ in heard] == ["joined", "left", "joined", "left"]

        await registry.subscribe(alice, "tab-c", "room")
        registry.retire(alice, None)  # the socket closed
        await until(lambda: len(heard) == 6)
        assert heard[-1] == ("left", "room", ("room",))
        assert await registry.list(topic="room") == []
    finally:
        signals.topic_joined.disconnect(joined, SENDER)
        signals.topic_left.disconnect(left, SENDER)


async def test_close_by_topic_closes_its_subscribers_only(registry: ConnectionRegistry) -> None:
    first, _ = await member(registry)
    second, _ = await member(registry, "bob", "s2")
    await registry.subscribe(first, "R", "doomed")
    assert await registry.backplane.send(Close(Selector(topic="doomed"), 4401, "x")) == 1
    assert first.conn.is_shutdown and not second.conn.is_shutdown


async def test_behind_a_push_coalesces_by_prop_and_keeps_every_event(
        registry: ConnectionRegistry) -> None:
    """While the page is behind (here: its socket dropped, kept for a resume), a push of
    the same props replaces the queued one, as a callback's set_props does; events and
    Patches all stay, in order."""
    alice, sink = await member(registry)
    await registry.subscribe(alice, "R", "prices")
    alice.conn.enable_resume()
    alice.conn.park(None)
    for i in range(50):
        await registry.push(topic="prices", set_props={"grid": {"rowData": i}})
        await registry.push(topic="prices", event=("tick", i))
    patch = Patch()
    patch.append(1)
    await registry.push(topic="prices", set_props={"log": {"children": patch}})
    await registry.push(topic="prices", set_props={"log": {"children": patch}})
    alice.conn.resume(sink, 0)
    await until(lambda: len(sink.messages()) >= 53)
    kinds = delivered(sink)
    assert [what for kind, _, what in kinds if kind == "quartdash_event"] == list(range(50))
    grids = [what for kind, _, what in kinds if kind == "set_props" and "rowData" in what]
    assert grids == [{"rowData": 49}]
    assert len([1 for kind, _, what in kinds if kind == "set_props" and "children" in what]) == 2


async def test_a_push_past_a_sockets_budget_closes_that_socket_only(
        registry: ConnectionRegistry, caplog: pytest.LogCaptureFixture) -> None:
    stuck, _ = await member(registry, max_pending=20)
    fine, fine_sink = await member(registry, "bob", "s2")
    for joined in (stuck, fine):
        await registry.subscribe(joined, "R", "t")
    stuck.conn.enable_resume()
    stuck.conn.park(None)
    for i in range(30):
        await registry.push(topic="t", event=("tick", i))  # events never merge
    assert stuck.conn.is_shutdown
    await until(lambda: len(fine_sink.messages()) == 30)
    # The operator reads why, once.
    lines = [r.getMessage() for r in caplog.records if "1013" in r.getMessage()]
    waiting = sum(len(protocol.event_frame("R", "tick", str(i))) for i in range(20))
    assert lines == [f"quartdash: closing WebSocket {stuck.id} with 1013: client is not "
                     f"reading (20 frames, {waiting} bytes waiting)"], lines


async def test_a_socket_has_a_topic_limit_and_names_are_checked(
        registry: ConnectionRegistry) -> None:
    alice, _ = await member(registry)
    for topic in ("a", "b", "c"):
        await registry.subscribe(alice, "R", topic)
    with pytest.raises(ValueError, match="max_topics_per_connection"):
        await registry.subscribe(alice, "R", "d")
    await registry.subscribe(alice, "R2", "a")  # another tab on a topic it has: fine
    for n in range(3, MAX_TABS + 1):
        await registry.subscribe(alice, f"R{n}", "a")
    with pytest.raises(ValueError, match="tabs"):  # ids a client invents are bounded too
        await registry.subscribe(alice, "one-more", "a")
    await registry.subscribe(alice, "R2", "a")  # one it has: still idempotent
    for bad in ("", "x" * 201, 5, "room\x1b[2J"):
        with pytest.raises(ValueError):
            select(topic=bad)  # type: ignore[arg-type]


async def test_push_sync_runs_on_the_loop_from_a_thread_and_refuses_the_loop(
        registry: ConnectionRegistry) -> None:
    _, sink = await member(registry)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(
        registry.push_sync(everyone=True, event=("from", "thread"))))
    thread.start()
    await until(lambda: not thread.is_alive())
    assert result == [1]
    await until(lambda: len(sink.messages()) == 1)
    with pytest.raises(RuntimeError, match="await push"):
        registry.push_sync(everyone=True, event=("x", 1))


def test_push_sync_before_the_app_serves_says_so() -> None:
    registry = ConnectionRegistry(LocalBackplane(), Sessions(),  # type: ignore[arg-type]
                                  signals.Emitter(SENDER, lambda func: func))
    with pytest.raises(RuntimeError, match="not serving"):
        registry.push_sync(everyone=True, event=("x", 1))


def test_a_push_is_encoded_once_as_dash_encodes_and_its_arguments_are_checked() -> None:
    patch = Patch()
    patch.append(3)
    push = encode(select(topic="t"), [({"type": "cell", "index": 1}, {"value": 2}),
                                      ("graph", {"extendData": [1]}),
                                      ("log", {"children": patch}),
                                      ("a", {"children": "<b>"})], ("e", {"n": 1}))
    assert push.updates[0].component == '{"index":1,"type":"cell"}'
    assert [u.coalesces for u in push.updates] == [True, False, False, True]
    assert push.updates[3].props_json == '{"children":"\\u003cb\\u003e"}'
    assert push.event == ("e", '{"n":1}')
    built = PushFrames(push).for_tab("R")
    assert json.loads(built[0][0])["payload"] == {"componentId": '{"index":1,"type":"cell"}',
                                                   "props": {"value": 2}}
    assert built[0][1] == ("R", '{"index":1,"type":"cell"}', ("value",))
    assert built[1][1] is None and built[4] == (
        '{"type":"quartdash_event","v":1,"rendererId":"R","payload":{"event":"e","data":{"n":1}}}',
        None)
    for bad in ({}, {"topic": "t", "user": "u"}, {"everyone": False}):
        with pytest.raises(ValueError, match="exactly one"):
            select(**bad)
    with pytest.raises(ValueError, match="set_props= or event="):
        encode(select(everyone=True))
    with pytest.raises(TypeError):
        encode(select(everyone=True), {"a": {}})
    with pytest.raises(TypeError):
        encode(select(everyone=True), event="tick")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        encode(select(everyone=True), event=("", 1))


def test_a_push_crosses_the_wire_as_encoded_and_a_forged_selector_is_refused() -> None:
    push = Push(Selector(topic="t"), (Update("c", ("a", "b"), '{"a":1,"b":2}', True),),
                ("e", "null"))
    assert wire.read_message(wire.command_message("r", "w", push)) == ("w", "r", push)
    assert wire.command_from_json(wire.command_to_json(Push(Selector(user="u")))) == Push(
        Selector(user="u"))
    forged = wire.command_to_json(push)
    forged["push"]["topic"] = ["a", "list"]
    with pytest.raises(TypeError):
        wire.command_from_json(forged)
    forged["push"] = {"topic": "t", "extra": 1}  # an unknown field is ignored
    assert wire.command_from_json(forged).selector == Selector(topic="t")  # type: ignore[union-attr]
    # Text spliced into pages unparsed must be one JSON value (an object for props): a
    # message that closes the frame and adds its own is refused, as are wrong shapes.
    for updates, event in (([["c", ["a"], '1}},{"type":"quartdash_event"', True]], None),
                           ([["c", ["a"], "[1]", True]], None),
                           ("abcd", None),
                           ([["c", "a", '{"a":1}', True]], None),
                           ([["c", ["a"], '{"a":1}', "yes"]], None),
                           ([], ["e", "1,2"]),
                           ([], ["e", 5])):
        bad = {**wire.command_to_json(push), "updates": updates, "event": event}
        with pytest.raises((TypeError, ValueError)):
            wire.command_from_json(bad)


async def test_frames_for_a_tab_id_are_built_once_per_push(
        registry: ConnectionRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    """However many sockets a push reaches, its frames are spliced once per tab id: 200
    sockets of quartdash's worker share one set of frames."""
    spliced: list[str] = []
    real = protocol.for_tab

    def counting(parts: protocol.TabFrame, renderer_id: str) -> str:
        spliced.append(renderer_id)
        return real(parts, renderer_id)

    monkeypatch.setattr(protocol, "for_tab", counting)
    for i in range(200):
        await member(registry, f"u{i}", f"s{i}")
    assert await registry.push(everyone=True, set_props={"x": {"y": 1}}) == 200
    assert spliced == [EVERY_TAB]


async def test_one_push_is_admitted_whole_however_large_against_the_budget(
        registry: ConnectionRegistry) -> None:
    """A push's frames for every tab and component of a socket are one update: they fit
    an empty queue together, as one frame does. (Queued one by one, the second frame of
    a push larger than half the byte budget closed a healthy socket with 1013, and the
    push still counted it.)"""
    alice, sink = await member(registry, max_pending_bytes=1000)
    await registry.subscribe(alice, "tab-a", "big")
    await registry.subscribe(alice, "tab-b", "big")
    payload = "x" * 600
    assert await registry.push(topic="big", set_props={"a": {"children": payload},
                                                       "b": {"children": payload}}) == 1
    await until(lambda: len(sink.messages()) == 4)
    assert not alice.conn.is_shutdown
    # Behind (parked) with frames waiting, the next one does not fit: closed, not counted.
    alice.conn.enable_resume()
    alice.conn.park(None)
    assert await registry.push(topic="big", event=("e", 1)) == 1
    assert await registry.push(topic="big", set_props={"a": {"children": payload}}) == 0
    assert alice.conn.is_shutdown


class SlowBackplane(LocalBackplane):
    """The in-process backplane, with presence writes that take a while and are
    recorded: what a Redis round trip looks like to the registry."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[tuple[str, ...]] = []

    async def refresh(self, info: Any) -> None:
        await asyncio.sleep(0.05)
        self.written.append(info.topics)


async def test_subscription_churn_costs_one_presence_write_in_flight_and_one_waiting() -> None:
    """Changes of one socket's topics made while its presence is being written share
    the next write, of the latest state; writes never overtake each other."""
    backplane = SlowBackplane()
    registry = ConnectionRegistry(backplane, Sessions(),  # type: ignore[arg-type]
                                  signals.Emitter(SENDER, lambda func: func), max_topics=100)
    await registry.start()
    try:
        alice, _ = await member(registry)
        await asyncio.gather(*(registry.subscribe(alice, "R", f"t{i}") for i in range(50)))
        assert len(backplane.written) == 2  # the first change, then the 49 others at once
        assert backplane.written[-1] == tuple(sorted(f"t{i}" for i in range(50)))
        assert (await registry.list(topic="t7"))[0].id == alice.id
    finally:
        await registry.stop()
        for task in TASKS:
            task.cancel()
        TASKS.clear()


async def test_a_client_that_never_says_a_tab_left_keeps_its_latest_tabs(
        registry: ConnectionRegistry) -> None:
    """Dash's own worker sends no leave, and every reload is a new tab id: the tabs
    heard from longest ago are forgotten, never the new ones."""
    plain, sink = await member(registry, ours=False)
    for n in range(MAX_TABS + 6):
        plain.saw_tab(f"t{n}")
    plain.saw_tab("t3")  # heard from again: kept, as the latest
    assert await registry.push(connection=plain.id, event=("e", 1)) == 1
    await until(lambda: len(sink.messages()) == MAX_TABS)
    tabs = {message["rendererId"] for message in sink.messages()}
    assert f"t{MAX_TABS + 5}" in tabs and "t3" in tabs and "t4" not in tabs
