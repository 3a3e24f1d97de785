"""OpenTelemetry spans of callbacks and pushes, recorded by the SDK's in-memory exporter
from a real app served in process (Quart's test client: HTTP posts and WebSockets).

Each test gives quartdash a tracer provider of its own (``tracing.use``), so no test
sees another's spans and the process's global provider stays untouched; the app's own
spans come from the same provider, as an app's would from the global one.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from dash.exceptions import PreventUpdate
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from quartdash import Input, Output, QuartDash, ctx, dcc, html
from quartdash.observe import tracing
from quartdash.testing.wsclient import callback_request
from tests.transport.test_connection import until
from tests.transport.test_inprocess import ORIGIN, WS, frames_until_response, started

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
HANDSHAKE_TRACE = "0af7651916cd43dd8448eb211c80319c"
HANDSHAKE_SPAN = "b7ad6b7169203331"


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    """A provider of the test's own, whose spans go to its ``exporter``; quartdash takes
    its spans from it, and the app's code its tracer (``app_tracer``)."""
    given = TracerProvider()
    tracing.use(given)
    try:
        yield given
    finally:
        tracing.use(None)
        given.shutdown()


@pytest.fixture
def exporter(provider: TracerProvider) -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


def callback_spans(memory: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in memory.get_finished_spans() if s.name == tracing.CALLBACK_SPAN]


def only(spans: list[ReadableSpan], callback_id: str) -> ReadableSpan:
    found = [s for s in spans if (s.attributes or {}).get(tracing.CALLBACK_ID) == callback_id]
    assert len(found) == 1, [s.attributes for s in spans]
    return found[0]


@pytest.fixture
async def client(provider: TracerProvider) -> AsyncIterator[Any]:
    app_tracer = provider.get_tracer("the-app")
    app = QuartDash(__name__)
    app.layout = html.Div([dcc.Input(id="in"), html.Div(id="ok"), html.Div(id="bad"),
                           html.Div(id="skip"), html.Div(id="sync"), html.Div(id="push"),
                           html.Div(id="slow")])
    started_slow = asyncio.Event()

    @app.callback(Output("ok", "children"), Input("in", "value"))
    async def echo(value: str) -> str:
        return value

    @app.callback(Output("bad", "children"), Input("in", "value"))
    async def fails(value: str) -> str:
        raise ValueError(f"no {value}")

    @app.callback(Output("skip", "children"), Input("in", "value"))
    def prevented(value: str) -> str:
        raise PreventUpdate

    @app.callback(Output("sync", "children"), Input("in", "value"))
    def in_thread(value: str) -> str:
        with app_tracer.start_as_current_span("app.work") as span:
            span.set_attribute("thread", threading.current_thread().name)
            return value

    @app.callback(Output("push", "children"), Input("in", "value"))
    async def pusher(value: str) -> str:
        await ctx.websocket.subscribe("news")
        reached = await app.connections.push(topic="news", event=("news", value))
        await asyncio.to_thread(
            lambda: app.connections.push_sync(everyone=True, event=("all", value)))
        return str(reached)

    @app.callback(Output("slow", "children"), Input("in", "value"))
    async def slow(value: str) -> str:
        started_slow.set()
        await asyncio.sleep(60)
        return value

    async for test_client in started(app):
        test_client.started_slow = started_slow
        test_client.app_tracer = app_tracer
        yield test_client


def http_body(output: str) -> dict[str, Any]:
    return {
        "output": f"{output}.children",
        "outputs": {"id": output, "property": "children"},
        "inputs": [{"id": "in", "property": "value", "value": "v"}],
        "state": [],
        "changedPropIds": ["in.value"],
    }


async def test_http_callback_span_per_outcome(exporter: InMemorySpanExporter,
                                              client: Any) -> None:
    for output, status in (("ok", 200), ("bad", 500), ("skip", 204)):
        response = await client.post("/_dash-update-component", json=http_body(output))
        assert response.status_code == status, output
    spans = callback_spans(exporter)
    assert len(spans) == 3
    for output, outcome in (("ok", "ok"), ("bad", "error"), ("skip", "prevented")):
        span = only(spans, f"{output}.children")
        assert span.attributes is not None
        assert span.attributes[tracing.TRANSPORT] == "http"
        assert span.attributes[tracing.OUTCOME] == outcome
        assert span.end_time is not None and span.start_time is not None
        assert span.end_time > span.start_time
        # no server span around it and no traceparent: the request starts a trace here
        assert span.parent is None and span.kind is SpanKind.SERVER
    failed = only(spans, "bad.children")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "ValueError"
    [event] = failed.events
    assert event.name == "exception"
    assert event.attributes is not None and event.attributes["exception.type"] == "ValueError"
    for output in ("ok", "skip"):
        assert only(spans, f"{output}.children").status.status_code is StatusCode.UNSET


async def test_http_callback_joins_the_callers_trace(exporter: InMemorySpanExporter,
                                                     client: Any) -> None:
    response = await client.post("/_dash-update-component", json=http_body("ok"),
                                  headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    [span] = callback_spans(exporter)
    assert span.context is not None and span.parent is not None
    assert span.context.trace_id == int(TRACE_ID, 16)
    assert span.parent.span_id == int(PARENT_ID, 16) and span.parent.is_remote


async def test_http_callback_is_a_child_of_the_current_server_span(
        exporter: InMemorySpanExporter, client: Any) -> None:
    """With a span current around the request (what an ASGI instrumentation makes), the
    callback is its child, and a ``traceparent`` is that span's business, not ours."""
    from opentelemetry import context

    app = client.app
    tokens: list[object] = []
    server = client.app_tracer.start_span("GET /_dash-update-component", kind=SpanKind.SERVER)

    @app.before_request
    async def instrument() -> None:
        tokens.append(context.attach(trace.set_span_in_context(server)))

    response = await client.post("/_dash-update-component", json=http_body("ok"),
                                 headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200 and tokens
    server.end()
    [span] = callback_spans(exporter)
    assert span.parent is not None and span.parent.span_id == server.get_span_context().span_id
    assert span.kind is SpanKind.INTERNAL


async def ws_call(ws: Any, request_id: str, output: str) -> tuple[dict[str, Any],
                                                                   list[dict[str, Any]]]:
    await ws.send(callback_request(request_id, output, "children", [("in", "value", "v")]))
    return await frames_until_response(ws, request_id)


async def test_websocket_callback_spans_link_to_the_handshake(
        exporter: InMemorySpanExporter, client: Any) -> None:
    headers = {**ORIGIN, "traceparent": f"00-{HANDSHAKE_TRACE}-{HANDSHAKE_SPAN}-01"}
    async with client.websocket(WS, headers=headers) as ws:
        for request_id, output in (("1", "ok"), ("2", "bad"), ("3", "skip"), ("4", "ok")):
            await ws_call(ws, request_id, output)
    spans = callback_spans(exporter)
    assert len(spans) == 4
    for span in spans:
        assert span.attributes is not None
        assert span.attributes[tracing.TRANSPORT] == "websocket"
        assert span.kind is SpanKind.SERVER
        # its own trace (a socket lives for hours), linked to the socket's handshake
        assert span.parent is None and span.context is not None
        assert span.context.trace_id != int(HANDSHAKE_TRACE, 16)
        [link] = span.links
        assert link.context.trace_id == int(HANDSHAKE_TRACE, 16)
        assert link.context.span_id == int(HANDSHAKE_SPAN, 16)
    assert len({span.context.trace_id for span in spans if span.context}) == 4
    outcomes = sorted((s.attributes or {})[tracing.OUTCOME] for s in spans)
    assert outcomes == ["error", "ok", "ok", "prevented"]
    failed = only(spans, "bad.children")
    assert failed.status.status_code is StatusCode.ERROR
    assert [event.name for event in failed.events] == ["exception"]


async def test_websocket_callbacks_link_to_the_current_server_span(
        exporter: InMemorySpanExporter, client: Any) -> None:
    """With a span current around the socket (what an ASGI instrumentation makes, for
    the socket's whole life), each callback links to it, and is not its child."""
    from opentelemetry import context

    tokens: list[object] = []
    server = client.app_tracer.start_span("WS /_dash-ws-callback", kind=SpanKind.SERVER)

    @client.app.before_websocket
    async def instrument() -> None:
        tokens.append(context.attach(trace.set_span_in_context(server)))

    headers = {**ORIGIN, "traceparent": f"00-{HANDSHAKE_TRACE}-{HANDSHAKE_SPAN}-01"}
    async with client.websocket(WS, headers=headers) as ws:
        await ws_call(ws, "1", "ok")
    assert tokens
    server.end()
    [span] = callback_spans(exporter)
    assert span.parent is None and span.context is not None
    assert span.context.trace_id != server.get_span_context().trace_id
    [link] = span.links
    assert link.context.span_id == server.get_span_context().span_id


async def test_websocket_without_traceparent_has_no_link(exporter: InMemorySpanExporter,
                                                         client: Any) -> None:
    async with client.websocket(WS, headers=ORIGIN) as ws:
        await ws_call(ws, "1", "ok")
    [span] = callback_spans(exporter)
    assert span.parent is None and not span.links


async def test_cancelled_callback(exporter: InMemorySpanExporter, client: Any) -> None:
    async with client.websocket(WS, headers=ORIGIN) as ws:
        await ws.send(callback_request("s", "slow", "children", [("in", "value", "v")]))
        async with asyncio.timeout(5):
            await client.started_slow.wait()
        await ws.send(json.dumps({"type": "quartdash_leave", "rendererId": "R"}))
        await until(lambda: bool(callback_spans(exporter)))  # the task ends soon after
    [span] = callback_spans(exporter)
    assert span.attributes is not None and span.attributes[tracing.OUTCOME] == "cancelled"
    assert span.status.status_code is StatusCode.UNSET


async def test_pushes_are_children_of_their_callback(exporter: InMemorySpanExporter,
                                                     client: Any) -> None:
    async with client.websocket(WS, headers=ORIGIN) as ws:
        response, before = await ws_call(ws, "p", "push")
        assert response["payload"]["data"]["response"] == {"push": {"children": "1"}}
    names = [m["payload"]["event"] for m in before if m["type"] == "quartdash_event"]
    assert sorted(names) == ["all", "news"]
    [callback] = callback_spans(exporter)
    pushes = [s for s in exporter.get_finished_spans() if s.name == tracing.PUSH_SPAN]
    assert len(pushes) == 2
    by_selector = {(s.attributes or {})[tracing.SELECTOR]: s for s in pushes}
    assert set(by_selector) == {"topic", "everyone"}
    assert callback.context is not None
    for push in pushes:
        assert push.parent is not None and push.parent.span_id == callback.context.span_id
        assert push.context is not None and push.context.trace_id == callback.context.trace_id
        assert push.kind is SpanKind.PRODUCER
        assert (push.attributes or {})[tracing.SOCKETS] == 1
    assert (by_selector["topic"].attributes or {})[tracing.TOPIC] == "news"
    assert tracing.TOPIC not in (by_selector["everyone"].attributes or {})


@pytest.mark.parametrize("transport", ["http", "websocket"])
async def test_sync_callback_span_is_current_in_its_thread(
        exporter: InMemorySpanExporter, client: Any, transport: str) -> None:
    if transport == "http":
        response = await client.post("/_dash-update-component", json=http_body("sync"))
        assert response.status_code == 200
    else:
        async with client.websocket(WS, headers=ORIGIN) as ws:
            await ws_call(ws, "t", "sync")
    [callback] = callback_spans(exporter)
    [work] = [s for s in exporter.get_finished_spans() if s.name == "app.work"]
    assert (work.attributes or {})["thread"].startswith("quartdash-callback")
    assert callback.context is not None and work.parent is not None
    assert work.parent.span_id == callback.context.span_id


def test_absent_opentelemetry_is_never_imported(tmp_path: Path) -> None:
    """With opentelemetry not importable, an app serves a callback over HTTP (with a
    ``traceparent``) and over the WebSocket; opentelemetry was looked for once, when
    quartdash was imported, and nothing of it is loaded."""
    script = tmp_path / "serve.py"
    script.write_text(textwrap.dedent("""
        import asyncio, importlib.machinery, json, sys

        asked = []

        # The path finder, blind to opentelemetry (as if it were not installed),
        # noting every time anything looks for it.
        class Without(importlib.machinery.PathFinder):

            @classmethod
            def find_spec(cls, name, path=None, target=None):
                if name.partition(".")[0] == "opentelemetry":
                    asked.append(name)
                    return None
                return super().find_spec(name, path, target)

        finders = sys.meta_path
        finders[finders.index(importlib.machinery.PathFinder)] = Without

        from quartdash import Input, Output, QuartDash, dcc, html
        from quartdash.observe import tracing
        from quartdash.testing.wsclient import callback_request, messages

        app = QuartDash(__name__)
        app.layout = html.Div([dcc.Input(id="in"), html.Div(id="out")])

        @app.callback(Output("out", "children"), Input("in", "value"))
        def echo(value):
            return value

        async def main():
            async with app.server.test_app() as test_app:
                client = test_app.test_client()
                body = {"output": "out.children",
                        "outputs": {"id": "out", "property": "children"},
                        "inputs": [{"id": "in", "property": "value", "value": "h"}],
                        "state": [], "changedPropIds": ["in.value"]}
                response = await client.post("/_dash-update-component", json=body,
                                              headers={"traceparent": "00-%s-%s-01"
                                                       % ("1" * 32, "2" * 16)})
                http = (await response.get_json())["response"]
                async with client.websocket("/_dash-ws-callback",
                                            headers={"Origin": "http://localhost"}) as ws:
                    await ws.send(callback_request("a", "out", "children",
                                                   [("in", "value", "w")]))
                    async with asyncio.timeout(10):
                        while True:
                            found = [m for m in messages(await ws.receive())
                                     if m.get("type") == "callback_response"]
                            if found:
                                break
            loaded = sorted(name for name, module in sys.modules.items()
                            if name.startswith("opentelemetry") and module is not None)
            print(json.dumps({"http": http, "ws": found[0]["payload"]["data"]["response"],
                              "tracer": repr(tracing.tracer), "loaded": loaded,
                              "asked": asked}))

        asyncio.run(main())
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"http": {"out": {"children": "h"}}, "ws": {"out": {"children": "w"}},
                      "tracer": "None", "loaded": [], "asked": ["opentelemetry"]}


def test_installed_opentelemetry_gives_a_tracer() -> None:
    """The other side of the subprocess test: with the API importable the tracer exists
    (so that test's ``None`` is the absence, not a tracer that is never set)."""
    assert tracing.AVAILABLE and tracing.tracer is not None

