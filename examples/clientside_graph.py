"""Clientside callbacks: the graph's scale changes in the browser, the data on the server.

Dash's documented example, on plotly's bundled gapminder data (``px.data.gapminder()``
reads a file inside the plotly package: nothing is downloaded). Choosing an indicator
or a country runs an async server callback that writes the traces into a
``dcc.Store``; a clientside callback builds the figure from the store and the scale
(linear or log), so switching the scale never leaves the browser. A sync server
callback shows the figure the browser built.

Run it: ``hypercorn examples.clientside_graph:app``, then open http://127.0.0.1:8000/.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.express as px

from quartdash import Input, Output, QuartDash, callback, clientside_callback, dcc, html

df = px.data.gapminder()
INDICATORS = {"pop": "Population", "lifeExp": "Life Expectancy", "gdpPercap": "GDP per Capita"}

app = QuartDash(__name__, title="quartdash clientside graph")
app.layout = html.Div(
    [
        dcc.Graph(id="clientside-graph"),
        dcc.Store(id="clientside-figure-store"),
        "Indicator",
        dcc.Dropdown(INDICATORS, "pop", id="clientside-graph-indicator"),
        "Country",
        dcc.Dropdown(sorted(df["country"].unique()), "Canada", id="clientside-graph-country"),
        "Graph scale",
        dcc.RadioItems(["linear", "log"], "linear", id="clientside-graph-scale"),
        html.Hr(),
        html.Details([html.Summary("Contents of figure storage"),
                      dcc.Markdown(id="clientside-figure-json")]),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)


@callback(
    Output("clientside-figure-store", "data"),
    Input("clientside-graph-indicator", "value"),
    Input("clientside-graph-country", "value"),
)
async def update_store_data(indicator: str, country: str) -> list[dict[str, Any]]:
    """The traces for one country and indicator; the browser draws them."""
    dff = df[df["country"] == country]
    return [{"x": dff["year"], "y": dff[indicator], "mode": "markers"}]


clientside_callback(
    """
    function(data, scale) {
        return {"data": data, "layout": {"yaxis": {"type": scale}}};
    }
    """,
    Output("clientside-graph", "figure"),
    Input("clientside-figure-store", "data"),
    Input("clientside-graph-scale", "value"),
)


@callback(Output("clientside-figure-json", "children"), Input("clientside-graph", "figure"))
def generated_figure_json(figure: dict[str, Any] | None) -> str:
    """The figure as the browser built it."""
    return "```\n" + json.dumps(figure, indent=2) + "\n```"
