"""DashClient: a real QuartDash app in process (Quart's test client, quartdash's real
socket handler, real Dash), driven as Dash's renderer drives it, without a browser."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart_auth import QuartAuth

from quartdash import (
    ALL,
    ALLSMALLER,
    MATCH,
    Input,
    Output,
    Patch,
    QuartDash,
    State,
    ctx,
    dcc,
    html,
    no_update,
    set_props,
)
from quartdash.testing import ANY, CallbackFailed, DashClient
from quartdash.testing.page import apply_patch
from tests import ROOT


def make_app(*children: Any, **kwargs: Any) -> QuartDash:
    app = QuartDash(__name__, **kwargs)
    app.layout = html.Div([dcc.Input(id="in", value="x"), html.Div(id="out"), *children])
    return app


async def test_initial_callbacks_fire_in_order_and_chain() -> None:
    app = make_app(html.Div(id="second"), html.Div(id="late"))

    @app.callback(Output("out", "children"), Input("in", "value"))
    async def echo(value: str) -> str:
        return f"echo {value}"

    @app.callback(Output("second", "children"), Input("out", "children"))
    def chained(value: str) -> str:  # a sync callback: run in a thread by the server
        return f"then {value}"

    @app.callback(Output("late", "children"), Input("in", "value"), prevent_initial_call=True)
    async def late(value: str) -> str:
        return f"late {value}"

    async with DashClient(app) as page:
        assert page.props("out")["children"] == "echo x"
        assert page.props("second")["children"] == "then echo x"
        assert page.props("late")["children"] is None  # prevent_initial_call
        await page.set_props("in", value="hi")
        assert page.props("out")["children"] == "echo hi"
        assert page.props("second")["children"] == "then echo hi"
        assert page.props("late")["children"] == "late hi"
        assert await page.wait_for("out", "children", "echo hi") == "echo hi"


async def test_a_callback_waits_for_every_producer_of_its_inputs_and_runs_once() -> None:
    """As the renderer: ``b`` (x -> y), declared before ``a`` (in -> x), and ``c``
    (in and x -> z) are each called once, after ``a`` answered, at load and after a
    change; never with ``x`` still unset."""
    app = make_app(html.Div(id="x"), html.Div(id="y"), html.Div(id="z"))
    calls: list[tuple[str, Any]] = []

    @app.callback(Output("y", "children"), Input("x", "children"))
    async def b(x: Any) -> str:
        calls.append(("b", x))
        return f"y({x})"

    @app.callback(Output("x", "children"), Input("in", "value"))
    async def a(value: Any) -> str:
        calls.append(("a", value))
        return f"x({value})"

    @app.callback(Output("z", "children"), Input("in", "value"), Input("x", "children"))
    async def c(value: Any, x: Any) -> str:
        calls.append(("c", x))
        return f"z({x})"

    async with DashClient(app) as page:
        assert sorted(calls) == [("a", "x"), ("b", "x(x)"), ("c", "x(x)")], calls
        calls.clear()
        await page.set_props("in", value="v")
        assert sorted(calls) == [("a", "v"), ("b", "x(v)"), ("c", "x(v)")], calls
        assert page.props("z")["children"] == "z(x(v))"


async def test_multi_output_no_update_and_state() -> None:
    app = make_app(html.Div(id="a", children="a0"), html.Div(id="b", children="b0"),
                   dcc.Store(id="store", data=5))

    @app.callback(Output("a", "children"), Output("b", "children"), Input("in", "value"),
                  State("store", "data"), prevent_initial_call=True)
    async def both(value: str, data: int) -> tuple[Any, Any]:
        return f"{value}{data}", (no_update if value == "keep" else value.upper())

    async with DashClient(app) as page:
        await page.set_props("in", value="q")
        assert (page.props("a")["children"], page.props("b")["children"]) == ("q5", "Q")
        await page.set_props("in", value="keep")
        assert (page.props("a")["children"], page.props("b")["children"]) == ("keep5", "Q")


async def test_set_props_in_a_callback_and_what_it_fires() -> None:
    app = make_app(html.Div(id="side"), html.Div(id="after-side"))

    @app.callback(Output("out", "children"), Input("in", "value"), prevent_initial_call=True)
    async def setter(value: str) -> str:
        set_props("side", {"children": f"side {value}"})
        return "done"

    @app.callback(Output("after-side", "children"), Input("side", "children"),
                  prevent_initial_call=True)
    async def follow(value: str) -> str:
        return f"saw {value}"

    async with DashClient(app) as page:
        await page.set_props("in", value="v")
        assert page.props("side")["children"] == "side v"
        assert await page.wait_for("after-side", "children", "saw side v") == "saw side v"
        assert any(m["type"] == "set_props" for m in page.messages)


async def test_a_patch_is_applied_to_the_current_value() -> None:
    app = make_app(dcc.Store(id="items", data={"list": [1, 2], "n": 1}))

    @app.callback(Output("items", "data"), Input("in", "value"), prevent_initial_call=True)
    async def grow(value: str) -> Patch:
        patch = Patch()
        patch["list"].append(int(value))
        patch["list"].prepend(0)
        patch["n"] += 10
        patch["list"][-1] = 99
        del patch["list"][1]
        return patch

    async with DashClient(app) as page:
        await page.set_props("in", value="3")
        assert page.props("items")["data"] == {"list": [0, 2, 99], "n": 11}


def test_every_patch_operation_as_the_renderer_applies_it() -> None:
    patch = Patch()
    patch["a"].extend([3, 4])
    patch["a"].insert(-1, 9)
    patch["a"].remove(1)
    patch["a"].reverse()
    patch["d"].update({"y": 2})
    patch["n"] *= 3
    patch["n"] -= 1
    patch["n"] /= 5
    patch["e"].clear()
    out = apply_patch({"a": [1, 2], "d": {"x": 1}, "n": 2, "e": [7]}, patch.to_plotly_json())
    assert out == {"a": [4, 9, 3, 2], "d": {"x": 1, "y": 2}, "n": 1.0, "e": []}


async def test_pattern_matching_all_match_and_allsmaller() -> None:
    rows = [html.Div([html.Button(id={"t": "b", "i": i}, n_clicks=0),
                      html.Div(id={"t": "o", "i": i})]) for i in range(3)]
    app = make_app(*rows, html.Div(id="total"), html.Div(id={"t": "sum", "i": 2}))

    @app.callback(Output({"t": "o", "i": MATCH}, "children"),
                  Input({"t": "b", "i": MATCH}, "n_clicks"))
    async def one(n: int) -> str:
        return f"{ctx.triggered_id['i'] if ctx.triggered_id else '-'}:{n}"

    @app.callback(Output("total", "children"), Input({"t": "b", "i": ALL}, "n_clicks"))
    async def total(ns: list[int]) -> int:
        return sum(ns)

    @app.callback(Output({"t": "sum", "i": MATCH}, "children"),
                  Input({"t": "b", "i": MATCH}, "n_clicks"),
                  State({"t": "b", "i": ALLSMALLER}, "n_clicks"))
    async def smaller(n: int, before: list[int]) -> str:
        return f"{n}+{before}"

    async with DashClient(app) as page:
        assert [page.props({"t": "o", "i": i})["children"] for i in range(3)] == ["-:0"] * 3
        assert page.props("total")["children"] == 0
        await page.set_props({"t": "b", "i": 1}, n_clicks=2)
        assert page.props({"t": "o", "i": 1})["children"] == "1:2"
        assert page.props({"t": "o", "i": 0})["children"] == "-:0"
        assert page.props("total")["children"] == 2
        await page.set_props({"t": "b", "i": 2}, n_clicks=5)
        assert page.props({"t": "sum", "i": 2})["children"] == "5+[0, 2]"


async def test_new_components_fire_their_callbacks() -> None:
    app = make_app()

    @app.callback(Output("out", "children"), Input("in", "value"), prevent_initial_call=True)
    async def add(value: str) -> Any:
        return html.Div([dcc.Input(id={"k": "new", "i": 0}, value=value),
                         html.Div(id={"k": "echo", "i": 0})])

    @app.callback(Output({"k": "echo", "i": MATCH}, "children"),
                  Input({"k": "new", "i": MATCH}, "value"))
    async def echo(value: str) -> str:
        return f"new {value}"

    async with DashClient(app) as page:
        await page.set_props("in", value="z")
        assert page.props({"k": "echo", "i": 0})["children"] == "new z"


async def test_running_sets_props_while_the_callback_runs() -> None:
    release = asyncio.Event()
    app = make_app(html.Button(id="go", disabled=False))

    @app.callback(Output("out", "children"), Input("in", "value"), prevent_initial_call=True,
                  running=[(Output("go", "disabled"), True, False)])
    async def slow(value: str) -> str:
        await release.wait()
        return value

    async with DashClient(app) as page:
        task = asyncio.create_task(page.set_props("in", value="r"))
        assert await page.wait_for("go", "disabled", True) is True
        assert page.props("out")["children"] is None
        release.set()
        await asyncio.wait_for(task, 5)
        assert page.props("go")["disabled"] is False
        assert page.props("out")["children"] == "r"


async def test_http_only_callback() -> None:
    app = make_app()

    @app.callback(Output("out", "children"), Input("in", "value"), websocket=False)
    def over_http(value: str) -> str:
        return f"{value}:{ctx.websocket is None}"

    async with DashClient(app) as page:
        assert page.props("out")["children"] == "x:True"
        await page.set_props("in", value="y")
        assert page.props("out")["children"] == "y:True"


async def test_a_failing_callback_is_reported() -> None:
    app = make_app()

    @app.callback(Output("out", "children"), Input("in", "value"), prevent_initial_call=True)
    async def boom(value: str) -> str:
        raise RuntimeError(f"bad {value}")

    async with DashClient(app) as page:
        with pytest.raises(CallbackFailed):
            await page.set_props("in", value="v")
        assert page.errors


async def test_events_and_a_push_from_the_registry() -> None:
    app = make_app(html.Div(id="pushed"))

    @app.callback(Output("out", "children"), Input("in", "value"), prevent_initial_call=True)
    async def emit(value: str) -> str:
        assert ctx.websocket is not None
        await ctx.websocket.emit("first", {"v": value})
        await ctx.websocket.emit("second", [1, 2])
        return "sent"

    async with DashClient(app) as page:
        await page.set_props("in", value="e")
        assert [e["event"] for e in page.events] == ["first", "second"]
        assert page.events[0]["data"] == {"v": "e"}
        waiting = asyncio.create_task(page.wait_for("pushed", "children", ANY))
        with pytest.raises(TimeoutError):
            await page.wait_for("pushed", "children", timeout=0.05)  # nothing new yet
        count = await app.connections.push(connection=page.connection_id,
                                           set_props={"pushed": {"children": "hello"}},
                                           event=("ping", 1))
        assert count == 1
        assert await waiting == "hello"
        assert page.events[-1] == {"event": "ping", "data": 1}  # same frame as the props


async def test_a_persistent_callback_streams_and_get_prop_reads_the_page() -> None:
    app = make_app(html.Div(id="tick"), dcc.Store(id="conf", data=3))

    @app.callback(Input("in", "value"), persistent=True)
    async def stream(_value: str) -> None:
        assert ctx.websocket is not None
        limit = await ctx.websocket.get_prop("conf", "data")
        for n in range(limit):
            set_props("tick", {"children": n})
            await asyncio.sleep(0.01)
        await asyncio.Event().wait()  # runs for the life of the connection

    async with DashClient(app) as page:
        assert await page.wait_for("tick", "children", 2) == 2


async def test_a_user_is_logged_in_through_quart_auth() -> None:
    server = Quart(__name__)
    server.secret_key = "0123456789abcdef0123456789abcdef"
    app = make_app(server=server, auth=QuartAuth(cookie_secure=False))

    @app.callback(Output("out", "children"), Input("in", "value"))
    async def who(_value: str) -> str:
        return f"{ctx.user.auth_id if ctx.user else None}|{bool(ctx.session_id)}"

    async with DashClient(app, user="alice") as page:
        assert page.props("out")["children"] == "alice|True"
        infos = await app.connections.list(user="alice")
        assert [i.id for i in infos] == [page.connection_id]
    with pytest.raises(ConnectionError):  # no login: the socket is refused with 4401
        async with DashClient(app):
            pass


async def test_user_needs_an_app_with_auth() -> None:
    with pytest.raises(ValueError, match="auth"):
        async with DashClient(make_app(), user="bob"):
            pass


async def test_a_drop_resumes_without_losing_a_frame() -> None:
    app = make_app(html.Div(id="tick"))
    gate = asyncio.Event()

    @app.callback(Input("in", "value"), persistent=True)
    async def stream(_value: str) -> None:
        assert ctx.websocket is not None
        for n in range(40):
            if n == 20:
                await gate.wait()
            await ctx.websocket.emit("tick", n)  # events are never coalesced
            set_props("tick", {"children": n})  # props are: the last one counts
        await asyncio.Event().wait()

    async with DashClient(app) as page:
        await page.wait_for("tick", "children", 19)
        first = page.connection_id
        await page.drop()  # cut while nothing is in flight, resumed
        assert page.connection_id == first

        async def away() -> None:  # the app sends into the void meanwhile
            gate.set()
            await asyncio.sleep(0.05)

        welcome = await page.drop(away)
        assert welcome["resumed"] and page.connection_id == first
        assert await page.wait_for("tick", "children", 39) == 39
        assert [e["data"] for e in page.events] == list(range(40))  # once each, in order


def test_clientside_callbacks_are_left_out() -> None:
    from quartdash.testing.page import load_callbacks

    specs = [{"output": "a.children", "inputs": [], "state": [],
              "clientside_function": {"namespace": "n", "function_name": "f"}},
             {"output": "b.children", "inputs": [], "state": []}]
    assert [c.output for c in load_callbacks(specs)] == ["b.children"]


def test_the_fixture_through_the_plugin(tmp_path: Path) -> None:
    """The plugin, loaded by the pytest11 entry point that installing quartdash
    registers (nothing names it), in a pytest run of its own."""
    test = tmp_path / "test_fixture.py"
    test.write_text(
        "from quartdash import QuartDash, html, dcc, Input, Output\n"
        "async def test_page(dash_client):\n"
        "    app = QuartDash(__name__)\n"
        "    app.layout = html.Div([dcc.Input(id='in', value='a'), html.Div(id='out')])\n"
        "    @app.callback(Output('out', 'children'), Input('in', 'value'))\n"
        "    async def up(v): return v.upper()\n"
        "    async with dash_client(app) as page:\n"
        "        await page.set_props('in', value='b')\n"
        "        assert page.props('out')['children'] == 'B'\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-o", "asyncio_mode=auto", str(test)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_a_module_of_20_callback_tests_runs_in_under_2_s() -> None:
    """tests/testing/test_speed_module.py in a pytest run of its own: the module's 20
    tests (every setup, call and teardown pytest times) take under 2 s. Printed beside
    it, the session as pytest reports it, which adds the collection (importing Dash,
    quartdash and this project's conftest, once per run, whatever the number of tests)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--durations=0", "--durations-min=0", "tests/testing/test_speed_module.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"(\d+) passed in ([\d.]+)s", result.stdout)
    assert found and found.group(1) == "20", result.stdout
    phases = re.findall(r"^([\d.]+)s (?:setup|call|teardown) +\S+::test_", result.stdout,
                        re.MULTILINE)
    assert len(phases) == 60, result.stdout
    tests = sum(map(float, phases))
    print(f"20 callback tests: {tests:.2f} s; the pytest session: {found.group(2)} s")
    assert tests < 2.0, result.stdout
