"""The direct write's own parts (``transport/direct.py``) on a real asyncio transport
over a socket pair: the frames it builds, read back by wsproto as a browser's side
would, and when it says a write is safe. The servers' own checks and the whole path are
tested on real servers in tests/servers/test_direct_push.py."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from wsproto import ConnectionType
from wsproto.connection import Connection as WsConnection
from wsproto.events import TextMessage

from quartdash.transport.direct import TransportWriter, text_frame


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
