"""A small app for DashClient's speed module (tests/testing/test_speed_module.py): a
counter, an echo, a multi-output, a pattern-matching list, a set_props and an event.
Its callbacks are ``app.callback``s, so importing it leaves nothing global behind."""

from __future__ import annotations

from typing import Any

from quartdash import ALL, MATCH, Input, Output, QuartDash, State, ctx, dcc, html, set_props

ROWS = 3


def make_app() -> QuartDash:
    app = QuartDash(__name__)
    app.layout = html.Div([
        html.Button(id="inc", n_clicks=0), html.Div(id="count"),
        dcc.Input(id="text", value=""), html.Div(id="echo"), html.Div(id="length"),
        html.Div(id="note"),
        *[html.Div([dcc.Input(id={"type": "row", "i": i}, value=str(i)), html.Div(id={"type": "shown", "i": i})])
          for i in range(ROWS)],
        html.Div(id="joined"),
    ])

    @app.callback(Output("count", "children"), Input("inc", "n_clicks"))
    async def count(n: int) -> str:
        return f"clicked {n or 0}"

    @app.callback(Output("echo", "children"), Output("length", "children"),
                  Input("text", "value"), State("inc", "n_clicks"))
    async def echo(text: str, n: int) -> tuple[str, int]:
        if text == "note":
            set_props("note", {"children": f"noted at {n}"})
        if text and ctx.websocket is not None:
            await ctx.websocket.emit("typed", text)
        return text.upper(), len(text)

    @app.callback(Output({"type": "shown", "i": MATCH}, "children"),
                  Input({"type": "row", "i": MATCH}, "value"))
    async def shown(value: str) -> str:
        return f"row {value}"

    @app.callback(Output("joined", "children"), Input({"type": "row", "i": ALL}, "value"))
    def joined(values: list[Any]) -> str:
        return ",".join(map(str, values))

    return app
