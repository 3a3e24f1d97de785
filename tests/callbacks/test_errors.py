"""What the page is told when a callback raises over the socket: in Dash's debug mode
Dash's own traceback page (the same bytes Dash's HTTP error handler sends, escaped),
outside it a generic message. The browser side is tests/e2e/test_error_parity.py."""

from __future__ import annotations

from typing import Any

import pytest
from dash import _callback
from dash.backends._utils import format_traceback_html

from quartdash import Input, Output, QuartDash, html
from quartdash._compat.dash import exception_text, traceback_html
from quartdash.callbacks.runner import GENERIC_ERROR, debug_mode
from quartdash.testing.wsclient import callback_request
from tests.transport.test_inprocess import ORIGIN, WS, frames_until_response, started


def _lookup(key: str) -> str:
    return {"a": "1"}[key]


def _app_code(value: str) -> str:
    try:
        return _lookup(value)
    except KeyError as err:
        raise ValueError(f"no setting {value!r} (see the docs)") from err


def _raised(func: Any, *args: Any) -> BaseException:
    """What ``func`` raised when Dash called it as it calls a callback."""
    try:
        _callback._invoke_callback(func, *args)  # pylint: disable=protected-access
    except Exception as err:  # pylint: disable=broad-exception-caught
        return err
    raise AssertionError("did not raise")


@pytest.mark.parametrize("mode", ["prune", "raise"])
def test_the_page_is_dashs_own_byte_for_byte(mode: str) -> None:
    """Dash's template and pruning, kept in step with the installed Dash: this fails
    when a Dash release changes its traceback page."""
    error = _raised(_app_code, "b")
    ours = traceback_html(error, mode)
    assert ours == format_traceback_html(error, mode, "Quart Debugger", "Quart")
    assert "in _app_code" in ours
    # Dash's pruning keeps what follows its call of the app's function: without it,
    # every frame, the chained cause's and Dash's own included.
    assert ("in _lookup" in ours) is ("callback invoked" in ours) is (mode == "raise")


def test_markup_in_the_exception_is_escaped() -> None:
    def callback(value: str) -> str:
        raise RuntimeError(f"bad value {value}")

    error = _raised(callback, "<img src=x onerror=alert(1)></textarea><script>x()</script>")
    page = traceback_html(error, "prune")
    assert "<img" not in page and "<script>" not in page and page.count("</textarea>") == 1
    assert "RuntimeError: bad value &lt;img src=x onerror=alert(1)&gt;&lt;/textarea&gt;" in page


def test_an_exception_whose_text_fails_still_gets_a_page() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    def callback() -> None:
        raise Broken()

    error = _raised(callback)
    assert exception_text(error) == "<exception str() failed>"
    assert "Broken: &lt;exception str() failed&gt;" in traceback_html(error, "prune")


def _failing_app() -> QuartDash:
    app = QuartDash(__name__)
    app.layout = html.Div([html.Button(id="b"), html.Div(id="o")])

    @app.callback(Output("o", "children"), Input("b", "n_clicks"))
    async def fails(_n: int | None) -> str:
        raise RuntimeError("postgres://app:hunter2@db")

    return app


async def _answer(app: QuartDash) -> dict[str, Any]:
    async for client in started(app):
        async with client.websocket(WS, headers=ORIGIN) as ws:
            await ws.send(callback_request("d", "o", "children", [("b", "n_clicks", 1)]))
            response, _ = await frames_until_response(ws, "d")
    payload: dict[str, Any] = response["payload"]
    return payload


async def test_debug_mode_sends_dashs_traceback_page() -> None:
    app = _failing_app()
    app.enable_dev_tools(debug=True, dev_tools_hot_reload=False)
    assert debug_mode(app) == "prune"
    payload = await _answer(app)
    assert payload["status"] == "error"
    assert payload["message"] == "postgres://app:hunter2@db"
    page = payload["html"]
    assert page.lstrip().startswith("<!doctype html>")
    assert "RuntimeError: postgres://app:hunter2@db" in page and "in fails" in page
    assert "quartdash" not in page and "_callback.py" not in page  # pruned to the app


@pytest.mark.parametrize("tools", [None, {"debug": False, "dev_tools_ui": True}],
                         ids=["no dev tools", "pop-up without debug"])
async def test_outside_debug_mode_the_page_gets_the_generic_message(
        tools: dict[str, Any] | None) -> None:
    """The dev tools' pop-up alone (as Dash's hot-reload test runs an app) is not debug
    mode: Dash's HTTP answer then has no exception text, nor has the socket's."""
    app = _failing_app()
    if tools is not None:
        app.enable_dev_tools(dev_tools_hot_reload=False, **tools)
    assert debug_mode(app) is None
    assert await _answer(app) == {"status": "error", "message": GENERIC_ERROR}
