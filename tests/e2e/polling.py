"""Waiting for what a browser test watches: poll a condition, never sleep for it."""

from __future__ import annotations

import time
from typing import Any

#: How long a browser test waits for what it watches, unless it says otherwise.
WAIT = 15.0


def poll(condition: Any, what: str, timeout: float = WAIT) -> Any:
    """Poll ``condition`` until it returns something true (returned); fail after
    ``timeout`` seconds, saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout} s")
