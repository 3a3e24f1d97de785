"""Every touch of Dash's private names (Dash 4.4; ``TESTED_DASH`` is the range).

Nothing here changes Dash at import: ``install`` (run by ``QuartDash(...)``) checks the
installed Dash's version and swaps the one process-wide name quartdash swaps; the rest
are classes and functions the package calls. What is here, and why:

* **Version and install** (``TESTED_DASH``, ``check_version``, ``install``): quartdash
  leans on the private names below, which Dash may change in any release, so a Dash
  outside the tested range is refused with what to do, not run until something breaks.
  ``install`` makes Dash's callback wrapper serialise responses with quartdash's
  encoder (``callbacks/encoding.py``, byte for byte Dash's output, faster).
* **The app's private methods** (``HookedDash``): the ``dash.Dash`` subclass
  ``QuartDash`` extends. It overrides Dash's ``_setup_server``, ``_config``,
  ``_get_worker_url`` and ``_generate_scripts_html`` to call plainly named hooks that
  ``QuartDash`` overrides, and ``_prepare_grouping`` with a faster equivalent; it reads
  Dash's private state for QuartDash (``callbacks_registered`` and the like).
* **A callback's context and call** (``ws_context``, ``http_context``,
  ``bind_callback``, ``LazyResponseAdapter``, ``request_json``, ``DashQuartServer``):
  how Dash builds a callback's context and runs it, which quartdash does for both
  transports (``callbacks/runner.py``, ``transport/http.py``).
* **Small helpers** (``to_json``, ``stringify_id``, ``context_get``, ``has_context``,
  ``CallbackContext``): typed doors to Dash's private utilities.
* **The debug traceback page, route logging, background callbacks, WebSocket hooks and
  batching**: described in their sections below.

The debug traceback page:

Dash renders a failed callback in debug mode as a traceback page: its HTTP error
handler (``dash.backends._quart.QuartDashServer.register_prune_error_handler``) answers
with ``dash.backends._utils.format_traceback_html``, and the renderer shows that page
in its error pop-up. The WebSocket answer carries the same page, so the pop-up is the
same for both transports. Two things are read from Dash for it:

* ``error_mode``: the backend's ``error_handling_mode``, which Dash sets when debug
  mode starts (``enable_dev_tools(debug=True)`` or ``app.run(debug=True)``):
  ``"prune"`` (only the app's frames) or ``"raise"`` (every frame); ``"ignore"``
  otherwise, when the page gets no traceback at all.
* ``traceback_html``: Dash's page, the same bytes as ``format_traceback_html`` gives
  (a test compares them), except that the exception's text, file names and source
  lines are HTML-escaped. Dash inserts them raw, so an exception whose text holds
  markup (an echoed form value, for instance) would run in the pop-up's same-origin
  frame; escaped, the pop-up shows the same text and runs nothing.
* ``quiet_routes``: Dash's Quart ``run`` silences route logging (debug mode's
  ``dev_tools_silence_routes_logging``) with ``logging.config.dictConfig``, whose
  ``disable_existing_loggers`` defaults to True: every logger made before it goes
  silent, quartdash's refusals and security lines included, for the whole process.
  quartdash raises the same logger's level itself and turns Dash's switch off first.

Background callbacks (``cancel_outputs``):

Dash's background callbacks, as far as quartdash must know them (Dash 4.4).

``cancel=`` works through a callback Dash adds itself (``Dash._setup_server``, one per
cancel input, named ``cancel_call``): it reads the jobs to stop from the HTTP query
string (``cancelJob``, with the page's signed ``endId``), which Dash's renderer writes
only on an HTTP callback request; over the socket it would have nothing to stop. So
quartdash serves these callbacks over HTTP, and must recognise them: by the qualified
name of Dash's function, which ``functools.wraps`` keeps on the registered wrapper.
"""

from __future__ import annotations

import functools
import html as _html
import logging
import os
import re
import traceback
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import dash
from dash import _callback, _callback_context, _utils
from dash._callback_context import CallbackContext as CallbackContext
from dash._utils import AttributeDict as AttributeDict
from dash.backends import _quart
from dash.backends.base_server import ResponseAdapter
from quart import Response

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

# --- the debug traceback page ---------------------------------------------------------
#: ``error_handling_mode`` values in which Dash sends the traceback to the page.
DEBUG_MODES = ("prune", "raise")

_FRAME = re.compile(r'  File "(.+)", line (\d+), in (\w+)')


def error_mode(backend: Any) -> str:
    """Dash's ``error_handling_mode`` of ``backend`` (an app's ``app.backend``)."""
    mode = getattr(backend, "error_handling_mode", "ignore")
    return mode if mode in DEBUG_MODES else "ignore"


def _escape(text: str) -> str:
    return _html.escape(text, quote=False)


def exception_text(error: BaseException) -> str:
    """``str(error)``, or what ``traceback`` prints when that fails: an exception's
    ``__str__`` is the app's code and may raise."""
    try:
        return str(error)
    except Exception:  # pylint: disable=broad-exception-caught
        return "<exception str() failed>"


def traceback_html(
    error: BaseException, mode: str, title: str = "Quart Debugger", backend: str = "Quart"
) -> str:
    """Dash's debug traceback page for ``error`` (``format_traceback_html``), escaped.
    ``mode`` ``"prune"`` drops the frames up to Dash's call of the app's function, as
    Dash does; any other keeps every frame."""
    errors = traceback.format_exception(type(error), error, error.__traceback__)
    pass_errs = []
    callback_handled = False
    for err in errors:
        if mode == "prune" and not callback_handled:
            if "callback invoked" in err and "_callback.py" in err:
                callback_handled = True
            continue
        pass_errs.append(err)
    raw_tb = "".join(pass_errs)
    # The file cards, grouped as Dash groups them, from the unescaped lines.
    file_cards: list[tuple[str, list[str]]] = []
    current_file = None
    card_lines: list[str] = []
    for line in raw_tb.split("\n")[:-1]:  # the last line is the error message
        match = _FRAME.match(line)
        if match:
            if current_file and card_lines:
                file_cards.append((current_file, card_lines))
            current_file = f"{match.group(1)} (line {match.group(2)}, in {match.group(3)})"
            card_lines = [line]
        elif current_file:
            card_lines.append(line)
    if current_file and card_lines:
        file_cards.append((current_file, card_lines))
    cards_html = ""
    for filename, card in file_cards:
        cards_html += (
            f"""
        <div class=\"error-card\">
            <div class=\"error-card-header\">{_escape(filename)}</div>
            <pre class=\"error-card-traceback\">"""
            + _escape("\n".join(card))
            + """</pre>
        </div>
        """
        )
    error_type = _escape(type(error).__name__)
    error_msg = _escape(exception_text(error))
    formatted_tb = _escape(raw_tb)
    title = _escape(title)
    backend = _escape(backend)
    page = f"""
    <!doctype html>
    <html lang=\"en\">
      <head>
        <title>{error_type}: {error_msg} // {title}</title>
        <style>
          body {{ font-family: monospace; background: #fff; color: #333; }}
          .debugger {{ margin: 2em; max-width: 700px; }}
          .error-card {{
            border: 1px solid #ccc;
            border-radius: 6px;
            margin-bottom: 1em;
            padding: 1em;
            background: #f9f9f9;
            box-shadow: 0 2px 4px rgba(0,0,0,0.03);
            overflow: auto;
          }}
          .error-card-header {{
            font-weight: bold;
            margin-bottom: 0.5em;
            color: #0074d9;
          }}
          .error-card-traceback {{
            max-height: 150px;
            overflow: auto;
            margin: 0;
            white-space: pre-wrap;
          }}
          .plain textarea {{ width: 100%; height: 10em; resize: vertical; overflow: auto; }}
          h1 {{ color: #c00; }}
        </style>
      </head>
      <body style=\"padding-bottom:10px\">
        <div class=\"debugger\">
          <h1>{error_type}</h1>
          <div class=\"detail\">
            <p class=\"errormsg\">{error_type}: {error_msg}</p>
          </div>
          <h2 class=\"traceback\">Traceback <em>(most recent call last)</em></h2>
          {cards_html}
          <blockquote>{error_type}: {error_msg}</blockquote>
          <div class=\"plain\">
            <p>This is the Copy/Paste friendly version of the traceback.</p>
            <textarea readonly>{formatted_tb}</textarea>
          </div>
          <div class=\"explanation\">
            The debugger caught an exception in your Dash application. You can now
            look at the traceback which led to the error.
          </div>
          <div class=\"footer\">
            Brought to you by <strong class=\"arthur\">DON'T PANIC</strong>, your
            friendly {backend} powered traceback interpreter.
          </div>
        </div>
      </body>
    </html>
    """
    return page


def quiet_routes(dash_app: Any) -> None:
    """Silence Quart's route logging as Dash's ``run`` would, without ``dictConfig``
    (which would disable every existing logger); Dash's own switch is turned off so its
    ``run`` leaves logging alone."""
    dev_tools = getattr(dash_app, "_dev_tools", None)
    if dev_tools is not None and dev_tools.get("silence_routes_logging"):
        logging.getLogger("quart.app").setLevel(logging.ERROR)
        dev_tools["silence_routes_logging"] = False


# --- background callbacks ------------------------------------------------------------
#: ``__qualname__`` of the function Dash 4.4 registers for each cancel input.
CANCEL_QUALNAME = "Dash._setup_server.<locals>.cancel_call"


def cancel_outputs(callback_map: Mapping[str, Any]) -> set[str]:
    """The outputs (``callback_map`` keys) of Dash's hidden cancel callbacks."""
    found = set()
    for output, entry in callback_map.items():
        func = entry.get("callback") if isinstance(entry, Mapping) else None
        if getattr(func, "__qualname__", None) == CANCEL_QUALNAME:
            found.add(output)
    return found


# --- WebSocket hooks and batching -----------------------------------------------------
#: The reason of a hook's refusal that gives none, as Dash words it.
_HOOK_DEFAULTS = {"websocket_connect": "Connection rejected",
                  "websocket_message": "Message rejected"}


def has_ws_hooks(app: Any, name: str) -> bool:
    """The app registered Dash hooks called ``name`` (``websocket_connect``,
    ``websocket_message``): a socket without them skips the call per message."""
    # pylint: disable=protected-access
    return bool(app._hooks.get_hooks(name))


async def run_ws_hooks(app: Any, name: str, ws: Any, *args: Any) -> tuple[int, str] | None:
    """Run the app's Dash hooks called ``name`` on ``ws`` as Dash's own route does
    (``dash.backends._quart``): None if they let it through, else the close code and
    reason they chose."""
    # pylint: disable=protected-access
    rejection = await app.backend._run_ws_hooks(
        app._hooks.get_hooks(name), ws, *args, default_reason=_HOOK_DEFAULTS[name])
    return None if rejection is None else (int(rejection[0]), str(rejection[1]))


def batch_delay(app: Any) -> float:
    """How long Dash batches ``set_props`` into one frame (``websocket_batch_delay``)."""
    # pylint: disable=protected-access
    return float(app._websocket_batch_delay or 0)


# --- version and install --------------------------------------------------------------
#: The Dash releases quartdash is tested with (setup.cfg's requirement says the same).
TESTED_DASH = ">=4.4.1,<4.5"
_LOWEST = (4, 4, 1)
_BELOW = (4, 5, 0)
_RELEASE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def check_version(version: str) -> None:
    """Refuse a Dash ``version`` outside ``TESTED_DASH`` (``RuntimeError``).

    quartdash overrides and reads Dash's private methods and state (this module), which
    Dash may change in any release: outside the tested range an app would start, then
    fail on its first callback or, worse, behave differently. So it stops at once,
    saying what is installed, what is tested, and what to do."""
    match = _RELEASE.match(version)
    release = tuple(int(part or 0) for part in match.groups()) if match else None
    if release is not None and _LOWEST <= release < _BELOW:
        return
    raise RuntimeError(
        f"quartdash is tested with dash{TESTED_DASH}, but dash {version} is installed. "
        "quartdash relies on Dash's internals, which change between releases: install a "
        f'tested Dash (pip install "dash[quart]{TESTED_DASH}"), or a quartdash release '
        f"made for dash {version}."
    )


def install(encoder: Callable[[Any], str]) -> None:
    """Check the installed Dash's version, then have Dash's callback wrapper serialise
    each response with ``encoder`` (idempotent; ``QuartDash(...)`` runs it).

    Dash's wrapper looks up ``dash._callback.to_json`` (plotly's encoder) on each call.
    quartdash's encoder gives the same text (tests/callbacks/test_encoding.py) in a
    fraction of the time when a response holds components or figures, so the swap is
    invisible to every app in the process but for speed. It is made here, not at
    import: importing quartdash leaves Dash exactly as it was (tests/compat/)."""
    check_version(dash.__version__)
    if getattr(_callback, "to_json", None) is not encoder:
        _callback.to_json = encoder  # type: ignore[attr-defined]


# --- the app's private methods ----------------------------------------------------------
_FLAT: dict[int, tuple[Any, bool]] = {}


def _is_flat(indices: Any) -> bool:
    """A callback's ``indices`` declaration is flat (``[0, 1, ..., n-1]``): no grouping.
    Remembered by the declaration object, which lives as long as its callback."""
    entry = _FLAT.get(id(indices))
    if entry is None or entry[0] is not indices:
        flat = isinstance(indices, list) and indices == list(range(len(indices)))
        entry = _FLAT[id(indices)] = (indices, flat)
    return entry[1]


class HookedDash(dash.Dash):
    """``dash.Dash`` whose private methods call plainly named hooks.

    ``QuartDash`` extends this class and overrides the hooks; their defaults do what
    Dash does, so this class alone is a plain Dash app. Dash's private state QuartDash
    needs is read through the properties and methods below."""

    # -- hooks -----------------------------------------------------------------------
    def callbacks_set_up(self, specs: list[dict[str, Any]], cancel_outputs: set[str]) -> None:
        """Called once Dash's server setup registered every callback (the global
        ``@callback`` ones included), and again if callbacks were added since; not on
        each request, before which Dash runs its setup again. ``specs`` are the callbacks'
        entries as the renderer gets them (changes to them reach the page);
        ``cancel_outputs`` the outputs of Dash's hidden cancel callbacks."""

    def renderer_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The configuration the page's renderer gets, from Dash's ``config``."""
        return config

    def worker_url(self) -> str:
        """The URL of the WebSocket worker script the page loads (Dash's own here)."""
        return super()._get_worker_url()

    def scripts_html(self, dash_scripts: str) -> str:
        """The page's scripts, from Dash's ``dash_scripts``."""
        return dash_scripts

    # -- Dash's private state, read ----------------------------------------------------
    @property
    def callbacks_registered(self) -> bool:
        """Dash's server setup ran: every callback is registered."""
        return bool(self._got_first_request["setup_server"])

    @property
    def websocket_callbacks(self) -> bool:
        """Dash's ``websocket_callbacks`` switch, as the app was built with it."""
        return bool(self._websocket_callbacks)

    def register_callbacks_now(self) -> None:
        """Run Dash's server setup (once: later calls do nothing), which registers
        every callback. Dash runs it before the first request only."""
        self._setup_server()

    def last_callback_output(self) -> str:
        """The output (the renderer's key) of the callback this app registered last."""
        return str(self._callback_list[-1]["output"])

    # -- Dash's private methods, overridden ----------------------------------------------
    #: How many callbacks the last ``callbacks_set_up`` saw; -1 before the first.
    _set_up_for = -1

    def _setup_server(self) -> None:
        super()._setup_server()  # type: ignore[no-untyped-call]
        # Dash calls this before every HTTP request and returns at once after the first:
        # the hook runs again only when callbacks were added since (``app.callback``
        # after the server started), not per request.
        if len(self._callback_list) != self._set_up_for:
            self._set_up_for = len(self._callback_list)
            self.callbacks_set_up(self._callback_list, cancel_outputs(self.callback_map))

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = super()._config()  # type: ignore[no-untyped-call]
        return self.renderer_config(config)

    def _get_worker_url(self) -> str:
        return self.worker_url()

    def _generate_scripts_html(self) -> str:
        return self.scripts_html(super()._generate_scripts_html())

    def _prepare_grouping(self, data_list: Any, indices: Any) -> tuple[Any, bool]:
        """Dash's own, with the part that depends only on the callback decided once.

        Whether a callback uses dict or nested grouping depends on its declaration
        (``indices``), yet Dash works it out on every call, twice, by building and
        comparing a ``range`` list. For the usual flat declaration the grouping is just
        the values in order, which is what Dash's ``map_grouping`` would build."""
        single = isinstance(indices, int)
        if not single and not _is_flat(indices):
            grouping: tuple[Any, bool] = super()._prepare_grouping(  # type: ignore[no-untyped-call]
                data_list, indices)
            return grouping
        flat_data = data_list if isinstance(data_list, list) else [data_list]
        if not flat_data:
            return [], False
        return (flat_data[indices] if single else flat_data[: len(indices)]), False


def last_global_callback_output() -> str:
    """The output of the ``dash.callback`` registered last (Dash keeps them in a
    process-wide list until an app's server setup takes them)."""
    return str(_callback.GLOBAL_CALLBACK_LIST[-1]["output"])


def seen_by_dash_as_its_own(func: F) -> F:
    """Dash names a callback with no Input and no Output after its call site: the first
    frame outside the dash package. quartdash's wrappers of ``callback`` would be that
    frame for every such callback, giving them all one name (the last one would replace
    the others). So a wrapper's code claims a file inside the dash package, and Dash
    looks past it to the app's own line."""
    name = os.path.join(os.path.dirname(_callback.__file__), f"<quartdash {func.__qualname__}>")
    func.__code__ = func.__code__.replace(co_filename=name)
    return func


# --- a callback's context and call ------------------------------------------------------
#: Dash's Quart backend, which quartdash's (``transport/http.py``) extends.
DashQuartServer = _quart.QuartDashServer

_DEFAULT_TYPE = "application/json"


class LazyResponseAdapter(_quart.QuartResponseAdapter):
    """Dash's Quart response adapter, minus a Quart ``Response`` built per call.

    Over WebSocket the adapter only matters if a callback sets a cookie or a header
    (``ctx.response``), which then reach the browser through ``handover.py``; building
    the ``Response`` up front was the largest single cost of a WebSocket callback in
    the profile (about 5 % of the server's time per round trip)."""

    def __init__(self) -> None:  # pylint: disable=super-init-not-called
        ResponseAdapter.__init__(self)  # type: ignore[no-untyped-call]

    @functools.cached_property
    def _quart_response(self) -> Response:  # type: ignore[override]
        return Response(content_type=_DEFAULT_TYPE)

    def changes(self) -> list[tuple[str, str]]:
        """The headers the callback set (``Set-Cookie`` among them), in order; none
        when it never touched the response."""
        response: Response | None = self.__dict__.get("_quart_response")
        if response is None:
            return []
        return [(name, value) for name, value in response.headers.items()
                if not (name.lower() == "content-type" and value == _DEFAULT_TYPE)]


def ws_context(
    payload: Mapping[str, Any], websocket: Any, facts: Mapping[str, Any]
) -> AttributeDict:
    """Dash's ``create_ws_context`` built in one go: the same keys and values, without
    a ``__setattr__`` per key and a ``Response`` per call (see ``LazyResponseAdapter``),
    plus ``facts`` about the socket (its handshake's cookies and headers)."""
    inputs = payload.get("inputs", [])
    input_values = _inputs_to_dict(inputs)
    states = payload.get("state", [])
    return AttributeDict(
        inputs_list=inputs,
        states_list=states,
        outputs_list=payload.get("outputs", []),
        input_values=input_values,
        state_values=_inputs_to_dict(states),
        triggered_inputs=[
            {"prop_id": x, "value": input_values.get(x)}
            for x in payload.get("changedPropIds", [])
        ],
        dash_response=LazyResponseAdapter(),
        updated_props={},
        dash_websocket=websocket,
        **facts,
    )


def _inputs_to_dict(inputs: Any) -> AttributeDict:
    found: AttributeDict = _utils.inputs_to_dict(inputs)  # type: ignore[no-untyped-call]
    return found


def http_context(dash_app: dash.Dash, body: dict[str, Any]) -> AttributeDict:
    """Dash's context of an HTTP callback request (inside the request), as Dash's own
    route builds it; raises what Dash raises on inputs or state of the wrong shape."""
    # pylint: disable=protected-access
    context: AttributeDict = dash_app._initialize_context(body)  # type: ignore[arg-type]
    return context


async def request_json() -> Any:
    """The current request's JSON body, read as Dash's Quart backend reads it."""
    return await _quart.QuartRequestAdapter().get_json()  # type: ignore[no-untyped-call]


def bind_callback(
    dash_app: dash.Dash, context: AttributeDict, payload: Mapping[str, Any]
) -> tuple[Callable[..., Any], Callable[[], Any]]:
    """Dash's steps from a request to a call: the registered function for
    ``payload["output"]``, and Dash's wrapper of it bound to the arguments and
    ``context`` (what calling runs: Dash's output checks and serialisation included).
    Raises what Dash raises on a request of the wrong shape."""
    # pylint: disable=protected-access
    func: Callable[..., Any] = dash_app._prepare_callback(context, payload)  # type: ignore[arg-type]
    args = dash_app._inputs_to_vals(  # type: ignore[no-untyped-call]
        context.inputs_list + context.states_list)
    call: Callable[[], Any] = dash_app._execute_callback(  # type: ignore[no-untyped-call]
        func, args, context.outputs_list, context)
    return func, call


# --- small helpers ------------------------------------------------------------------------
def to_json(value: Any) -> str:
    """Dash's own serialiser (plotly's ``to_json_plotly``), as text."""
    return str(_utils.to_json(value))  # type: ignore[no-untyped-call]


def stringify_id(component_id: str | dict[str, Any]) -> str:
    """A component id as the renderer keys it (a pattern-matching id's sorted JSON)."""
    return _utils.stringify_id(component_id)


def context_get(key: str, default: Any = None) -> Any:
    """``key`` of the running callback's Dash context, else ``default``."""
    return _callback_context._get_from_context(key, default)  # type: ignore[no-untyped-call]


def has_context(func: Callable[P, R]) -> Callable[P, R]:
    """Dash's guard of ``ctx``'s properties: ``func`` raises Dash's
    ``MissingCallbackContextException`` when called outside a callback."""
    guarded: Callable[P, R] = _callback_context.has_context(func)  # type: ignore[no-untyped-call]
    return guarded
