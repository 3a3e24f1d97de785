"""encode_json gives byte for byte what Dash's own encoder (plotly's to_json) gives,
for every kind of value a prop or a response may hold."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import pytest
from dash import Patch, dcc, html
from dash._utils import to_json

from quartdash.callbacks.encoding import encode_json


def _patch() -> Patch:
    p = Patch()
    p["a"] = 1
    p.append(3)
    return p


FRAME = pd.DataFrame({"a": [1, 2], "b": ["x", "y"],
                      "t": pd.to_datetime(["2020-01-01", "2021-01-01"])})
VALUES: dict[str, Any] = {
    "int": 1, "float": 1.5, "nan": float("nan"), "inf": float("inf"), "none": None,
    "html-unsafe text": "é<>&'/\u2028\u2029", "list": [1, "a", None],
    "nested": {"a": {"b": [1, 2]}}, "tuple": (1, 2), "int keys": {1: "a"}, "big int": 2**70,
    "numpy array": np.arange(5), "numpy nan": np.array([1.5, np.nan]),
    "numpy scalar": np.float64(2.5), "numpy int": np.int64(3), "numpy 2d": np.arange(6).reshape(2, 3),
    "numpy bool": np.bool_(True), "numpy datetime": np.array(["2020-01-01"], dtype="datetime64[D]"),
    "numpy strings": np.array(["a", "b"]), "numpy objects": np.array([1, "a"], dtype=object),
    "datetime": datetime.datetime(2020, 1, 2, 3, 4, 5), "date": datetime.date(2020, 1, 2),
    "decimal": decimal.Decimal("1.5"),
    "component": html.Div([html.Span("x</script>", id="s"), dcc.Graph(figure={"data": []})], id="d"),
    "component with numpy": html.Div(np.arange(3)),
    "figure": go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), "express figure": px.scatter(FRAME, x="a", y="a"),
    "patch": _patch(), "patch in a dict": {"x": _patch()},
    "series": pd.Series([1, 2]), "series with nan": pd.Series([1.0, None]),
    "records": FRAME.to_dict("records"), "frame": FRAME, "timestamp": pd.Timestamp("2020-01-01"),
    "NaT": pd.NaT, "categorical": pd.Categorical(["a", "b"]), "index": pd.Index([1, 2]),
    "table": dcc.Dropdown(options=FRAME["b"].tolist(), value="x"),
}


def _outcome(encode: Any, value: Any) -> str:
    """The text, or the error for values Dash cannot send either (big ints, frames)."""
    try:
        return str(encode(value))
    except TypeError as err:
        return f"TypeError {err}"


@pytest.mark.parametrize("name", list(VALUES))
def test_same_bytes_as_dash(name: str) -> None:
    assert _outcome(encode_json, VALUES[name]) == _outcome(to_json, VALUES[name])
