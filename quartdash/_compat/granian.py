"""granian (2.x, ``--interface asgi``): learning that it stops.

How granian stops: each worker process registers its SIGINT/SIGTERM handler on the
asyncio loop (``granian._signals.set_loop_signals``, before the lifespan startup). The
handler tells granian's Rust server, which stops at once: open WebSockets are dropped
without a close frame (the browser sees 1006), then the loop stops and only then is
the lifespan "shutdown" event sent, when no socket can be written any more.

So ``hold_stop`` puts a handler of ours in front of granian's (at the lifespan startup,
never at import time): the first SIGINT/SIGTERM runs ``on_stop`` (quartdash closes its
sockets with 1001, announced) and awaits it, bounded by ``holding.STOP_WAIT_SECONDS``; only
then is granian's own handler called. granian has no view of its connections from
Python, so ``on_stop`` must return only once the sockets are closed (the registry's
does: it waits for their handlers).

Inbound messages: granian (tungstenite underneath) does not negotiate permessage-deflate
at all, so no compression bomb reaches it; it buffers a whole message (up to its
own limit, not quartdash's) before the app sees it and refuses it with 1009
(``max_message_bytes``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

from quartdash._compat.holding import run_on_stop

log = logging.getLogger("quartdash")

#: Longest granian's stop waits for quartdash's sockets to close.
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _loop_handler(loop: asyncio.AbstractEventLoop, sig: int) -> Any | None:
    """The loop's handler for ``sig`` (asyncio's own loop keeps them by signal)."""
    handlers = getattr(loop, "_signal_handlers", None)
    return handlers.get(sig) if isinstance(handlers, dict) else None


def serves() -> bool:
    """granian's worker runs this loop (its signal handler is the loop's)."""
    handle = _loop_handler(asyncio.get_running_loop(), signal.SIGTERM)
    callback = getattr(handle, "_callback", None)
    return getattr(callback, "__module__", "").startswith("granian")


def hold_stop(on_stop: Callable[[], object]) -> bool:
    """Run ``on_stop`` (awaited if it returns an awaitable) before granian learns of a
    SIGINT/SIGTERM (see the module's docstring). True once installed."""
    loop = asyncio.get_running_loop()
    originals: dict[int, tuple[Callable[..., object], tuple[Any, ...]]] = {}
    for sig in _SIGNALS:
        found = _loop_handler(loop, sig)
        if found is None:
            return False
        originals[sig] = (found._callback, found._args)  # pylint: disable=protected-access
    state: dict[str, asyncio.Task[None]] = {}

    def pass_on(sig: int) -> None:
        callback, args = originals[sig]
        callback(*args)

    async def stopping(sig: int) -> None:
        try:
            await run_on_stop(on_stop, "granian")
        finally:
            pass_on(sig)

    def handle(sig: int) -> None:
        if "task" in state:
            if sig == signal.SIGINT:
                pass_on(sig)  # a second Ctrl-C stops at once
            return  # granian's supervisor sends its own SIGTERM after the group's
        state["task"] = loop.create_task(stopping(sig))

    for sig in _SIGNALS:
        loop.add_signal_handler(sig, handle, sig)
    return True
