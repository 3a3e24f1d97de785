"""Runs one callback for either transport: async on the loop, sync in a thread pool.

Stock Dash on Quart runs a *sync* callback that arrives over HTTP on the event loop, so
one slow callback freezes every socket of the process. Here every sync callback, HTTP
or WebSocket, runs in one bounded pool shared fairly by the whole app (``threads.py``),
with the caller's context (Quart's request or websocket, Dash's callback context)
copied into the thread; async callbacks are awaited on the loop with no hop.

Dash keeps the callback registry and does the work itself (``_compat/dash.py``:
``ws_context``, ``bind_callback``); this module only decides where it runs and
separates the client's mistakes (malformed inputs, unknown callbacks: a warning and an
error response) from the app's (an exception in the callback: logged with traceback,
and only a generic message to the page unless Dash's debug mode is on: an exception's
text can hold what no visitor should read, such as a database URL with its password).
In debug mode the page gets what Dash's HTTP error handler gives it: the exception's
text and Dash's traceback page (``error_page``), which the page script hands to the
renderer as it hands it an HTTP error, so the pop-up is the same for both transports.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dash.exceptions import PreventUpdate, WebsocketDisconnected

from quartdash._compat import dash as dash_compat
from quartdash._compat.dash import LazyResponseAdapter as LazyResponseAdapter
from quartdash._compat.dash import ws_context as ws_context
from quartdash.exceptions import ClientError
from quartdash.observe import events, tracing
from quartdash.transport.limits import printable

if TYPE_CHECKING:
    import dash

    from quartdash._compat.dash import AttributeDict
    from quartdash.callbacks.threads import FairPool

log = logging.getLogger("quartdash")


#: What the page is told when a callback raised, outside Dash's debug mode.
GENERIC_ERROR = "Callback failed; the server's log has the details."


class Prepared:
    """A callback bound to its arguments and context, ready to run somewhere."""

    __slots__ = ("call", "is_async", "output", "persistent")

    def __init__(
        self, call: Callable[[], Any], is_async: bool, output: str, persistent: bool = False
    ) -> None:
        self.call = call
        self.is_async = is_async
        self.output = output
        #: Runs for the life of its tab's socket (``@callback(persistent=True)``).
        self.persistent = persistent


def callback_spec(dash_app: dash.Dash, output: str) -> dict[str, Any]:
    """The registry entry for ``output``, or ``ClientError``."""
    spec = dash_app.callback_map.get(output)
    if not isinstance(spec, dict) or "callback" not in spec:
        raise ClientError(f"Callback function not found for output '{output[:200]}'.")
    return spec


def _check_shape(spec: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
    """The request carries as many inputs and states as the callback declares."""
    for key, declared in (("inputs", "inputs"), ("state", "state")):
        got = payload.get(key) or []
        if len(got) != len(spec.get(declared) or []):
            raise ClientError(
                f"expected {len(spec.get(declared) or [])} {key}, got {len(got)}"
            )


def prepare(
    dash_app: dash.Dash, g: AttributeDict, payload: Mapping[str, Any], websocket: bool = False
) -> Prepared:
    """Bind the named callback to the payload; malformed input, or a callback not
    served over this transport (``websocket``), is ``ClientError``."""
    output = payload.get("output")
    if not isinstance(output, str):
        raise ClientError("payload.output must be a string")
    spec = callback_spec(dash_app, output)
    if websocket and not spec.get("websocket"):
        raise ClientError(f"callback '{output[:200]}' is not served over WebSocket")
    persistent = bool(spec.get("persistent"))
    if persistent and not websocket:
        raise ClientError(f"callback '{output[:200]}' runs only over the WebSocket")
    _check_shape(spec, payload)
    try:
        func, call = dash_compat.bind_callback(dash_app, g, payload)
    except Exception as exc:  # Dash's own checks of the request's shape
        raise ClientError(f"malformed callback request: {type(exc).__name__}") from None
    return Prepared(call, _is_async(func), output, persistent)


@functools.lru_cache(maxsize=4096)
def _is_async(func: Callable[..., Any]) -> bool:
    """``inspect.iscoroutinefunction``, once per callback rather than once per call."""
    return inspect.iscoroutinefunction(func)


async def execute(prepared: Prepared, pool: FairPool, clients: Sequence[str],
                  transport: events.Transport) -> Any:
    """Run it where it belongs and return Dash's serialised response. A sync callback
    takes a thread of the pool within the share of each of ``clients``. How it ended
    and how long it took are reported (``observe/events.py``) for either ``transport``.

    Raises what the callback raised (``PreventUpdate`` included). With OpenTelemetry,
    it runs in its span (``observe/tracing.py``), current in its thread too."""
    started = time.perf_counter()
    ended: events.Outcome = "error"
    failure: BaseException | None = None
    span = (None if tracing.tracer is None
            else tracing.callback_started(prepared.output, transport))
    try:
        if prepared.is_async:
            result = await prepared.call()
        else:
            context = contextvars.copy_context()
            result = await pool.run(clients, functools.partial(context.run, prepared.call))
            if inspect.iscoroutine(result):  # a sync wrapper around an async function
                result = await result
        ended = "ok"
        return result
    except (PreventUpdate, WebsocketDisconnected):
        ended = "prevented"
        raise
    except asyncio.CancelledError:
        ended = "cancelled"
        raise
    except Exception as exc:
        failure = exc
        raise
    finally:
        events.observer.callback(transport, ended, None if prepared.persistent
                                 else time.perf_counter() - started)
        if span is not None:
            span.finish(ended, failure)


def outcome(
    output: str, exc: BaseException, *, debug: str | None = None, quiet: bool = False
) -> tuple[str, str | None]:
    """The response status and message for a callback that raised, logging as the cause
    deserves: a client's mistake in one warning line (none when ``quiet``: a client
    that keeps making them must not fill the log), the app's with its traceback, once.
    The page gets the exception's text only in Dash's debug mode (``debug``, see
    ``debug_mode``)."""
    if isinstance(exc, (PreventUpdate, WebsocketDisconnected)):
        return "prevent_update", None
    if isinstance(exc, ClientError):
        if not quiet:
            log.warning("quartdash: refused callback request: %s", printable(exc, 300))
        return "error", str(exc)
    log.error("quartdash: callback %s raised", printable(output), exc_info=exc)
    if debug:
        return "error", dash_compat.exception_text(exc) or type(exc).__name__
    return "error", GENERIC_ERROR


def error_page(exc: BaseException, debug: str | None) -> str | None:
    """In Dash's debug mode, the traceback page Dash's HTTP error handler answers with
    when a callback raised ``exc`` (what the error pop-up shows, pruned to the app's
    frames as ``debug`` says); None outside debug mode, and for what is not the app's
    error (a client's mistake, ``PreventUpdate``)."""
    if not debug or isinstance(exc, (PreventUpdate, WebsocketDisconnected, ClientError)):
        return None
    return dash_compat.traceback_html(exc, debug)


def debug_mode(dash_app: dash.Dash) -> str | None:
    """Dash's debug mode as its HTTP error handler has it: ``"prune"`` (tracebacks of
    the app's frames) or ``"raise"`` (every frame) once ``app.run(debug=True)`` or
    ``enable_dev_tools(debug=True)`` ran, else None. The dev tools' pop-up alone
    (``dev_tools_ui=True`` without debug) is not debug mode: Dash's HTTP answer then
    holds no exception text, so neither does the socket's."""
    mode = dash_compat.error_mode(getattr(dash_app, "backend", None))
    return None if mode == "ignore" else mode
