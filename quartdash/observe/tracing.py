"""OpenTelemetry traces: a span per callback and per push, linked to what caused them.

Nothing here needs OpenTelemetry. When ``opentelemetry-api`` is installed (looked up once,
with ``importlib.util.find_spec``, when quartdash is imported) ``tracer`` is its tracer
for quartdash; otherwise ``tracer`` is None, no module of OpenTelemetry is imported, and
the callers (``callbacks/runner.py``, ``cluster/registry.py``, ``transport/route.py``)
pay one ``tracing.tracer is None`` check each.

"Configured" is OpenTelemetry's own meaning: the API is installed, and the spans go
wherever the app's tracer provider sends them. ``tracer`` is the API's proxy tracer, so
a provider set at any time (before or after quartdash is imported) takes effect; until
one is set, or with none at all, the API's no-op provider makes every span a
non-recording one (a few microseconds a callback, see docs/operations.md). ``use``
gives quartdash a provider of its own instead of the global one (tests, or an app that
keeps quartdash's spans apart).

The spans (names and attributes are the ``*`` constants below):

* ``quartdash.callback``: one per callback run (``runner.execute``, both transports),
  from its start to its end, with its transport, its callback id (Dash's output string,
  at most ``MAX_ID`` characters) and its outcome (``ok``, ``error``, ``prevented``,
  ``cancelled``, as the metrics have them). An error sets the status ERROR (with the
  exception's type) and records the exception. It is the current span while the
  callback runs, in a sync callback's thread too (the runner copies the context into
  it), so spans the app opens nest under it.

  Over HTTP it is a child of the current span (an ASGI instrumentation's server span);
  with none, of the request's W3C ``traceparent``, extracted by the global propagator,
  so the callback joins its caller's trace.

  Over the WebSocket it starts a trace of its own, with a *link* to the socket's
  handshake: the handshake's ``traceparent``, or the current span when the handshake
  ran (an ASGI instrumentation's). A link and not a parent, because a socket lives for
  hours and carries thousands of callbacks, each caused by its own message: as children
  of the handshake they would all be one trace that never ends (one sampling decision
  for all of them, a trace view no backend can show, a tail sampler that never sees the
  trace complete). Each callback is its own short trace, and the link still leads from
  any of them to the socket that carried it.

* ``quartdash.push``: one per ``app.connections.push`` or ``push_sync``, a child of the
  current span (the callback's, when a callback pushes), with the selector's kind
  (``topic``, ``user``, ``session``, ``connection``, ``everyone``), the topic (at most
  ``MAX_ID`` characters; users, sessions and connections are not named) and the sockets
  it reached across the cluster.

What a client controls: the ``traceparent`` (and ``tracestate``, ``baggage``) headers,
parsed by OpenTelemetry's propagator, which bounds and validates them. A client's
``traceparent`` with its sampled flag set asks a parent-based sampler (the SDK's
default) to record its callbacks; an app open to the Internet that wants to keep that
choice its own configures its sampler so (see docs/operations.md).
"""

from __future__ import annotations

import importlib.util
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from opentelemetry.context import Context
    from opentelemetry.trace import Link, Span, Tracer, TracerProvider
    from werkzeug.datastructures import Headers

    from quartdash.cluster.models import Selector
    from quartdash.observe.events import Outcome, Transport


def _installed() -> bool:
    """opentelemetry-api can be imported, found without importing it."""
    try:
        return (importlib.util.find_spec("opentelemetry") is not None
                and importlib.util.find_spec("opentelemetry.trace") is not None)
    except (ImportError, ValueError):  # a parent that is not a package, a None in sys.modules
        return False


#: opentelemetry-api is installed: looked up once, and imported only then.
AVAILABLE = _installed()
if TYPE_CHECKING or AVAILABLE:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

#: Span names.
CALLBACK_SPAN = "quartdash.callback"
PUSH_SPAN = "quartdash.push"
#: Span attributes.
TRANSPORT = "quartdash.transport"
CALLBACK_ID = "quartdash.callback.id"
OUTCOME = "quartdash.callback.outcome"
SELECTOR = "quartdash.push.selector"
TOPIC = "quartdash.push.topic"
SOCKETS = "quartdash.push.sockets"
#: Longest callback id or topic a span carries (the rest is cut).
MAX_ID = 200
#: The instrumentation scope's name.
SCOPE = "quartdash"

#: quartdash's tracer; None when opentelemetry-api is not installed (all callers check).
tracer: Tracer | None = None

#: The links of the WebSocket callbacks started in this context: the socket's handshake
#: (set by ``socket_opened`` in the socket's task, whose callbacks' tasks inherit it).
_socket_links: ContextVar[tuple[Link, ...]] = ContextVar("quartdash_socket_links", default=())


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("quartdash")
    except PackageNotFoundError:
        return None


def use(provider: TracerProvider | None) -> None:
    """Take quartdash's spans from ``provider``; None: from the global provider again
    (the default). ``RuntimeError`` without opentelemetry-api."""
    global tracer
    if not AVAILABLE:
        raise RuntimeError("tracing needs opentelemetry-api (pip install quartdash[otel])")
    tracer = (otel_trace.get_tracer(SCOPE, _version()) if provider is None
              else provider.get_tracer(SCOPE, _version()))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ID else text[:MAX_ID]


# --- callbacks --------------------------------------------------------------------------------
class CallbackSpan:
    """A callback's span, current from ``callback_started`` until ``finish``."""

    __slots__ = ("span", "token")

    def __init__(self, span: Span, token: Token[Context]) -> None:
        self.span = span
        self.token = token

    def finish(self, outcome: Outcome, error: BaseException | None) -> None:
        """The callback ended with ``outcome`` (``error``: what it raised)."""
        span = self.span
        if span.is_recording():
            span.set_attribute(OUTCOME, outcome)
            if outcome == "error" and error is not None:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()
        otel_context.detach(self.token)


def callback_started(output: str, transport: Transport) -> CallbackSpan:
    """Start the span of the callback ``output`` about to run over ``transport`` and make
    it current (the caller is ``runner.execute``; it calls ``finish`` in the same task)."""
    assert tracer is not None
    links: tuple[Link, ...] = ()
    parent: Context | None = None
    kind = SpanKind.INTERNAL
    if transport == "websocket":
        links = _socket_links.get()
        kind = SpanKind.SERVER
        if otel_trace.get_current_span().get_span_context().is_valid:
            # The socket's own server span (an ASGI instrumentation's): not a parent.
            parent = otel_trace.set_span_in_context(otel_trace.INVALID_SPAN)
    elif not otel_trace.get_current_span().get_span_context().is_valid:
        kind = SpanKind.SERVER  # no server span: this one is where the request enters
        parent = _remote_http_parent()
    span = tracer.start_span(
        CALLBACK_SPAN, parent, kind,
        attributes={TRANSPORT: transport, CALLBACK_ID: _clip(output)}, links=links,
    )
    return CallbackSpan(span, otel_context.attach(otel_trace.set_span_in_context(span)))


def _remote_http_parent() -> Context | None:
    """The caller's context from the HTTP request's ``traceparent``, if it has one."""
    from quart import has_request_context, request

    if not has_request_context() or "traceparent" not in request.headers:
        return None
    return _extract(request.headers)


def _extract(headers: Headers) -> Context:
    return propagate.extract(headers)


def socket_opened(headers: Headers) -> None:
    """A socket is being served in this task: remember what its callbacks link to, the
    current span (an ASGI instrumentation's) or the handshake's ``traceparent``."""
    linked = otel_trace.get_current_span().get_span_context()
    if not linked.is_valid and "traceparent" in headers:
        linked = otel_trace.get_current_span(_extract(headers)).get_span_context()
    if linked.is_valid:
        _socket_links.set((otel_trace.Link(linked),))


# --- pushes -----------------------------------------------------------------------------------
def _push_attributes(selector: Selector) -> dict[str, str]:
    if selector.topic is not None:
        return {SELECTOR: "topic", TOPIC: _clip(selector.topic)}
    for kind in ("connection", "session", "user"):
        if getattr(selector, kind) is not None:
            return {SELECTOR: kind}
    return {SELECTOR: "everyone"}


async def push(selector: Selector, send: Awaitable[int]) -> int:
    """``await send`` (a push to ``selector``'s sockets) in a push span; its result."""
    assert tracer is not None
    with tracer.start_as_current_span(PUSH_SPAN, kind=SpanKind.PRODUCER,
                                      attributes=_push_attributes(selector)) as span:
        reached = await send
        span.set_attribute(SOCKETS, reached)
        return reached


def push_sync(selector: Selector, send: Callable[[], int]) -> int:
    """``send()`` (a push to ``selector``'s sockets, from a thread) in a push span."""
    assert tracer is not None
    with tracer.start_as_current_span(PUSH_SPAN, kind=SpanKind.PRODUCER,
                                      attributes=_push_attributes(selector)) as span:
        reached = send()
        span.set_attribute(SOCKETS, reached)
        return reached


if AVAILABLE:
    use(None)
