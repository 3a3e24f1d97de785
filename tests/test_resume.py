"""Resume (resume.py): a dropped socket comes back to its connection within the grace
window and loses nothing; past the window, or with a token it may not have, it starts
afresh. Real hypercorn, real sockets dropped without a close frame."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.servers import Server, hypercorn, log_shows
from tests.wsclient import ResumingClient, callback_request, open_socket, ws_url

STEPS = 1000


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"QUARTDASH_RESUME_GRACE": "3", "STREAM_RATE": "1000"}
    with hypercorn("tests.apps.stream_app:app", tmp_path_factory.mktemp("resume"), env=env) as s:
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


@pytest.mark.parametrize("query", [
    "quartdash_resume=not-a-token&received=0",  # unknown token
    "quartdash_resume={token}&received=99999999",  # claims frames never sent
    "quartdash_resume={token}&received=-1",  # not a count
    "quartdash_resume={token}&received=" + "9" * 40,  # absurd
])
async def test_a_resume_it_may_not_have_starts_afresh(stream_server: Server, client: ResumingClient, query: str) -> None:
    await client.connect()
    token = client.token
    client.drop()
    await asyncio.sleep(0.1)
    async with connect(ws_url(stream_server.url) + "?quartdash=1&" + query.format(token=token),
                       origin=stream_server.url, open_timeout=10) as ws:  # type: ignore[arg-type]
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
