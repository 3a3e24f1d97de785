"""The echo example, served with OpenTelemetry as ``BENCH_TRACING`` says (for
``bench.tracing``): ``absent`` (hidden from the import system before quartdash is
imported), ``api`` (installed, no provider) or ``sdk`` (every span recorded, batched
to an exporter that drops them). ``hypercorn bench.tracing_app:app``."""

from __future__ import annotations

import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

MODE = os.environ.get("BENCH_TRACING", "api")


class _Without(importlib.machinery.PathFinder):
    """The path finder, blind to opentelemetry (as if it were not installed)."""

    @classmethod
    def find_spec(cls, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> Any:
        if fullname.partition(".")[0] == "opentelemetry":
            return None
        return super().find_spec(fullname, path, target)


if MODE == "absent":
    sys.meta_path[sys.meta_path.index(importlib.machinery.PathFinder)] = _Without
elif MODE == "sdk":
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class _Drop(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    _provider = TracerProvider()
    _provider.add_span_processor(BatchSpanProcessor(_Drop()))
    trace.set_tracer_provider(_provider)

from examples.echo import app  # noqa: E402 (after the import system is set as MODE says)

__all__ = ["app"]
