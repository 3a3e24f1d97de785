"""Dash's private parts quartdash reads: the debug traceback page, and the dev tools'
route-logging switch.

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

import html as _html
import logging
import re
import traceback
from collections.abc import Mapping
from typing import Any

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
