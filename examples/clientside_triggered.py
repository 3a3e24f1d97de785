"""Which input fired: ``dash_clientside.callback_context.triggered_id`` in the browser,
and ``ctx.triggered_id`` in a server callback answered over the WebSocket.

Three buttons feed two callbacks with the same inputs: a clientside one (Dash's
documented example) and an async server one. Both name the button that was clicked.

Run it: ``hypercorn examples.clientside_triggered:app``, then open http://127.0.0.1:8000/.
"""

from __future__ import annotations

from quartdash import Input, Output, QuartDash, callback, clientside_callback, ctx, html

BUTTONS = ["btn-1", "btn-2", "btn-3"]

app = QuartDash(__name__, title="quartdash triggered_id")
app.layout = html.Div(
    [
        html.H3("Which button was clicked?"),
        *[html.Button(f"Button {i}", id=button) for i, button in enumerate(BUTTONS, 1)],
        html.Div(id="client-log"),
        html.Div(id="server-log"),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)

clientside_callback(
    """
    function() {
        const triggered = dash_clientside.callback_context.triggered_id;
        return "in the browser, triggered id: " + triggered;
    }
    """,
    Output("client-log", "children"),
    *[Input(button, "n_clicks") for button in BUTTONS],
    prevent_initial_call=True,
)


@callback(
    Output("server-log", "children"),
    *[Input(button, "n_clicks") for button in BUTTONS],
    prevent_initial_call=True,
)
async def which(*_clicks: int | None) -> str:
    """The same answer from the server."""
    return f"on the server, triggered id: {ctx.triggered_id}"
