"""Resume: a socket that drops comes back to the same connection within a grace window.

When the page's socket drops without a close from either side (a network blip, a
laptop waking up, a proxy restart), the connection is *parked*: its callbacks keep
running, its outbound frames keep queueing (set_props coalesced, events all kept, see
``connection.Connection``), and it stays in the registry, so a logout or an admin close
still ends it. quartdash's worker reconnects with the resume token the server gave it
(``quartdash_welcome``) and the count of frames it received; if the token names a parked
connection of the same session in this process, the new socket takes it over: the
page gets the frames it missed, in order and once each, then what was queued, and its
persistent callbacks never restart. Past the window, or when the reconnect lands on
another process, the page starts afresh as before (its persistent callbacks restart).

The token is random, single-use, renewed at every (re)connect, and useless without the
session cookie of the connection it names.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from quartdash.observe import events

if TYPE_CHECKING:
    from quartdash.cluster.registry import Member
    from quartdash.transport.connection import Connection

log = logging.getLogger("quartdash")



@dataclass(slots=True)
class _Parked:
    conn: Connection
    member: Member
    since: float
    task: asyncio.Task[None] | None = field(default=None)
    claimed: bool = False


class Parking:
    """This process's parked connections, by resume token."""

    def __init__(self, grace: float, retire: Callable[[Member, int | None], None]) -> None:
        self.grace = grace
        #: The registry's ``retire``: a connection not resumed in time is done for good.
        self._retire = retire
        self._parked: dict[str, _Parked] = {}

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(18)

    def park(self, token: str, conn: Connection, member: Member) -> None:
        """Hold ``conn`` for ``grace`` seconds under ``token``; then finish it."""
        entry = _Parked(conn, member, time.monotonic())
        entry.task = conn.loop.create_task(self._wait(token, entry))
        conn.park(entry.task)  # an abort (logout, admin, stop) now cancels the wait
        self._parked[token] = entry
        log.info("quartdash: socket %s dropped; kept %.0f s for a resume", conn.id, self.grace)

    async def _wait(self, token: str, entry: _Parked) -> None:
        code: int | None = None
        try:
            await asyncio.sleep(self.grace)
            log.info("quartdash: socket %s not resumed within %.0f s", entry.conn.id, self.grace)
        except asyncio.CancelledError:
            if entry.claimed:
                return  # a new socket took it over
            reason = entry.conn.abort_reason
            code = reason[0] if reason is not None else None
        finally:
            self._parked.pop(token, None)  # a token names one parking only
        self._retire(entry.member, code)
        await asyncio.shield(entry.conn.finish())

    def claim(
        self, token: str, session_id: str | None, received: int
    ) -> tuple[Connection, Member] | None:
        """The parked connection ``token`` names, if it belongs to ``session_id`` and
        can still give the page every frame after ``received``; it leaves the parking
        (the caller attaches the new socket). None otherwise: the page starts afresh."""
        entry = self._parked.get(token)
        if entry is None:  # never given, or its grace is over
            events.observer.resume("expired")
            return None
        if entry.member.session != session_id or not entry.conn.can_resume(received):
            events.observer.resume("refused")
            return None
        events.observer.resume("resumed")
        del self._parked[token]
        entry.claimed = True
        if entry.task is not None:
            entry.task.cancel()
        # From here an abort (logout, admin, stop) must end the claiming socket.
        entry.conn.park(asyncio.current_task())
        log.info("quartdash: socket %s resumed after %.1f s", entry.conn.id,
                 time.monotonic() - entry.since)
        return entry.conn, entry.member
