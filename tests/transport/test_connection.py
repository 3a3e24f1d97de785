"""A connection's explicit state (connection.py): each step moves it as the docstring's
diagram says, and a step its state forbids raises ``InvalidState`` naming both states.

The connection is driven through its own interface: ``send`` is the one thing it needs
of a socket (an awaitable taking a text frame), here one that records what it is given
or fails as a dropped socket's send does. Real sockets drive the same code in
test_resume.py, test_backpressure.py and test_inprocess.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from dash.exceptions import WebsocketDisconnected

from quartdash.exceptions import InvalidState
from quartdash.transport import protocol
from quartdash.transport.connection import CLOSED, CLOSING, OPEN, PARKED, Connection


class Sink:
    """A socket's send that keeps the frames it was given; ``broken`` makes it fail."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.broken = False

    async def __call__(self, text: str) -> None:
        if self.broken:
            raise ConnectionError("the peer went away")
        self.frames.append(text)

    def messages(self) -> list[Any]:
        out: list[Any] = []
        for frame in self.frames:
            data = json.loads(frame)
            out += data if isinstance(data, list) else [data]
        return out


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` (the sender is a task of its own) until it holds."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - what it waits for sets no event
            await asyncio.sleep(0.005)


async def owned(make: Callable[[], Connection]) -> tuple[Connection, asyncio.Task[None]]:
    """A connection made inside a task of its own, which answers for it (``abort``
    cancels that task, not the test's)."""
    made: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

    async def handler() -> None:
        made.set_result(make())
        await asyncio.Event().wait()

    task = asyncio.create_task(handler())
    return await made, task


def event(n: int) -> str:
    return protocol.event_frame("R", "tick", str(n))


async def test_stop_then_finish_go_from_open_to_closing_to_closed() -> None:
    conn = Connection(Sink())
    assert conn.state is OPEN and not conn.is_shutdown
    conn.stop()
    assert conn.state is CLOSING and conn.is_shutdown
    conn.stop()  # idempotent
    assert conn.state is CLOSING
    await conn.finish()
    assert conn.state is CLOSED and conn.is_shutdown
    conn.stop()  # a late stop does not reopen the teardown
    assert conn.state is CLOSED


async def test_abort_records_the_close_stops_and_cancels_the_owner_once() -> None:
    conn, task = await owned(lambda: Connection(Sink()))
    reason = "x" * 500
    assert conn.abort(4401, reason)
    assert conn.state is CLOSING
    assert conn.abort_reason == (4401, protocol.close_reason(reason))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not conn.abort(1013, "again")  # closing already: the first close stands
    assert conn.abort_reason == (4401, protocol.close_reason(reason))


async def test_stop_fails_get_prop_and_cancels_callbacks() -> None:
    conn = Connection(Sink())
    future = conn.request_prop("R", "c", "value")
    async def forever() -> None:
        await asyncio.Event().wait()

    callback = asyncio.create_task(forever())
    conn.running["R", "r1"] = callback
    conn.stop()
    assert isinstance(future.exception(), WebsocketDisconnected)
    with pytest.raises(asyncio.CancelledError):
        await callback
    with pytest.raises(WebsocketDisconnected):
        conn.request_prop("R", "c", "value")


async def test_a_parked_connection_queues_then_resumes_with_what_the_page_missed() -> None:
    first, second = Sink(), Sink()
    conn, task = await owned(lambda: Connection(first, batch_delay=0))
    conn.enable_resume()
    for n in (1, 2):  # one frame each
        conn.send_frame(event(n))
        await until(lambda n=n: conn.sent == n)  # type: ignore[misc]
    conn.park(task)
    assert conn.state is PARKED and conn.resumable and conn.behind()
    conn.send_frame(event(3))
    await asyncio.sleep(0.05)
    assert len(first.frames) == 2  # nothing is sent while parked
    assert conn.can_resume(1) and not conn.can_resume(3)  # frame 3 was never sent
    conn.resume(second, 1)
    assert conn.state is OPEN
    await until(lambda: len(second.messages()) == 2)
    assert [m["payload"]["data"] for m in second.messages()] == [2, 3]
    task.cancel()


async def test_a_failed_send_parks_a_resumable_connection_and_closes_any_other() -> None:
    for resumable, expected in ((True, PARKED), (False, CLOSING)):
        sink = Sink()
        conn = Connection(sink, batch_delay=0)
        if resumable:
            conn.enable_resume()
        sink.broken = True
        await conn.respond(event(1))
        assert conn.state is expected
        await conn.finish()


async def test_steps_the_state_forbids_name_what_they_expected_and_found() -> None:
    conn = Connection(Sink())
    conn.enable_resume()
    with pytest.raises(InvalidState, match="connection is open, not parked"):
        conn.resume(Sink(), 0)
    conn.stop()
    with pytest.raises(InvalidState, match="connection is closing, not open or parked"):
        conn.park(None)
    assert not conn.resumable and not conn.can_resume(0)


async def test_room_returns_once_the_connection_closes() -> None:
    conn = Connection(Sink(), max_pending=4)
    conn.park(None)  # nothing is sent: the queue fills
    conn.send_frame(event(1))
    conn.send_frame(event(2))
    assert conn.crowded()
    waiter = asyncio.create_task(conn.room())
    await asyncio.sleep(0.01)
    conn.stop()
    async with asyncio.timeout(5):
        await waiter
