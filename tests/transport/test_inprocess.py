"""The whole app in process, through Quart's test client: no network, real Dash."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import dash
import pytest
from dash._hooks import hooks as dash_hooks
from quart.testing.connections import WebsocketResponseError

from quartdash import Input, Output, Patch, QuartDash, State, callback, ctx, dcc, html, set_props
from quartdash.testing.wsclient import callback_request, inprocess_close, messages
from quartdash.transport.protocol import CloseCode

ORIGIN = {"Origin": "http://localhost"}
WS = "/_dash-ws-callback"


def make_app(**kwargs: Any) -> QuartDash:
    app = QuartDash(__name__, **kwargs)
    app.layout = html.Div([dcc.Input(id="in", value="x"), html.Div(id="out"), html.Div(id="aux")])
    return app


@pytest.fixture
def restore_hooks() -> Iterator[None]:
    saved = {k: list(v) for k, v in dash_hooks._ns.items()}
    yield
    dash_hooks._ns.clear()
    dash_hooks._ns.update(saved)


async def frames_until_response(
    ws: Any, request_id: str, timeout: float = 5.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    before: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            for msg in messages(await ws.receive()):
                if msg.get("type") == "callback_response" and msg.get("requestId") == request_id:
                    return msg, before
                before.append(msg)


async def started(app: QuartDash) -> AsyncIterator[Any]:
    async with app.server.test_app() as test_app:
        yield test_app.test_client()


@pytest.fixture
async def echo_client() -> AsyncIterator[Any]:
    app = make_app()
    threads: list[str] = []

    @app.callback(Output("out", "children"), Input("in", "value"))
    async def echo(value: str) -> str:
        return value

    @app.callback(Output("aux", "children"), Input("in", "n_submit"), State("in", "value"))
    def in_thread(n: int, value: str) -> str:
        threads.append(threading.current_thread().name)
        return f"{value}:{ctx.cookies.get('flavor')}:{ctx.headers.get('X-Test')}"

    app.threads = threads  # type: ignore[attr-defined]
    async for client in started(app):
        client.app_ = app
        yield client


async def test_async_and_sync_callbacks_over_websocket(echo_client: Any) -> None:
    headers = {**ORIGIN, "X-Test": "yes", "Cookie": "flavor=lime"}
    async with echo_client.websocket(WS, headers=headers) as ws:
        await ws.send(callback_request("a", "out", "children", [("in", "value", "hello")]))
        response, _ = await frames_until_response(ws, "a")
        assert response["payload"]["data"]["response"] == {"out": {"children": "hello"}}
        request = json.loads(callback_request("b", "aux", "children", [("in", "n_submit", 1)]))
        request["payload"]["state"] = [{"id": "in", "property": "value", "value": "v"}]
        await ws.send(json.dumps(request))
        response, _ = await frames_until_response(ws, "b")
        # the handshake's cookies and headers reach callback_context, as over HTTP
        assert response["payload"]["data"]["response"] == {"aux": {"children": "v:lime:yes"}}
    assert echo_client.app_.threads[0].startswith("quartdash-callback")


async def test_sync_callback_over_http_runs_in_the_pool(echo_client: Any) -> None:
    body = {
        "output": "aux.children",
        "outputs": {"id": "aux", "property": "children"},
        "inputs": [{"id": "in", "property": "n_submit", "value": 1}],
        "state": [{"id": "in", "property": "value", "value": "h"}],
        "changedPropIds": ["in.n_submit"],
    }
    response = await echo_client.post("/_dash-update-component", json=body, headers={"Cookie": "flavor=fig", "X-Test": "http"})
    assert response.status_code == 200
    assert (await response.get_json())["response"] == {"aux": {"children": "h:fig:http"}}
    assert echo_client.app_.threads[0].startswith("quartdash-callback")


async def test_unknown_callback_and_malformed_request_answer_and_socket_lives(echo_client: Any) -> None:
    async with echo_client.websocket(WS, headers=ORIGIN) as ws:
        await ws.send(callback_request("u", "nope", "children", [("in", "value", 1)]))
        response, _ = await frames_until_response(ws, "u")
        assert response["payload"]["status"] == "error"
        assert "not found" in response["payload"]["message"]
        bad = json.loads(callback_request("m", "out", "children", [("in", "value", 1), ("in", "value", 2)]))
        await ws.send(json.dumps(bad))
        response, _ = await frames_until_response(ws, "m")
        assert response["payload"] == {"status": "error", "message": "expected 1 inputs, got 2"}
        await ws.send('{"type":"heartbeat"}')
        assert messages(await ws.receive()) == [{"type": "heartbeat_ack"}]
        await ws.send(b"\x00binary")
        assert await inprocess_close(ws) == CloseCode.UNSUPPORTED_DATA


async def test_refused_origin_is_http_403_before_accept(echo_client: Any) -> None:
    with pytest.raises(WebsocketResponseError) as info:
        async with echo_client.websocket(WS, headers={"Origin": "http://evil.test"}) as ws:
            await ws.receive()
    assert info.value.response.status_code == 403


async def test_set_props_components_patch_and_get_prop() -> None:
    app = make_app()

    @app.callback(Output("out", "children"), Input("in", "value"))
    async def stream(value: str) -> str:
        set_props("aux", {"children": html.B(value, id="b"), "title": "t"})
        patch = Patch()
        patch.append(value)
        set_props("out", {"data": patch})
        seen = await ctx.websocket.get_prop("in", "value")
        return f"page has {seen}"

    @app.callback(Output("aux", "children"), Input("in", "n_submit"))
    def sync_reader(n: int) -> str:
        return f"sync sees {ctx.websocket.get_prop_sync('in', 'value')}"

    async for client in started(app):
        async with client.websocket(WS, headers=ORIGIN) as ws:
            await ws.send(callback_request("s", "out", "children", [("in", "value", "v1")]))
            seen: list[dict[str, Any]] = []
            async with asyncio.timeout(5):
                while not any(m["type"] == "get_props_request" for m in seen):
                    seen += messages(await ws.receive())
            props = [m for m in seen if m["type"] == "set_props"]
            assert props[0]["payload"] == {
                "componentId": "aux",
                "props": {"children": {"props": {"children": "v1", "id": "b"}, "type": "B",
                                       "namespace": "dash_html_components"}, "title": "t"},
            }
            assert props[1]["payload"]["props"]["data"]["__dash_patch_update"] == "__dash_patch_update"
            request = next(m for m in seen if m["type"] == "get_props_request")
            assert request["payload"] == {"componentId": "in", "properties": ["value"]}
            await ws.send(json.dumps({"type": "get_props_response", "requestId": request["requestId"],
                                      "payload": {"value": "in page"}}))
            response, _ = await frames_until_response(ws, "s")
            assert response["payload"]["data"]["response"]["out"]["children"] == "page has in page"

            await ws.send(callback_request("t", "aux", "children", [("in", "n_submit", 1)]))
            async with asyncio.timeout(5):
                request = messages(await ws.receive())[0]
            await ws.send(json.dumps({"type": "get_props_response", "requestId": request["requestId"],
                                      "payload": {"value": "threaded"}}))
            response, _ = await frames_until_response(ws, "t")
            assert response["payload"]["data"]["response"]["aux"]["children"] == "sync sees threaded"


@pytest.mark.parametrize("persistent", [False, True], ids=["no-output", "persistent"])
async def test_streaming_callback_sees_shutdown_and_stops(persistent: bool) -> None:
    app = make_app()
    stopped = asyncio.Event()
    deps = dict(persistent=True) if persistent else dict(inputs=[Input("in", "value")])

    @app.callback(**deps)
    async def forever(*_args: Any) -> None:
        try:
            i = 0
            while not ctx.websocket.is_shutdown:
                i += 1
                set_props("out", {"children": i})
                await asyncio.sleep(0.01)
        finally:
            stopped.set()

    async for client in started(app):
        async with client.websocket(WS, headers=ORIGIN) as ws:
            inputs = [] if persistent else [("in", "value", 1)]
            request = json.loads(callback_request("p", "out", "children", inputs))
            request["payload"]["output"] = next(k for k in app.callback_map if k != "out.children")
            del request["payload"]["outputs"]
            await ws.send(json.dumps(request))
            async with asyncio.timeout(5):
                first = messages(await ws.receive())
            assert first[0]["type"] == "set_props"
        async with asyncio.timeout(5):
            await stopped.wait()
        assert len(app.connections) == 0


async def test_websocket_false_stays_on_http() -> None:
    app = make_app()

    @app.callback(Output("out", "children"), Input("in", "value"), websocket=False)
    def over_http(value: str) -> str:
        return value

    async for client in started(app):
        config = app._config()
        assert config["websocket"]["enabled"] is False  # renderer honours per-callback flags
        spec = next(s for s in app._callback_list if s["output"] == "out.children")
        assert spec["websocket"] is False
        async with client.websocket(WS, headers=ORIGIN) as ws:
            await ws.send(callback_request("h", "out", "children", [("in", "value", 1)]))
            response, _ = await frames_until_response(ws, "h")
            assert "not served over WebSocket" in response["payload"]["message"]


async def test_global_callbacks_are_registered_before_any_request() -> None:
    app = make_app()

    @callback(Output("out", "children"), Input("in", "value"))
    def global_echo(value: str) -> str:
        return f"global {value}"

    async with app.server.test_app() as test_app:
        # lifespan startup alone registered it: no HTTP request has been made
        assert "out.children" in app.callback_map
        assert not dash._callback.GLOBAL_CALLBACK_MAP
        async with test_app.test_client().websocket(WS, headers=ORIGIN) as ws:
            await ws.send(callback_request("g", "out", "children", [("in", "value", 1)]))
            response, _ = await frames_until_response(ws, "g")
            assert response["payload"]["data"]["response"]["out"]["children"] == "global 1"


async def test_dash_websocket_hooks_accept_reject_and_custom_codes(restore_hooks: None) -> None:
    @dash.hooks.websocket_connect()
    def connect_hook(ws: Any) -> Any:
        verdict = ws.headers.get("x-verdict")
        return {"no": False, "code": (4999, "custom no")}.get(verdict, True)

    @dash.hooks.websocket_message()
    def message_hook(ws: Any, message: dict[str, Any]) -> Any:
        return message.get("type") != "heartbeat" or (4998, "no heartbeats here")

    app = make_app()
    async for client in started(app):
        for verdict, code in [("no", 4001), ("code", 4999)]:
            async with client.websocket(WS, headers={**ORIGIN, "X-Verdict": verdict}) as ws:
                assert await inprocess_close(ws) == code
        async with client.websocket(WS, headers=ORIGIN) as ws:
            await ws.send('{"type":"heartbeat"}')
            assert await inprocess_close(ws) == 4998


async def test_websocket_options_reach_the_renderer_config() -> None:
    app = make_app(websocket_inactivity_timeout=1234, websocket_heartbeat_interval=567,
                   websocket_allowed_origins=["http://other.test"])
    async for client in started(app):
        config = app._config()["websocket"]
        assert (config["inactivity_timeout"], config["heartbeat_interval"]) == (1234, 567)
        assert config["enabled"] is True
        async with client.websocket(WS, headers={"Origin": "http://other.test"}) as ws:
            await ws.send('{"type":"heartbeat"}')
            assert messages(await ws.receive()) == [{"type": "heartbeat_ack"}]


def test_constructor_refuses_other_backends_and_bad_limits() -> None:
    with pytest.raises(ValueError):
        QuartDash(__name__, backend="flask")
    with pytest.raises(ValueError):
        QuartDash(__name__, rate_limit=0)
    with pytest.raises(ValueError):
        QuartDash(__name__, allowed_origins=["not an origin"])


def test_callbacks_without_input_or_output_keep_distinct_names() -> None:
    """Dash names them after their call site; quartdash's wrappers must not be it."""
    from dash import _callback

    app = make_app()

    @app.callback(persistent=True)
    async def first() -> None: ...

    @app.callback(persistent=True)
    async def second() -> None: ...

    assert len({spec["output"] for spec in app._callback_list}) == 2
    assert {entry["callback"].__name__ for entry in app.callback_map.values()} == {"first", "second"}
    before = len(_callback.GLOBAL_CALLBACK_LIST)
    try:
        callback(persistent=True)(first)
        callback(persistent=True)(second)
        added = _callback.GLOBAL_CALLBACK_LIST[before:]
        assert len({spec["output"] for spec in added}) == 2
    finally:
        for spec in _callback.GLOBAL_CALLBACK_LIST[before:]:
            _callback.GLOBAL_CALLBACK_MAP.pop(spec["output"], None)
        del _callback.GLOBAL_CALLBACK_LIST[before:]


async def test_another_apps_http_only_global_callback_leaves_this_socket_on() -> None:
    """A global ``@callback(websocket=False)`` belongs to the first app set up after it
    is declared (Dash hands its global callbacks to that app); quartdash kept its output
    process-wide, so every later app's page config said ``enabled: False`` and all of
    that app's callbacks went over HTTP."""
    from dash import Input, Output

    import quartdash

    @quartdash.callback(Output("elsewhere", "children"), Input("elsewhere-in", "value"),
                        websocket=False)
    def elsewhere(value: str) -> str:
        return value

    first = make_app()
    async for _ in started(first):  # takes the global callback, as Dash does
        assert "elsewhere.children" in first.callback_map
        assert first._config()["websocket"]["enabled"] is False
    second = make_app()
    async for _ in started(second):
        assert second._config()["websocket"]["enabled"] is True
