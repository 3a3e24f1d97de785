"""The one touch of prometheus_client's private names: adding many observations to a
histogram at once.

``Histogram.observe`` takes one value and writes the sum and a bucket to the shared
files each time (a lock and two writes); quartdash adds callback durations up per
bucket between flushes (``observe/metrics.py``), then writes each bucket once. The
histogram keeps its values in ``_buckets`` (one per upper bound, not cumulative) and
``_sum``; if a release of prometheus_client changes that, the observations are made one
by one instead, which is slower and as exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def add_observations(histogram: Any, bucket_counts: Sequence[int], total: float,
                     observations: Sequence[float]) -> None:
    """Add to one histogram child ``bucket_counts[i]`` observations in its bucket ``i``
    (upper bounds in order, +Inf last) whose sum is ``total``; ``observations`` are the
    same values, one by one, for the slow path."""
    buckets = getattr(histogram, "_buckets", None)
    total_value = getattr(histogram, "_sum", None)
    if (buckets is None or total_value is None or len(buckets) != len(bucket_counts)
            or not all(hasattr(value, "inc") for value in (*buckets, total_value))):
        for seconds in observations:
            histogram.observe(seconds)
        return
    for value, count in zip(buckets, bucket_counts, strict=True):
        if count:
            value.inc(count)
    total_value.inc(total)
