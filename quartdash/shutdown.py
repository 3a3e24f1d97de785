"""Closing every socket with 1001 as soon as the server begins to stop.

ASGI tells an app that its server stops only through the lifespan "shutdown" event, and
hypercorn sends that after it has waited (``graceful_timeout``, 3 s by default) for the
open connections to end by themselves. WebSockets never end by themselves, so hypercorn
drops them when the wait is over and the browser sees a close without a code (1006).

So quartdash acts when the stop begins. Each hypercorn worker (asyncio) runs
``hypercorn.utils.raise_shutdown`` tasks that finish at that moment; the watcher finds
them once the server is up and, when one finishes, closes this worker's sockets with
1001 (GOING_AWAY): the pages reconnect with backoff, and hypercorn's wait ends as soon
as the sockets are closed instead of after the whole timeout. Under a server without
those tasks the watcher gives up quietly and the lifespan shutdown is the fallback
(uvicorn, for its part, closes WebSockets itself, with 1012).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ._compat.hypercorn import stop_triggers

log = logging.getLogger("quartdash")

#: How long after the lifespan startup the watcher looks for the server's tasks.
FIND_SECONDS = 10.0
_POLL_SECONDS = 0.05


async def watch_server_stop(on_stop: Callable[[], object]) -> None:
    """Call ``on_stop`` once, when the ASGI server (hypercorn) begins to stop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FIND_SECONDS
    triggers = stop_triggers()
    while not triggers:
        if loop.time() > deadline:
            log.debug("quartdash: no hypercorn stop signal found; 1001 at lifespan shutdown")
            return
        await asyncio.sleep(_POLL_SECONDS)
        triggers = stop_triggers()
    await asyncio.wait(triggers, return_when=asyncio.FIRST_COMPLETED)
    on_stop()
