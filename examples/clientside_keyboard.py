"""``dash_clientside.set_props`` from a keyboard listener.

A clientside callback attaches one ``keydown`` listener to the document when the page
starts. Every key press updates the page with ``dash_clientside.set_props`` without a
callback output: the last key is shown, the arrow keys move the square, and the key is
written to a ``dcc.Store`` whose change runs a server callback over the WebSocket,
which counts the keys it has seen.

Run it: ``hypercorn examples.clientside_keyboard:app``, then open http://127.0.0.1:8000/
and type.
"""

from __future__ import annotations

from typing import Any

from quartdash import Input, Output, QuartDash, callback, clientside_callback, dcc, html

app = QuartDash(__name__, title="quartdash keyboard")
app.layout = html.Div(
    [
        html.H3("Press any key; the arrow keys move the square"),
        html.Div("no key yet", id="last-key"),
        html.Div("the server has seen no key", id="server-count"),
        html.Div(
            html.Div(id="square", style={"position": "absolute", "left": "140px", "top": "90px",
                                         "width": "20px", "height": "20px",
                                         "background": "#1f77b4"}),
            id="field",
            style={"position": "relative", "width": "300px", "height": "200px",
                   "border": "1px solid #ccc"},
        ),
        dcc.Store(id="keys", data={"n": 0, "key": None}),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)

clientside_callback(
    """
    function(id) {
        let n = 0, left = 140, top = 90;
        const moves = {ArrowLeft: [-10, 0], ArrowRight: [10, 0], ArrowUp: [0, -10],
                       ArrowDown: [0, 10]};
        document.addEventListener("keydown", function(event) {
            n += 1;
            dash_clientside.set_props("last-key", {children: "you pressed: " + event.key});
            dash_clientside.set_props("keys", {data: {n: n, key: event.key}});
            const move = moves[event.key];
            if (move) {
                event.preventDefault();
                left = Math.min(280, Math.max(0, left + move[0]));
                top = Math.min(180, Math.max(0, top + move[1]));
                dash_clientside.set_props("square", {style: {
                    position: "absolute", left: left + "px", top: top + "px",
                    width: "20px", height: "20px", background: "#1f77b4"}});
            }
        });
        return dash_clientside.no_update;
    }
    """,
    Output("field", "title"),
    Input("field", "id"),
)


@callback(Output("server-count", "children"), Input("keys", "data"), prevent_initial_call=True)
async def count(keys: dict[str, Any]) -> str:
    """The store's change reaches the server like any input."""
    return f"the server has seen {keys['n']} keys, the last {keys['key']!r}"
