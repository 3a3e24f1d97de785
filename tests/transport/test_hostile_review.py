"""Hostile clients, second review: frames crafted by hand on a raw socket against a real
hypercorn, the server's memory and other clients' round trips measured while they run.

The figures in each docstring are the review's, measured before the fix."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator

import pytest

from quartdash.testing.servers import Server, hypercorn, log_shows
from quartdash.testing.wsclient import echo_rtt, open_socket
from tests.transport.test_hostile import MB, PeakRss


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with hypercorn("tests.apps.hostile_app:app", tmp_path_factory.mktemp("review")) as served:
        yield served


class RawSocket:
    """A WebSocket opened by hand, so that any frame at all can be sent."""

    def __init__(self, server: Server, deflate: bool = False, headers: str = "",
                 receive_buffer: int = 0) -> None:
        """``headers``: more request header lines (each ending in CRLF);
        ``receive_buffer``: a small receive window, set before connecting."""
        port = int(server.url.rsplit(":", 1)[1])
        self.sock = socket.socket()
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        extensions = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
        self.sock.sendall(
            f"GET /_dash-ws-callback HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {server.url}\r\n{extensions}{headers}"
            "\r\n".encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, f"closed during the handshake: {self.buffer!r}"
            self.buffer += chunk
        self.head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        assert b" 101 " in self.head.split(b"\r\n")[0], self.head

    @staticmethod
    def frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv1: bool = False) -> bytes:
        """One client frame (masked with a zero key, so the payload reads as given)."""
        first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        if len(payload) < 126:
            head = struct.pack("!BB", first, 0x80 | len(payload))
        elif len(payload) < 65536:  # the shortest form, as RFC 6455 requires
            head = struct.pack("!BBH", first, 0x80 | 126, len(payload))
        else:
            head = struct.pack("!BBQ", first, 0x80 | 127, len(payload))
        return head + b"\0\0\0\0" + payload

    def close_frame(self, timeout: float = 10.0) -> tuple[int, bytes] | None:
        """Read the server's frames until its close: (code, reason); None if the
        connection ended without one."""
        self.sock.settimeout(min(timeout, 1.0))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while len(self.buffer) >= 2:
                opcode, length, start = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
                if length == 126:
                    length, start = struct.unpack("!H", self.buffer[2:4])[0], 4
                elif length == 127:
                    length, start = struct.unpack("!Q", self.buffer[2:10])[0], 10
                if len(self.buffer) < start + length:
                    break
                payload = self.buffer[start:start + length]
                self.buffer = self.buffer[start + length:]
                if opcode == 8:
                    return struct.unpack("!H", payload[:2])[0], payload[2:]
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue  # (another thread may have set a shorter timeout)
            except OSError:
                return None
            if not chunk:
                return None
            self.buffer += chunk
        return None

    def flood(self, unit: bytes, total: int, seconds: float) -> int:
        """Send ``unit`` over and over, up to ``total`` bytes or ``seconds``, or until
        the server closes the connection; the bytes sent."""
        sent, deadline = 0, time.monotonic() + seconds
        self.sock.settimeout(1)
        with contextlib.suppress(OSError):
            while sent < total and time.monotonic() < deadline:
                self.sock.sendall(unit)
                sent += len(unit)
        return sent

    def close(self) -> None:
        self.sock.close()


def _deflated(size: int) -> bytes:
    """``size`` bytes of one letter as one permessage-deflate payload (a few KiB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = packer.compress(b"a" * size) + packer.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]  # without the 00 00 ff ff tail, as RFC 7692 sends it


@pytest.mark.parametrize("opener", ["invalid UTF-8", "inflated past the limit", "bad close code"])
def test_bytes_after_a_malformed_frame_are_dropped(server: Server, opener: str) -> None:
    """A malformed frame ends wsproto's parser; everything after it was kept unparsed
    for the 5 s the closing socket waits. The review sent one bad frame and then streamed
    junk: 1.3 to 1.8 GB of growth from one socket (1.8 GB in 5 s on loopback). Now what
    follows is dropped: 256 MiB of junk grows the server by at most 16 MB."""
    ws = RawSocket(server, deflate=opener == "inflated past the limit")
    if opener == "invalid UTF-8":
        first, code = RawSocket.frame(1, b"\xff\xfe"), 1007
    elif opener == "bad close code":
        first, code = RawSocket.frame(8, struct.pack("!H", 999)), 1002
    else:  # 2 MiB of one letter, deflated: a few KiB on the wire
        first, code = RawSocket.frame(1, _deflated(2 * MB), rsv1=True), 1009
    try:
        with PeakRss(server) as rss:
            ws.sock.sendall(first)
            sent = ws.flood(b"\0" * MB, 256 * MB, 4.0)
        print(f"{opener} then {sent / MB:.0f} MiB of junk: +{rss.growth_mb:.1f} MB")
        assert sent >= 64 * MB, f"only {sent / MB:.0f} MiB went out: the test proves nothing"
        assert rss.growth_mb <= 16, f"the server grew by {rss.growth_mb:.1f} MB"
        closed = ws.close_frame()
        assert closed is not None and closed[0] == code, closed
    finally:
        ws.close()


async def test_compressed_frames_after_a_close_leave_the_close_readable(server: Server) -> None:
    """After the server closes (here 1008, for text that is not JSON), a compressed
    frame used to fail wsproto's parser, so the peer's own close frame went unread and
    the connection stayed open the full 5 s close wait. Now such a frame is dropped
    uninflated and the peer's close ends the connection at once."""
    ws = RawSocket(server, deflate=True)
    try:
        ws.sock.sendall(RawSocket.frame(1, b"not json"))
        closed = ws.close_frame()
        assert closed is not None and closed[0] == 1008, closed
        start = time.monotonic()
        ws.sock.sendall(RawSocket.frame(1, _deflated(16 * MB), rsv1=True)
                        + RawSocket.frame(8, struct.pack("!H", 1008)))
        ws.sock.settimeout(10)
        with contextlib.suppress(OSError):
            while ws.sock.recv(65536):
                pass
        took = time.monotonic() - start
    finally:
        ws.close()
    print(f"connection ended {took:.2f} s after the peer's close")
    assert took < 3.0, f"the server held the connection {took:.1f} s after the peer's close"


@pytest.mark.parametrize("kind", ["pings", "empty fragments"])
async def test_a_frame_flood_is_closed_and_others_keep_answering(server: Server,
                                                                  kind: str) -> None:
    """Frames that never become a message escaped every limit: the review's ping flood
    from one socket delayed another client's echo by 12 s (31 s of server CPU), a flood
    of empty fragments of one endless message by 4 s; neither was ever closed. Now every
    frame draws on a per-socket bucket (4 x rate_limit a second): the flood is closed
    with 4429, and another client's echo stays well under a second."""
    ws = RawSocket(server)
    if kind == "pings":
        unit = RawSocket.frame(9) * 10_000
        # Read the pongs as they come (the server is never blocked on this client).
        result: list[tuple[int, bytes] | None] = []
        reader = threading.Thread(target=lambda: result.append(ws.close_frame(15.0)),
                                  daemon=True)
        reader.start()
    else:
        ws.sock.sendall(RawSocket.frame(1, b"", fin=False))
        unit = RawSocket.frame(0, b"", fin=False) * 10_000
    try:
        async with open_socket(server.url) as other:
            await echo_rtt(other, 0)
            flood = asyncio.ensure_future(asyncio.to_thread(ws.flood, unit, 1 << 40, 3.0))
            worst, n = 0.0, 0
            while not flood.done():
                n += 1
                worst = max(worst, await echo_rtt(other, n, timeout=30))
                await asyncio.sleep(0.01)
            sent = await flood
        if kind == "pings":
            reader.join(20)
            closed = result[0] if result else None
        else:
            closed = ws.close_frame()
    finally:
        ws.close()
    print(f"{kind}: {sent // 6:,} frames sent; another client's worst echo {worst * 1000:.0f} ms"
          f" over {n}; closed with {closed}")
    assert closed is not None and closed[0] == 4429, closed
    assert worst < 1.0, f"another client waited {worst:.2f} s"
    await log_shows(server, "closing WebSocket with 4429: frame rate limit exceeded")



# --- the HTTP callback route ----------------------------------------------------------

def _slow_chunked_post(server: Server, address: str) -> socket.socket:
    """An HTTP callback whose chunked body has begun and never ends (a slowloris)."""
    sock = socket.socket()
    sock.bind((address, 0))
    sock.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    sock.sendall(b"POST /_dash-update-component HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"1\r\n{\r\n")
    return sock


def test_slow_http_bodies_count_in_flight(server: Server) -> None:
    """A chunked HTTP callback was counted against its client only once its body was
    read: the review held 1,000 slow bodies open from one address (+45 MB, 1,000 file
    descriptors, each for Quart's 60 s body timeout), none refused. Now a request counts
    in flight while its body arrives: past 64 from one address the answer is 429 at once,
    and another address is served."""
    held = [_slow_chunked_post(server, "127.0.0.8") for _ in range(64)]
    extra = [_slow_chunked_post(server, "127.0.0.8") for _ in range(4)]
    try:
        for sock in extra:
            sock.settimeout(10)
            answer = b""
            with contextlib.suppress(OSError):
                while b"in flight" not in answer and (chunk := sock.recv(4096)):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 429"), answer[:200]
            assert b"too many callbacks in flight" in answer, answer
        other = socket.socket()
        other.bind(("127.0.0.9", 0))
        other.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
        body = (b'{"output":"out.children","outputs":{"id":"out","property":"children"},'
                b'"inputs":[{"id":"in","property":"children","value":"ok"}],'
                b'"changedPropIds":["in.children"],"state":[]}')
        other.sendall(b"POST /_dash-update-component HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: application/json\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        other.settimeout(10)
        reply = b""
        with contextlib.suppress(OSError):
            while chunk := other.recv(4096):
                reply += chunk
        other.close()
        assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    finally:
        for sock in held + extra:
            sock.close()
