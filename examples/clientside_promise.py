"""A clientside callback that returns a promise: the browser fetches a JSON file that
the app itself serves and fills a DataTable with it.

The app adds one route to its Quart server, ``GET /data/<name>.json``, serving three of
plotly's bundled data sets as JSON records (nothing is downloaded). The clientside
callback is an ``async function``: Dash waits for its promise, then sets the table's
rows and columns. ``dash_table.DataTable`` is Dash's documented component for this
example; Dash now recommends dash-ag-grid for new tables (see ``ticker.py``).

Run it: ``hypercorn examples.clientside_promise:app``, then open http://127.0.0.1:8000/.
"""

from __future__ import annotations

import plotly.express as px
from dash import dash_table
from quart import Response

from quartdash import Input, Output, QuartDash, clientside_callback, dcc, html

DATASETS = {
    "iris": px.data.iris(),
    "tips": px.data.tips(),
    "gapminder-2007": px.data.gapminder().query("year == 2007"),
}
#: Encoded once: the files are static.
FILES = {name: frame.to_json(orient="records") for name, frame in DATASETS.items()}

app = QuartDash(__name__, title="quartdash clientside promise")
app.layout = html.Div(
    [
        html.H3("Rows fetched by the browser from this app"),
        dcc.Dropdown(list(FILES), "iris", id="data-select", clearable=False),
        dash_table.DataTable(id="my-table-promises", page_size=10),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)


@app.server.get("/data/<name>.json")
async def data_file(name: str) -> Response:
    """One data set as JSON records, or 404."""
    if name not in FILES:
        return Response('{"error": "no such data set"}', status=404,
                        mimetype="application/json")
    return Response(FILES[name], mimetype="application/json")


clientside_callback(
    """
    async function(value) {
        const response = await fetch(`/data/${value}.json`);
        const data = await response.json();
        const columns = Object.keys(data[0] || {}).map(key => ({name: key, id: key}));
        return [data, columns];
    }
    """,
    Output("my-table-promises", "data"),
    Output("my-table-promises", "columns"),
    Input("data-select", "value"),
)
