"""Clientside callbacks, the Plotly Express variant: the server builds the whole figure
with ``px.scatter``, the browser only changes its y axis.

The store holds a complete figure (data and layout, as Plotly Express made it, from
plotly's bundled gapminder data). The clientside callback copies it with the chosen
axis type; switching between linear and log never reaches the server.

Run it: ``hypercorn examples.clientside_px:app``, then open http://127.0.0.1:8000/.
"""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go

from quartdash import Input, Output, QuartDash, callback, clientside_callback, dcc, html

df = px.data.gapminder()
INDICATORS = {"pop": "Population", "lifeExp": "Life Expectancy", "gdpPercap": "GDP per Capita"}

app = QuartDash(__name__, title="quartdash clientside px")
app.layout = html.Div(
    [
        dcc.Graph(id="clientside-graph-px"),
        dcc.Store(id="clientside-figure-store-px"),
        "Indicator",
        dcc.Dropdown(INDICATORS, "pop", id="clientside-graph-indicator-px"),
        "Country",
        dcc.Dropdown(sorted(df["country"].unique()), "Canada", id="clientside-graph-country-px"),
        "Graph scale",
        dcc.RadioItems(["linear", "log"], "linear", id="clientside-graph-scale-px"),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)


@callback(
    Output("clientside-figure-store-px", "data"),
    Input("clientside-graph-indicator-px", "value"),
    Input("clientside-graph-country-px", "value"),
)
async def update_store_data(indicator: str, country: str) -> go.Figure:
    """A whole Plotly Express figure for one country and indicator."""
    dff = df[df["country"] == country]
    return px.scatter(dff, x="year", y=indicator, title=f"{INDICATORS[indicator]}: {country}")


clientside_callback(
    """
    function(figure, scale) {
        if (figure === undefined) {
            return {"data": [], "layout": {}};
        }
        return Object.assign({}, figure, {
            "layout": {...figure.layout, "yaxis": {...figure.layout.yaxis, "type": scale}}
        });
    }
    """,
    Output("clientside-graph-px", "figure"),
    Input("clientside-figure-store-px", "data"),
    Input("clientside-graph-scale-px", "value"),
)
