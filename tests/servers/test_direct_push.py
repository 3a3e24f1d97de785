"""A push written straight to the socket (``transport/direct.py``), under each server.

Under hypercorn and uvicorn a push to an idle socket skips ASGI and goes out as one
uncompressed frame, while the server's own frames (callback responses) stay compressed
when the page negotiated permessage-deflate. Read here frame by frame on a raw socket,
which is the only way to tell the two paths apart from outside: the RSV1 bit of each
frame, and one inflater over the compressed ones, as RFC 7692 asks of a page (a
compressed frame the server made after a direct one must still inflate). granian
negotiates no compression and has no direct write; its pushes go through ASGI.
"""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.asyncio.client import connect

from quartdash.testing.servers import SERVERS, Server, serve
from quartdash.testing.wsclient import callback_request, messages
from tests.authclient import COOKIE, SECRET, login
from tests.transport.test_hostile_review import RawSocket

APP = "tests.apps.topics_app:app"
TOPIC = "direct"
WAIT = 10.0
#: A push's payload: well over a deflate window's worth of repeats, so a compressed
#: frame after it would reference it if the server's compressor had seen it.
PAD = "0123456789abcdef" * 64


@pytest.fixture(scope="module", params=SERVERS)
def served(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Server]]:
    name = request.param
    with serve(name, APP, tmp_path_factory.mktemp(name),
               env={"QUARTDASH_SECRET_KEY": SECRET}) as server:
        yield name, server


class Frames(RawSocket):
    """A socket opened by hand with permessage-deflate offered; ``read`` gives each
    message with whether it came compressed (RSV1), inflating those with one
    inflater for the whole socket, as a page does."""

    def __init__(self, server: Server, cookie: str, receive_buffer: int = 0) -> None:
        super().__init__(server, deflate=True, headers=f"Cookie: {COOKIE}={cookie}\r\n",
                         receive_buffer=receive_buffer)
        self.sock.settimeout(WAIT)
        self.deflate = b"permessage-deflate" in self.head.lower()
        self.inflater = zlib.decompressobj(-15)
        #: Messages read but not yet handed out (the rest of a batch).
        self.pending: list[tuple[bool, dict[str, Any]]] = []

    def send(self, text: str) -> None:
        payload = text.encode()
        assert len(payload) < 65536
        head = (struct.pack("!BB", 0x81, 0x80 | len(payload)) if len(payload) < 126
                else struct.pack("!BBH", 0x81, 0x80 | 126, len(payload)))
        self.sock.sendall(head + b"\0\0\0\0" + payload)  # a zero mask: reads as given

    def read(self) -> tuple[bool, str]:
        """The next whole message: (compressed, text). Only single-frame messages are
        expected from the server."""
        deadline = time.monotonic() + WAIT
        while True:
            if len(self.buffer) >= 2:
                first, length, start = self.buffer[0], self.buffer[1] & 0x7F, 2
                if length == 126:
                    length, start = struct.unpack("!H", self.buffer[2:4])[0], 4
                elif length == 127:
                    length, start = struct.unpack("!Q", self.buffer[2:10])[0], 10
                if len(self.buffer) >= start + length:
                    payload = self.buffer[start:start + length]
                    self.buffer = self.buffer[start + length:]
                    assert first & 0x80, "a fragmented message"
                    assert first & 0x0F == 1, f"opcode {first & 0x0F}"
                    compressed = bool(first & 0x40)
                    if compressed:
                        payload = self.inflater.decompress(payload + b"\0\0\xff\xff")
                    return compressed, payload.decode()
            assert time.monotonic() < deadline, "no message in time"
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection"
            self.buffer += chunk

    def until_response(self, request_id: str) -> list[tuple[bool, dict[str, Any]]]:
        """Every message up to the answer to ``request_id``: (compressed, message).
        What follows it in the same batch is kept for the next call."""
        seen: list[tuple[bool, dict[str, Any]]] = []
        while True:
            if not self.pending:
                compressed, text = self.read()
                self.pending = [(compressed, message) for message in messages(text)]
            item = self.pending.pop(0)
            seen.append(item)
            if item[1].get("requestId") == request_id:
                return seen


def _push(server: Server, seq: Any) -> int:
    response = requests.post(server.url + "/push", json={"topic": TOPIC, "seq": seq},
                             timeout=WAIT)
    assert response.status_code == 200, response.text
    return int(response.json()["queued"])


def test_pushes_skip_asgi_where_the_server_allows_and_compression_stays_valid(
        served: tuple[str, Server]) -> None:
    name, server = served
    cookie = login(server.url, "ada")
    page = Frames(server, cookie)
    try:
        page.send(callback_request("j", "joined", "children", [("joined", "title", TOPIC)]))
        page.until_response("j")
        rounds = 20
        for n in range(rounds):
            assert _push(server, [n, PAD]) == 1
            # A callback after each push: the server's next compressed frame must
            # inflate with the window the page has (which the push did not enter).
            page.send(callback_request(f"w{n}", "who", "children", [("who", "id", "who")]))
            seen = page.until_response(f"w{n}")
            pushes = [(c, m) for c, m in seen if m.get("type") == "set_props"]
            responses = [(c, m) for c, m in seen if m.get("requestId") == f"w{n}"]
            assert [m["payload"]["props"]["children"] for _, m in pushes] == [[n, PAD]]
            assert responses[0][1]["payload"]["data"]["response"]["who"]["children"] == "Signed in as ada"
            if name == "granian":
                assert not page.deflate  # no compression, and no direct write
                continue
            assert page.deflate, f"{name} did not negotiate permessage-deflate"
            assert responses[0][0], "the callback's response came uncompressed"
            assert not pushes[0][0], "the push came compressed: it went through ASGI"
    finally:
        page.sock.close()


def test_a_page_that_stops_reading_hands_pushes_to_the_queue_and_back(
        served: tuple[str, Server]) -> None:
    """While the page does not read, the socket's buffer fills and pushes are queued
    (they coalesce to the latest, as any set_props while behind); once it reads
    again, they are written directly again. What arrives keeps the order made and
    ends with the last push, and the callback asked for meanwhile is answered."""
    _, server = served
    cookie = login(server.url, "bob")
    page = Frames(server, cookie, receive_buffer=4096)
    big = PAD * 16  # 16 KiB a push
    try:
        page.send(callback_request("j", "joined", "children", [("joined", "title", TOPIC)]))
        page.until_response("j")
        total = 400  # 6.4 MiB: more than loopback's buffers hold
        for n in range(total):
            if n == total // 2:
                page.send(callback_request("mid", "who", "children", [("who", "id", "who")]))
            assert _push(server, [n, big]) == 1
        seen = [m for _, m in page.until_response("mid")]
        page.send(callback_request("end", "who", "children", [("who", "id", "who")]))
        seen += [m for _, m in page.until_response("end")]
        got = [m["payload"]["props"]["children"][0] for m in seen
               if m.get("type") == "set_props"]
        assert got == sorted(set(got)), "pushes out of order or twice"
        assert got[-1] == total - 1, "the last push is missing"
        assert len(got) < total, "nothing was queued: the page never fell behind"
        # Reading again, pushes are written directly again (where the server allows).
        assert not page.pending
        for n in range(total, total + 3):
            _push(server, [n, "x"])
            compressed, text = page.read()
            assert [m["payload"]["props"]["children"] for m in messages(text)] == [[n, "x"]]
            assert not compressed
    finally:
        page.sock.close()


@pytest.mark.parametrize(("name", "args", "expected"), [
    ("hypercorn", (), "yes"),
    ("uvicorn", (), "yes"),  # --ws auto: websockets' sans-I/O protocol
    ("uvicorn", ("--ws", "websockets-sansio"), "yes"),
    ("uvicorn", ("--ws", "wsproto"), "yes"),
    ("uvicorn", ("--ws", "websockets"), "no"),  # the legacy protocol
    ("granian", (), "no"),
])
async def test_which_servers_give_a_direct_write(
        name: str, args: tuple[str, ...], expected: str, tmp_path: Path) -> None:
    """Found from the server's own objects behind the ASGI ``send``: a renamed class in
    a new release of a server must show here, not as a silent fall back to ASGI."""
    with serve(name, "tests.apps.plain_ws_app:app", tmp_path, args=list(args)) as server:
        url = server.url.replace("http://", "ws://") + "/direct"
        async with connect(url, open_timeout=WAIT) as ws:
            async with asyncio.timeout(WAIT):
                assert await ws.recv() == expected
