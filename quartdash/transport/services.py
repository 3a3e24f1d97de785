"""What the WebSocket route and its handler use of the app, and nothing more.

``QuartDash`` builds one ``SocketServices`` when it is constructed; ``route.serve_socket``
takes it, and hands it on to ``handler.serve``. Neither module sees the app itself:
what they read of Dash (its ``websocket_*`` hooks, its batch delay, its debug mode, its
callback registry) comes as callables bound to the app, so each is found where it is
made (``_compat/dash.py``, ``callbacks/runner.py``), and a test can build one by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quartdash.auth.origin import OriginPolicy
    from quartdash.auth.sessions import Sessions
    from quartdash.callbacks.runner import Prepared
    from quartdash.callbacks.threads import FairPool
    from quartdash.cluster.backplane import Backplane
    from quartdash.cluster.registry import ConnectionRegistry
    from quartdash.config import Settings
    from quartdash.transport.handover import Handovers
    from quartdash.transport.resume import Parking


@dataclass(frozen=True, slots=True, kw_only=True)
class SocketServices:
    """The app's parts a socket uses, from handshake to close."""

    #: Every limit and switch (``config.py``).
    settings: Settings
    #: The handshake's origin check, and whether proxy headers name the client.
    origin_policy: OriginPolicy
    #: Who the socket's user is (with ``auth``), else None.
    sessions: Sessions | None
    #: The registry of open sockets: admission, limits, force-close.
    connections: ConnectionRegistry
    #: Dropped sockets kept for a resume; None when resume is off.
    parking: Parking | None
    #: Revocations, and where handovers wait for any worker.
    backplane: Backplane
    #: The thread pool of sync callbacks.
    pool: FairPool
    #: Cookies and headers set by callbacks, until their page takes them.
    handovers: Handovers
    #: Registers every callback (idempotent), in case the server skipped its startup.
    register_callbacks: Callable[[], Awaitable[None]]
    #: ``callbacks.runner.prepare`` for this app, over the WebSocket: binds a request to
    #: its callback (``ClientError`` for the client's mistakes).
    prepare: Callable[[Any, Mapping[str, Any]], Prepared]
    #: Dash's debug mode now (``runner.debug_mode``): "prune", "raise" or None.
    debug_mode: Callable[[], str | None]
    #: Runs the app's Dash hooks of a name on a socket: None, or the close they chose.
    run_ws_hooks: Callable[..., Awaitable[tuple[int, str] | None]]
    #: The app has Dash hooks of a name.
    has_ws_hooks: Callable[[str], bool]
    #: How long Dash batches ``set_props`` into one frame.
    batch_delay: Callable[[], float]
