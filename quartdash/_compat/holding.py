"""What quartdash does while it holds a server's stop (uvicorn's, granian's): run the
registry's ``on_stop`` (the drain), bounded, then let the server stop. Shared by
``uvicorn.py`` and ``granian.py``, which differ only in how they hold the signal."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable

log = logging.getLogger("quartdash")

#: The longest quartdash holds a server's stop; the drain is cut to fit inside it.
STOP_WAIT_SECONDS = 10.0


async def run_on_stop(on_stop: Callable[[], object], server: str,
                      closed: Callable[[], bool] | None = None) -> None:
    """Run ``on_stop`` (awaited if it returns an awaitable), then wait until ``closed()``
    says quartdash's sockets are gone, at most ``STOP_WAIT_SECONDS`` in all; a failure
    or the limit is logged, never raised: the server's stop goes on either way."""
    try:
        async with asyncio.timeout(STOP_WAIT_SECONDS):
            result = on_stop()
            if inspect.isawaitable(result):
                await result
            while closed is not None and not closed():  # noqa: ASYNC110 (no event to await)
                await asyncio.sleep(0.02)
    except TimeoutError:
        log.warning("quartdash: WebSockets still open after %.0f s; %s closes them",
                    STOP_WAIT_SECONDS, server)
    except Exception:  # pylint: disable=broad-exception-caught
        log.exception("quartdash: closing the WebSockets before the stop failed")
