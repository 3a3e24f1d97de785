"""The event channel, server side: ``ctx.websocket.emit`` from async and thread-pool
callbacks delivers every event once, in order, also past the outbound queue's limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from quartdash import Input, Output, QuartDash, ctx, dcc, html, set_props
from quartdash.callbacks.runner import GENERIC_ERROR
from quartdash.config import DEFAULTS
from quartdash.testing.wsclient import callback_request
from tests.transport.test_inprocess import ORIGIN, WS, frames_until_response, started

MANY = DEFAULTS.max_pending_frames * 3  # more than the queue may hold at once


@pytest.fixture
async def client() -> AsyncIterator[Any]:
    app = QuartDash(__name__)
    app.layout = html.Div([dcc.Input(id="n"), html.Div(id="a"), html.Div(id="b"),
                           html.Div(id="c"), html.Div(id="d"), html.Div(id="p")])

    @app.callback(Output("a", "children"), Input("n", "value"))
    async def interleaved(n: int) -> str:
        for i in range(n):
            await ctx.websocket.emit("tick", {"i": i})
            if i % 100 == 0:
                set_props("p", {"children": i})
        return "done"

    @app.callback(Output("b", "children"), Input("n", "n_submit"))
    def in_thread(n: int) -> str:
        for i in range(n):
            ctx.websocket.emit_sync("tock", i)
        return "done"

    @app.callback(Output("c", "children"), Input("n", "n_blur"))
    async def flood(n: int) -> str:
        for i in range(n):
            await ctx.websocket.emit("flood", i)
        return "done"

    @app.callback(Output("d", "children"), Input("n", "id"))
    async def bad_name(_id: str) -> str:
        await ctx.websocket.emit("", 1)
        return "unreachable"

    async for test_client in started(app):
        yield test_client


def events(frames: list[dict[str, Any]], name: str) -> list[Any]:
    return [m["payload"]["data"] for m in frames
            if m["type"] == "quartdash_event" and m["payload"]["event"] == name]


async def test_every_event_in_order_and_in_order_with_set_props(client: Any) -> None:
    async with client.websocket(WS, headers=ORIGIN) as ws:
        await ws.send(callback_request("r", "a", "children", [("n", "value", 1000)]))
        response, before = await frames_until_response(ws, "r")
    assert response["payload"]["status"] == "ok"
    assert [e["i"] for e in events(before, "tick")] == list(range(1000))
    assert all(m["v"] == 1 and m["rendererId"] == "R" for m in before
               if m["type"] == "quartdash_event")
    # each set_props comes right after the event emitted just before it
    order = [("e", m["payload"]["data"]["i"]) if m["type"] == "quartdash_event"
             else ("p", m["payload"]["props"]["children"]) for m in before]
    for k, item in enumerate(order):
        if item[0] == "p":
            assert order[k - 1] == ("e", item[1])


async def test_thread_pool_callbacks_emit_too(client: Any) -> None:
    async with client.websocket(WS, headers=ORIGIN) as ws:
        await ws.send(callback_request("t", "b", "children", [("n", "n_submit", 1000)]))
        _, before = await frames_until_response(ws, "t")
    assert events(before, "tock") == list(range(1000))


async def test_emitting_past_the_queue_limit_waits_instead_of_dropping(client: Any) -> None:
    async with client.websocket(WS, headers=ORIGIN) as ws:
        await ws.send(callback_request("f", "c", "children", [("n", "n_blur", MANY)]))
        response, before = await frames_until_response(ws, "f", timeout=60)
    assert response["payload"]["status"] == "ok"
    assert events(before, "flood") == list(range(MANY))


async def test_a_bad_event_name_is_the_callbacks_error(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An error of the app's: the page is told only that it failed (outside Dash's debug
    mode), the log says why."""
    async with client.websocket(WS, headers=ORIGIN) as ws:
        await ws.send(callback_request("x", "d", "children", [("n", "id", "n")]))
        response, _ = await frames_until_response(ws, "x")
    assert response["payload"]["status"] == "error"
    assert response["payload"]["message"] == GENERIC_ERROR
    assert "an event name is a string" in caplog.text
