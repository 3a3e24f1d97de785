"""Resume (resume.py): a dropped socket comes back to its connection within the grace
window and loses nothing; past the window, or with a token it may not have, it starts
afresh. The token travels in the socket's first frame (``quartdash_hello``), never in
the URL. Real hypercorn, real sockets dropped without a close frame."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from websockets.asyncio.client import connect

from quartdash.testing.servers import Server, hypercorn, log_shows
from quartdash.testing.wsclient import ResumingClient, callback_request, hello, open_socket, ws_url
from quartdash.transport import protocol

STEPS = 1000
#: The access log as a proxy writes it: the path with its query string, then the status.
ACCESS_LOG = ["--access-logfile", "-", "--access-logformat", "access: %(R)s %(s)s"]


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"QUARTDASH_RESUME_GRACE": "3", "STREAM_RATE": "1000"}
    with hypercorn("tests.apps.stream_app:app", tmp_path_factory.mktemp("resume"), env=env,
                   args=ACCESS_LOG) as s:
        yield s


@pytest.fixture
async def client(stream_server: Server) -> Any:
    async with ResumingClient(stream_server.url) as c:
        yield c


def _go(request_id: str, n: int) -> str:
    return callback_request(request_id, "done", "children", [("go", "n_clicks", n)])


def _response(request_id: str) -> Any:
    return lambda m: m.get("type") == "callback_response" and m.get("requestId") == request_id


def _events(client: ResumingClient) -> list[int]:
    return [m["payload"]["data"] for m in client.messages if m.get("type") == "quartdash_event"]


def _counters(client: ResumingClient) -> list[int]:
    return [m["payload"]["props"]["children"] for m in client.messages
            if m.get("type") == "set_props" and m["payload"]["componentId"] == "counter"]


async def test_a_dropped_socket_resumes_with_every_event_once_in_order(stream_server: Server, client: ResumingClient) -> None:
    welcome = await client.connect()
    assert welcome["resumed"] is False and welcome["grace"] == 3
    assert client.ws is not None
    await client.ws.send(_go("g1", STEPS))
    await client.until(lambda m: m.get("type") == "quartdash_event" and m["payload"]["data"] >= 200)
    client.drop()  # mid-stream, no close frame: frames in flight are lost on the way
    await asyncio.sleep(0.3)  # the stream goes on meanwhile, into the parked connection

    again = await client.connect(resume=True)
    assert again["resumed"] is True and again["id"] == welcome["id"]
    await client.until(_response("g1"), timeout=30)

    response = next(m for m in client.messages if _response("g1")(m))
    assert response["payload"]["data"]["response"]["done"]["children"] == f"done {STEPS}"
    assert _events(client) == list(range(1, STEPS + 1))  # all, once each, in order
    assert _counters(client)[-1] == STEPS  # the latest value
    assert stream_server.log.count("resumed after") >= 1


async def test_acknowledged_frames_are_not_replayed(stream_server: Server, client: ResumingClient) -> None:
    await client.connect()
    assert client.ws is not None
    await client.ws.send(_go("g2", 300))
    await client.until(lambda m: m.get("type") == "quartdash_event" and m["payload"]["data"] >= 100)
    await client.ack()
    await client.until(lambda m: m.get("type") == "quartdash_event" and m["payload"]["data"] >= 150)
    client.drop()
    assert (await client.connect(resume=True))["resumed"] is True
    await client.until(_response("g2"))
    assert _events(client) == list(range(1, 301))


async def test_past_the_grace_window_the_page_starts_afresh(stream_server: Server, client: ResumingClient) -> None:
    first = await client.connect()
    assert client.ws is not None
    await client.ws.send(_go("g3", 100_000))  # would run for 100 s
    await client.until(lambda m: m.get("type") == "quartdash_event")
    client.drop()
    # The grace is 3 s: poll the log for the end of the kept connection.
    await log_shows(stream_server, f"socket {first['id']} not resumed within 3 s")
    welcome = await client.connect(resume=True)
    assert welcome["resumed"] is False and welcome["id"] != first["id"]
    # The old stream stopped: nothing of it reaches the new socket.
    await client.ws.send('{"type":"heartbeat"}')  # type: ignore[union-attr]
    got = await client.take()
    assert got == [{"type": "heartbeat_ack"}]


@pytest.mark.parametrize(("resume", "received"), [
    ("not-a-token", 0),  # unknown token
    ("{token}", 99999999),  # claims frames never sent
])
async def test_a_resume_it_may_not_have_starts_afresh(stream_server: Server, client: ResumingClient, resume: str, received: int) -> None:
    await client.connect()
    token = client.token
    client.drop()
    await asyncio.sleep(0.1)
    async with connect(ws_url(stream_server.url) + "?quartdash=1",
                       origin=stream_server.url, open_timeout=10) as ws:  # type: ignore[arg-type]
        await ws.send(hello(resume.format(token=token), received))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert welcome["type"] == "quartdash_welcome" and welcome["resumed"] is False
        await ws.send('{"type":"heartbeat"}')
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "heartbeat_ack"}
    # The real owner can still resume afterwards.
    assert (await client.connect(resume=True))["resumed"] is True


async def test_a_bye_is_not_kept_for_a_resume(stream_server: Server, client: ResumingClient) -> None:
    await client.connect()
    assert client.ws is not None
    await client.ws.send('{"type":"quartdash_bye","v":1}')
    async with asyncio.timeout(10):
        with pytest.raises(Exception):  # noqa: B017 - the server closes: 1000
            while True:
                await client.take()
    assert client.ws.close_code == 1000
    assert (await client.connect(resume=True))["resumed"] is False


async def test_clients_that_do_not_ask_get_no_welcome(stream_server: Server) -> None:
    async with open_socket(stream_server.url) as ws:
        await ws.send('{"type":"heartbeat"}')
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "heartbeat_ack"}


async def test_a_token_in_the_query_string_is_not_honoured(stream_server: Server, client: ResumingClient) -> None:
    """The old way to resume, the token in the URL, starts afresh: the server reads
    the token from the first frame only. The token is not used up: its owner resumes."""
    first = await client.connect()
    client.drop()
    await asyncio.sleep(0.1)
    query = f"?quartdash=1&quartdash_resume={client.token}&received={client.received}"
    async with connect(ws_url(stream_server.url) + query,
                       origin=stream_server.url, open_timeout=10) as ws:  # type: ignore[arg-type]
        await ws.send(hello())
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert welcome["type"] == "quartdash_welcome"
        assert welcome["resumed"] is False and welcome["id"] != first["id"]
    again = await client.connect(resume=True)
    assert again["resumed"] is True and again["id"] == first["id"]


async def test_the_access_log_of_a_resume_holds_no_token(stream_server: Server, client: ResumingClient) -> None:
    """hypercorn's access log, written as a proxy writes it (the query string
    included), shows the socket's URL, ``?quartdash=1``, and none of the tokens."""
    def sockets() -> list[str]:
        return [line.split("access: ", 1)[1] for line in stream_server.log.splitlines()
                if "access: GET /_dash-ws-callback" in line]

    before = len(sockets())
    tokens = [str((await client.connect())["token"])]
    client.drop()
    again = await client.connect(resume=True)
    assert again["resumed"] is True
    tokens.append(str(again["token"]))
    deadline = asyncio.get_running_loop().time() + 10
    while len(sockets()) < before + 2:  # this test's two sockets
        assert asyncio.get_running_loop().time() < deadline, stream_server.log[-2000:]
        await asyncio.sleep(0.05)
    # (another test of this module puts a token in a URL on purpose: not these)
    assert not [t for t in tokens if t in stream_server.log]
    assert sockets()[before:] == ["GET /_dash-ws-callback?quartdash=1 1.1 101"] * 2


@pytest.mark.parametrize(("first", "fragment"), [
    ('{"type":"heartbeat"}', "first frame must be a quartdash_hello"),
    (hello("t", -1), "non-negative integer received"),
    ('{"type":"quartdash_hello","v":1,"resume":"t","received":true}', "non-negative integer"),
    (hello("t" * (protocol.MAX_RESUME_TOKEN + 1)), "resume must be null or a string"),
    ("not json", "not valid JSON"),
])
async def test_a_malformed_hello_closes_with_1008(stream_server: Server, first: str, fragment: str) -> None:
    async with connect(ws_url(stream_server.url) + "?quartdash=1",
                       origin=stream_server.url, open_timeout=10) as ws:  # type: ignore[arg-type]
        await ws.send(first)
        notice = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert notice["type"] == "quartdash_close" and notice["code"] == 1008, notice
        assert fragment in notice["reason"]
        await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.close_code == 1008 and ws.close_reason == notice["reason"]
    await log_shows(stream_server, f"closing WebSocket with 1008: {notice['reason']}")


async def test_a_socket_that_sends_no_hello_is_closed_with_1008(stream_server: Server) -> None:
    async with connect(ws_url(stream_server.url) + "?quartdash=1",
                       origin=stream_server.url, open_timeout=10) as ws:  # type: ignore[arg-type]
        async with asyncio.timeout(protocol.HELLO_SECONDS + 10):
            notice = json.loads(await ws.recv())
            await ws.wait_closed()
    assert notice["type"] == "quartdash_close"
    assert ws.close_code == 1008 and "no quartdash_hello within" in (ws.close_reason or "")


async def test_with_resume_off_the_worker_is_welcomed_without_a_token(tmp_path: Any) -> None:
    """quartdash's worker waits for a welcome before it sends anything: with
    ``resume_grace`` 0 it still gets one, with no token to resume with."""
    env = {"QUARTDASH_RESUME_GRACE": "0"}
    with hypercorn("tests.apps.stream_app:app", tmp_path, env=env) as server:
        async with ResumingClient(server.url) as c:
            welcome = await c.connect()
            assert (welcome["token"], welcome["grace"], welcome["resumed"]) == (None, 0, False)
            assert c.ws is not None
            await c.ws.send('{"type":"heartbeat"}')
            assert await c.take() == [{"type": "heartbeat_ack"}]


async def test_a_tab_that_leaves_after_a_resume_takes_its_callbacks(tmp_path: Any) -> None:
    """The callbacks each tab runs outlive a resume, and so does the record of them: a
    tab that leaves after its socket resumed still takes its streaming callback along
    (it kept streaming into a closed tab, holding a slot of max_callbacks_in_flight)."""
    token = "resume-admin-token-0123456789"
    env = {"QUARTDASH_RESUME_GRACE": "10", "STREAM_RATE": "50",
           "QUARTDASH_ADMIN_TOKEN": token}
    with hypercorn("tests.apps.stream_app:app", tmp_path, env=env) as server:

        def running() -> list[int]:
            response = requests.get(f"{server.url}/_quartdash/admin/connections",
                                    headers={"Authorization": f"Bearer {token}"}, timeout=10)
            return [info["callbacks_running"] for info in response.json()]

        async def until_running(expected: list[int]) -> None:
            async with asyncio.timeout(10):
                while await asyncio.to_thread(running) != expected:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)

        async with ResumingClient(server.url) as client:
            await client.connect()
            assert client.ws is not None
            await client.ws.send(_go("long", 100_000))  # two thousand seconds of steps
            await client.until(lambda m: m.get("type") == "quartdash_event")
            await until_running([1])
            client.drop()
            assert (await client.connect(resume=True))["resumed"] is True
            await client.ws.send(json.dumps({"type": "quartdash_leave", "v": 1,
                                             "rendererId": "R"}))
            await until_running([0])  # the socket stays, without the tab's stream
