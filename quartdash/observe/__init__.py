"""Seeing what the server does: counters and gauges (``events.py``, ``metrics.py``),
traces (``tracing.py``) and the live admin page (``admin_page.py``).

The transport, callbacks, sessions and cluster report what happens to ``events.observer``
and know nothing of Prometheus or OpenTelemetry; with metrics off it is a no-op, so the
hot path pays one method call per event and imports nothing.
"""
