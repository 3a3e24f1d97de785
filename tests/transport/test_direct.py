"""The direct write's own parts (``transport/direct.py``) on a real asyncio transport
over a socket pair: the frames it builds, read back by wsproto as a browser's side
would, when it says a write is safe, and a connection's held place (``Connection.hold``)
keeping a push's order among the socket's other frames. The servers' own checks and
the whole path are tested on real servers in tests/servers/test_direct_push.py."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from wsproto import ConnectionType
from wsproto.connection import Connection as WsConnection
from wsproto.events import TextMessage

from quartdash.testing.wsclient import messages
from quartdash.transport import protocol
from quartdash.transport.connection import Connection
from quartdash.transport.direct import TransportWriter, text_frame
from tests.transport.test_connection import owned


def _read_back(data: bytes) -> list[str]:
    """The messages a client reads from ``data`` (wsproto's parser, as a page's)."""
    client = WsConnection(ConnectionType.CLIENT)
    client.receive_data(data)
    out: list[str] = []
    for event in client.events():
        assert isinstance(event, TextMessage), event
        assert event.frame_finished and event.message_finished
        out.append(event.data)
    return out


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000])
def test_a_frame_of_any_size_reads_back_whole(size: int) -> None:
    # Bytes on each side of each length form's boundary; the largest in two-byte letters.
    text = "a" * size if size < 300_000 else "é" * (size // 2)
    payload = text.encode()
    assert _read_back(text_frame(payload)) == [text]
    # The shortest length form, as RFC 6455 requires (wsproto refuses the others).
    head = len(text_frame(payload)) - len(payload)
    assert head == (2 if len(payload) < 126 else 4 if len(payload) < 65536 else 10)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[asyncio.WriteTransport, socket.socket]]:
    """A real transport writing to a socket the test reads (or does not)."""
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    yield transport, theirs
    transport.close()
    theirs.close()


async def test_writable_until_the_peer_stops_reading_then_again_once_it_reads(
        pair: tuple[asyncio.WriteTransport, socket.socket]) -> None:
    transport, peer = pair
    state = {"open": True}
    writer = TransportWriter(transport, lambda: state["open"])
    frame = text_frame(b"x" * 16384)
    written = 0
    while writer.try_write(frame):  # the peer reads nothing: the kernel's buffers fill first
        written += 1
        assert written < 10_000, "never stopped being writable"
    high = transport.get_write_buffer_limits()[1]
    assert transport.get_write_buffer_size() > high
    # At most one frame past the high-water mark is ever buffered by the process.
    assert transport.get_write_buffer_size() <= high + len(frame)
    size = transport.get_write_buffer_size()
    assert not writer.try_write(frame)  # refused: nothing more was buffered
    assert transport.get_write_buffer_size() == size
    received = bytearray()
    async with asyncio.timeout(10):  # the peer reads: the buffer drains below the mark
        while transport.get_write_buffer_size() > high:
            try:
                received += peer.recv(1 << 20)
            except BlockingIOError:
                await asyncio.sleep(0.001)
    state["open"] = False  # the server's own check says no
    assert not writer.try_write(frame)
    state["open"] = True
    assert writer.try_write(frame)
    written += 1
    transport.close()
    assert not writer.try_write(frame)
    # Whole frames, in order, nothing lost: read the rest.
    async with asyncio.timeout(10):
        while len(received) < written * len(frame):
            try:
                chunk = peer.recv(1 << 20)
            except BlockingIOError:
                await asyncio.sleep(0.001)
                continue
            assert chunk, "the transport closed before writing everything"
            received += chunk
    assert _read_back(bytes(received)) == ["x" * 16384] * written


def _event(n: int) -> str:
    return protocol.event_frame("R", "tick", str(n))


async def _read_all(peer: socket.socket, count: int) -> list[Any]:
    """The first ``count`` messages the peer receives (polling its socket), a batch's
    (a JSON array) one by one."""
    data = bytearray()
    async with asyncio.timeout(10):
        while True:
            try:
                data += peer.recv(1 << 20)
            except BlockingIOError:
                await asyncio.sleep(0.002)
            client = WsConnection(ConnectionType.CLIENT)
            client.receive_data(bytes(data))
            got = [m for e in client.events() if isinstance(e, TextMessage)
                   for m in messages(e.data)]
            if len(got) >= count:
                return got


@pytest.mark.parametrize("writable", [True, False])
async def test_a_held_push_goes_before_every_frame_made_while_it_was_held(
        pair: tuple[asyncio.WriteTransport, socket.socket], writable: bool) -> None:
    """Between a push's delivery and its write (the cluster is told first) the socket's
    next send is held: a set_props and a callback's response made meanwhile go after
    the push, whether it is then written directly or, the socket not taking it, queued
    ahead of them."""
    transport, peer = pair
    state = {"open": True}

    async def send(text: str) -> None:  # the server's own send, on the same socket
        transport.write(text_frame(text.encode()))

    conn, task = await owned(lambda: Connection(
        send, batch_delay=0, write=TransportWriter(transport, lambda: state["open"])))
    try:
        assert conn.hold() and conn.held
        assert not conn.hold()  # one place at a time
        conn.send_frame(_event(1))
        responding = asyncio.create_task(conn.respond(_event(2)))
        await asyncio.sleep(0.05)
        with pytest.raises(BlockingIOError):
            peer.recv(1)  # nothing went out while the place was held
        push = _event(0).encode()
        state["open"] = writable
        if not conn.write_held(text_frame(push), push):
            assert not writable and conn.held
            assert conn.queue_held([(_event(0), None)])
        assert not conn.held
        await responding
        assert await _read_all(peer, 3) == [json.loads(_event(n)) for n in range(3)]
    finally:
        task.cancel()


async def test_a_held_push_keeps_its_place_across_a_resume(
        pair: tuple[asyncio.WriteTransport, socket.socket]) -> None:
    """The socket drops and a new one resumes while a push holds the next send: the
    resumed sender replays what the page missed, then waits for the push, which goes
    before what queued behind it, and is kept for a later resume as any frame is."""
    transport, peer = pair

    async def send(text: str) -> None:
        transport.write(text_frame(text.encode()))

    writer = TransportWriter(transport, lambda: True)
    conn, task = await owned(lambda: Connection(send, batch_delay=0, write=writer))
    try:
        conn.enable_resume()
        await conn.respond(_event(0))  # sent and kept: the page will not acknowledge it
        assert conn.hold()
        conn.send_frame(_event(2))
        conn.park(None)
        conn.resume(send, 0, writer)  # the page had nothing: event 0 is replayed
        await asyncio.sleep(0.05)
        push = _event(1).encode()
        assert conn.write_held(text_frame(push), push)
        got = await _read_all(peer, 4)
        assert got == [json.loads(_event(n)) for n in (0, 0, 1, 2)]
        assert conn.sent == 3  # 0, the push, 2: numbered as the page counts them
    finally:
        task.cancel()
