"""A malformed HTTP callback request is the client's mistake: a JSON 400 saying what is
wrong and one warning line, where stock Dash answers 500 and logs a traceback
(docs/differences-from-dash.md, "Requests a client got wrong").

The same bodies are posted to stock Dash 4.4 (``backend="quart"``) and to quartdash, so
the difference the page documents is measured, not assumed."""

from __future__ import annotations

import json
import logging
from typing import Any

import dash
import pytest
from dash import Input, Output, dcc, html

from quartdash import QuartDash

GOOD = {"output": "out.children", "outputs": {"id": "out", "property": "children"},
        "inputs": [{"id": "in", "property": "value", "value": "hi"}],
        "changedPropIds": ["in.value"], "state": []}

#: name: (body bytes, a fragment of quartdash's error text)
MALFORMED: dict[str, tuple[bytes, str]] = {
    "not JSON": (b"{nope", "must be a JSON object"),
    "an array": (b"[1]", "must be a JSON object"),
    "no output": (b'{"inputs": []}', "payload.output must be a string"),
    "unknown callback": (b'{"output": "zz.children", "inputs": [], "state": []}',
                         "Callback function not found"),
    "too few inputs": (b'{"output": "out.children", "inputs": [], "state": []}',
                       "expected 1 inputs, got 0"),
    "an input not an object": (b'{"output": "out.children", "inputs": [5], "state": []}',
                               "inputs and state must be lists"),
    "state not a list": (b'{"output": "out.children", "state": 7, "inputs": '
                         b'[{"id": "in", "property": "value", "value": 1}]}',
                         "inputs and state must be lists"),
}


def build(cls: Any, **kwargs: Any) -> Any:
    app = cls(__name__, **kwargs)
    app.layout = html.Div([dcc.Input(id="in"), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("in", "value"))
    def echo(value: str) -> str:
        return value

    return app


async def post_all(app: Any) -> dict[str, tuple[int, str, str]]:
    """Each malformed body, then a good one: (status, content type, text) by name."""
    answers = {}
    async with app.server.test_app() as test_app:
        client = test_app.test_client()
        assert (await client.get("/")).status_code == 200
        for name, (body, _) in {**MALFORMED, "good": (b"", "")}.items():
            data = body or json.dumps(GOOD).encode()
            response = await client.post("/_dash-update-component", data=data, headers={
                "Content-Type": "application/json", "Content-Length": str(len(data))})
            answers[name] = (response.status_code, response.mimetype,
                             await response.get_data(as_text=True))
    return answers


async def test_stock_dash_answers_most_of_them_500() -> None:
    """What the page says Dash does (so the difference is still real in this Dash)."""
    answers = await post_all(build(dash.Dash, backend="quart"))
    assert answers["good"][0] == 200
    statuses = {name: answers[name][0] for name in MALFORMED}
    assert statuses.pop("not JSON") == 400
    assert set(statuses.values()) == {500}, statuses


async def test_quartdash_answers_a_json_400_and_logs_no_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    app = build(QuartDash)
    with caplog.at_level(logging.INFO):
        answers = await post_all(app)
    assert answers["good"][0] == 200
    for name, (_, fragment) in MALFORMED.items():
        status, mimetype, text = answers[name]
        assert (status, mimetype) == (400, "application/json"), (name, answers[name])
        assert fragment in json.loads(text)["error"], (name, text)
    assert not [r for r in caplog.records if r.exc_info], "a client's mistake is no traceback"
    refusals = [r for r in caplog.records if "refused callback request" in r.getMessage()]
    assert len(refusals) == 5  # one line for each parsed as an object (the last five)
