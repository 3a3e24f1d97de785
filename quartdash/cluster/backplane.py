"""The backplane: what workers share, behind one small interface.

The registry (``registry.py``) talks only to this interface, so going from one process
to many hosts changes the backplane and nothing else. A backplane carries:

* commands (``Close``, ``Extend``, ``Push``) to every worker, returning how many
  sockets acted;
* listings of every worker's sockets;
* presence, for the per-session connection limit across workers;
* the revocation list, mirrored in each worker so the cookie check stays synchronous;
* the cookies and headers WebSocket callbacks set, until their page redeems them on
  whichever worker its request reaches (``transport/handover.py``).

``LocalBackplane`` is the in-process implementation: everything is this worker. What
crosses workers is the plain data of ``models.py``; how a shared backplane writes it,
``wire.py``. The registry and a backplane know each other only as ``CommandHandler``
and ``Backplane``: neither imports the other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Protocol

from quartdash.auth.sessions import Revocations
from quartdash.cluster.models import (
    Command,
    ConnectionInfo,
    Headers,
    Revocation,
    Selector,
)


class CommandHandler(Protocol):
    """A worker's side of the backplane: its registry."""

    def local_list(self, selector: Selector) -> list[ConnectionInfo]: ...

    def carry_out(self, command: Command) -> tuple[int, Callable[[], None]]:
        """Carry out ``command`` on this worker's sockets: how many acted, and what
        starts their sends, once the cluster was told. The caller must run it (it is
        idempotent): a push holds the sockets it writes to until then."""


class Backplane(ABC):
    """What every worker sharing an app must agree on."""

    def __init__(self) -> None:
        #: This worker's copy of the revocation list (read synchronously, on every login
        #: check); ``revoke`` updates every worker's copy.
        self.revocations = Revocations()
        #: The backplane is reachable now (always, in process); reported as
        #: ``quartdash_backplane_up``.
        self.healthy = True

    @abstractmethod
    async def start(self, handler: CommandHandler) -> None:
        """Begin serving ``handler``'s commands and listings."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop serving; this worker's sockets leave the shared view."""

    @abstractmethod
    async def announce(self, info: ConnectionInfo, session_limit: int | None) -> bool:
        """A socket of this worker opened; False if its session is at ``session_limit``
        across all workers (the socket is then not counted). Raises
        ``BackplaneUnavailable`` when that cannot be known now."""

    @abstractmethod
    async def withdraw(self, info: ConnectionInfo) -> None:
        """A socket announced by this worker closed."""

    async def refresh(self, info: ConnectionInfo) -> None:
        """A socket announced by this worker changed (its topics): every worker's
        listings show it as ``info`` now. Never raises."""
        return None

    @abstractmethod
    async def list(self, selector: Selector) -> list[ConnectionInfo]:
        """Every worker's sockets that ``selector`` matches."""

    @abstractmethod
    async def send(self, command: Command) -> int:
        """Carry out ``command`` in every worker; the sum of what each affected."""

    @abstractmethod
    async def revoke(self, entry: Revocation) -> None:
        """Add ``entry`` to every worker's revocation list."""

    async def share_handover(self, handover_token: str, binding: str | None,
                             headers: Headers, seconds: float) -> bool:
        """Keep ``headers`` (with the session ``binding`` that may redeem them) for one
        ``take_handover(handover_token)`` by any worker, for ``seconds``. False when they are not
        kept (this backplane is one process, or its store cannot be reached now): the
        issuing worker then keeps them itself. Never raises."""
        return False

    async def handovers_waiting(self, handover_tokens: Sequence[str]) -> set[str]:
        """Which of ``handover_tokens`` (shared by this worker) are still kept, not yet
        taken nor expired; when that cannot be known now, all of them. Never raises."""
        return set(handover_tokens)

    async def take_handover(self, handover_token: str) -> tuple[str | None, Headers] | None:
        """The binding and headers kept for ``handover_token``, removed in the same step, so
        only one take in the whole cluster gets them; None if none are kept (unknown,
        taken, expired, or the store cannot be reached now). Never raises."""
        return None


class LocalBackplane(Backplane):
    """One process: commands and listings go straight to this worker's registry."""

    def __init__(self) -> None:
        super().__init__()
        self._handler: CommandHandler | None = None

    async def start(self, handler: CommandHandler) -> None:
        self._handler = handler

    async def stop(self) -> None:
        self._handler = None

    async def announce(self, info: ConnectionInfo, session_limit: int | None) -> bool:
        return True  # the registry already counted this worker's sockets

    async def withdraw(self, info: ConnectionInfo) -> None:
        return None

    async def list(self, selector: Selector) -> list[ConnectionInfo]:
        # Not started means not serving: no socket can be open.
        return [] if self._handler is None else self._handler.local_list(selector)

    async def send(self, command: Command) -> int:
        if self._handler is None:
            return 0
        count, start = self._handler.carry_out(command)
        start()
        return count

    async def revoke(self, entry: Revocation) -> None:
        self.revocations.add(entry)

