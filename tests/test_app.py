"""``QuartDash(server=...)``: what Dash takes with ``backend="quart"`` is taken, and a
Flask app (or anything else) is refused with what to do instead.

A Flask app used to fail deep in Dash with ``TypeError: cannot unpack non-iterable
ABCMeta object``; a Dash app moving over with ``server=flask.Flask(__name__)`` had no
clue that ``app.server`` must be a Quart app, nor where the Quart equivalents are."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import dash
import flask
import pytest
import quart
from dash.backends import get_backend

from quartdash import QuartDash, html
from quartdash.app import MIGRATION_DOC
from quartdash.transport.http import QuartDashServer

ROOT = Path(__file__).resolve().parent.parent


def _served(app: QuartDash) -> int:
    """The status of the app's index page, through the server Quart actually runs."""
    app.layout = html.Div("hello", id="hello")

    async def get() -> int:
        async with app.server.test_app() as test_app:
            response = await test_app.test_client().get("/")
            return int(response.status_code)

    return asyncio.run(get())


def test_a_flask_server_is_refused_with_what_to_do() -> None:
    with pytest.raises(TypeError) as info:
        QuartDash(__name__, server=flask.Flask(__name__))
    message = str(info.value)
    assert "Flask app" in message
    assert "quart.Quart" in message
    assert "app.server" in message
    assert MIGRATION_DOC in message
    assert (ROOT / MIGRATION_DOC).is_file(), "the message points to a page that exists"


def test_a_flask_server_given_positionally_or_to_init_app_is_refused() -> None:
    with pytest.raises(TypeError, match="Flask app"):
        QuartDash(__name__, flask.Flask(__name__))
    app = QuartDash(__name__, server=False)
    with pytest.raises(TypeError, match="Flask app") as info:
        app.init_app(flask.Flask(__name__))
    assert "init_app" in str(info.value)


@pytest.mark.parametrize("server", ["app", object(), quart.Quart, 2])
def test_anything_else_is_refused_naming_what_it_got(server: Any) -> None:
    with pytest.raises(TypeError) as info:
        QuartDash(__name__, server=server)
    message = str(info.value)
    assert "quart.Quart" in message and MIGRATION_DOC in message
    assert type(server).__qualname__ in message


def test_init_app_takes_only_a_quart_app() -> None:
    app = QuartDash(__name__, server=False)
    with pytest.raises(TypeError, match=r"takes a quart\.Quart app, not builtins\.bool"):
        app.init_app(True)  # type: ignore[arg-type]


QUART_BACKENDS = [None, "quart", "Quart", "QUART", get_backend("quart"), QuartDashServer]
BACKEND_IDS = ["none", "quart", "Quart", "QUART", "dash-quart-class", "quartdash-class"]


def _dash_accepts(server: Any, backend: Any) -> bool:
    """Whether stock Dash 4.4 builds an app from these two keywords."""
    try:
        dash.Dash(__name__, server=server, backend=backend)
    except (TypeError, ValueError):
        return False
    return True


@pytest.mark.parametrize("backend", QUART_BACKENDS, ids=BACKEND_IDS)
@pytest.mark.parametrize("server", [True, False, None, "quart app"])
def test_what_dash_takes_for_quart_is_taken(server: Any, backend: Any) -> None:
    """Every (server, backend) pair stock Dash accepts for a Quart app, QuartDash
    accepts too, and serves the layout on the Quart app it was given or made."""
    given = quart.Quart(__name__) if server == "quart app" else server
    probe = quart.Quart(__name__) if server == "quart app" else server  # Dash's own
    if backend is not QuartDashServer and not _dash_accepts(probe, backend):
        # Dash 4.4 fails here on its own (a Quart app with a backend class trips its
        # check_backend); QuartDash must take it all the same.
        assert backend is get_backend("quart") and server == "quart app"
    app = QuartDash(__name__, server=given, backend=backend)
    if isinstance(given, quart.Quart):
        assert app.server is given
    elif not given:  # False or None: the server comes later, through init_app
        later = quart.Quart(__name__)
        app.init_app(later)
        assert app.server is later
    assert isinstance(app.server, quart.Quart)
    assert _served(app) == 200


@pytest.mark.parametrize("backend", ["flask", "fastapi", object])
def test_other_backends_are_still_refused(backend: Any) -> None:
    with pytest.raises(ValueError, match="Quart only"):
        QuartDash(__name__, backend=backend)


def test_a_backplane_that_is_neither_a_url_nor_a_backplane_is_refused() -> None:
    """It used to pass silently as the in-process backplane, leaving a logout on one
    worker only."""
    with pytest.raises(TypeError, match="backplane= takes a redis:// URL"):
        QuartDash(__name__, backplane=object())  # type: ignore[arg-type]


def test_a_backplane_object_is_used_and_the_url_setting_stays_unset(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from quartdash.cluster.backplane import LocalBackplane

    monkeypatch.setenv("QUARTDASH_BACKPLANE", "redis://127.0.0.1:1/0")
    given = LocalBackplane()
    app = QuartDash(__name__, backplane=given)
    assert app.backplane is given and app.settings.backplane is None


async def test_callbacks_are_marked_when_registered_or_added_not_per_request() -> None:
    """Dash reruns its server setup before every HTTP request; the transports of the
    callbacks are marked when there is something new to mark, and only then."""
    from quartdash import Input, Output

    app = QuartDash(__name__)
    app.layout = html.Div([html.Div(id="a"), html.Div(id="b"), html.Div(id="c")])

    @app.callback(Output("b", "children"), Input("a", "children"))
    async def first(value: Any) -> Any:
        return value

    marked: list[int] = []
    original = app.callbacks_set_up

    def counting(specs: list[dict[str, Any]], cancel_outputs: set[str]) -> None:
        marked.append(len(specs))
        original(specs, cancel_outputs)

    app.callbacks_set_up = counting  # type: ignore[method-assign]
    async with app.server.test_app() as test_app:
        client = test_app.test_client()
        for _ in range(3):
            assert (await client.get("/_dash-layout")).status_code == 200
        assert marked == [1]

        @app.callback(Output("c", "children"), Input("b", "children"), websocket=False)
        async def second(value: Any) -> Any:
            return value

        for _ in range(2):
            assert (await client.get("/_dash-layout")).status_code == 200
        assert marked == [1, 2]
        assert app.callback_map["c.children"]["websocket"] is False
        assert app.callback_map["b.children"]["websocket"] is True
