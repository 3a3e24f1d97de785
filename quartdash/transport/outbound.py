"""The outbound queue of one connection: what waits to be sent, and within what budget.

Pure bookkeeping, no I/O and no event loop, so it is tested alone
(tests/transport/test_outbound.py); ``connection.Connection`` composes it with the
task that sends, as websockets' connection composes its ``Assembler``.

Frames wait in one insertion-ordered dict. A frame pushed with a ``key`` (a
``set_props`` of given properties of one component) replaces the queued frame of the
same key and moves to the end, so what is delivered keeps its order and the queue stays
bounded by the number of distinct properties, however fast a callback streams. The
connection gives a key only while the page is behind (``behind``); events, responses
and requests never carry one, so they never merge. Past ``max_frames`` frames or
``max_bytes`` characters waiting, a push is refused and the connection closes the
socket (1013, "client is not reading").
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Hashable, Iterable, Sequence

from quartdash.observe import events

#: Largest batch the sender joins into one frame. Past it, what is queued goes out in
#: several frames, so a backlog never becomes one huge string (and a copy of it in the
#: server's write buffer).
DEFAULT_MAX_BATCH_BYTES = 256 << 10
#: How long a send may be in flight before the page counts as behind.
BEHIND_SECONDS = 0.1


def props_key(renderer_id: str, component: str, props: Iterable[str]) -> Hashable:
    """The key of a ``set_props`` frame: a later one to the same props of the same
    component in the same tab replaces it while the page is behind, whoever sent each
    (a callback's ``set_props``, a push)."""
    return (renderer_id, component, tuple(props))


class Outbound:
    """Frames waiting for the socket, their budgets, and the send in flight.

    ``max_frames`` and ``max_bytes`` bound what may wait (``push`` refuses past
    them); past half of either the queue is ``crowded``, and a sender that can wait
    for ``room`` should. ``max_batch_bytes`` bounds one batch (``take_batch``).
    The send in flight is recorded with ``sending``/``sent`` (times from
    ``time.monotonic``), which tells how long the peer has kept it blocked.
    """

    __slots__ = ("_frames", "_in_flight_since", "_keys", "_size", "max_batch_bytes",
                 "max_bytes", "max_frames", "urgent")

    def __init__(self, max_frames: int, max_bytes: int,
                 max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.max_batch_bytes = max_batch_bytes
        self._frames: dict[Hashable, str] = {}
        #: Characters of the frames waiting (what a non-reading peer costs).
        self._size = 0
        #: Keys of frames that never merge (distinct from any caller's key).
        self._keys = itertools.count(1)
        #: A frame that should go at once was pushed (it ends the batching delay).
        self.urgent = False
        #: When the send in flight started; None when none is.
        self._in_flight_since: float | None = None

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def size(self) -> int:
        """Characters of the frames waiting."""
        return self._size

    def push(self, frame: str, key: Hashable | None = None, urgent: bool = True) -> bool:
        """Queue ``frame`` last; with a ``key``, in place of the queued frame of that
        key. False, and the queue unchanged, when it would take the queue past a budget
        (a single frame always fits an empty queue). The one-frame case of
        ``push_all``, kept apart because every ``set_props`` of a stream takes it."""
        frames = self._frames
        old = frames.get(key) if key is not None else None
        if old is None:
            if frames and (len(frames) >= self.max_frames
                           or self._size + len(frame) > self.max_bytes):
                return False
            if key is None:
                key = next(self._keys)
        else:
            if len(frames) > 1 and (len(frames) > self.max_frames
                                    or self._size - len(old) + len(frame) > self.max_bytes):
                return False
            del frames[key]  # the newer value goes last: delivery keeps its order
            self._size -= len(old)
            events.observer.coalesced()
        frames[key] = frame
        self._size += len(frame)
        if urgent:
            self.urgent = True
        return True

    def push_all(self, items: Sequence[tuple[str, Hashable | None]], urgent: bool = True) -> bool:
        """Queue several frames as one, each as ``push`` would: all of them, or none
        when together they would take the queue past a budget. What one sender hands
        over at once (a push's frames for every tab and component) always fits an
        empty queue, as a single frame does: a socket is closed for not reading, never
        for the size of one update."""
        if len(items) == 1:
            return self.push(*items[0], urgent)
        frames = self._frames
        if frames:
            # What the queue would hold: what waits besides the keys these replace, then
            # these (a key repeated among them counting once, its last frame).
            keyed = {key: frame for frame, key in items if key is not None}
            unkeyed = [frame for frame, key in items if key is None]
            replaced = [key for key in keyed if key in frames]
            kept = len(frames) - len(replaced)
            size = (self._size - sum(len(frames[key]) for key in replaced)
                    + sum(map(len, keyed.values())) + sum(map(len, unkeyed)))
            if kept and (kept + len(keyed) + len(unkeyed) > self.max_frames
                         or size > self.max_bytes):
                return False
        for frame, key in items:
            if key is not None:
                old = frames.pop(key, None)  # the newer value goes last: delivery keeps its order
                if old is not None:
                    self._size -= len(old)
                    events.observer.coalesced()
            else:
                key = next(self._keys)
            frames[key] = frame
            self._size += len(frame)
        if urgent:
            self.urgent = True
        return True

    def push_ahead(self, items: Sequence[tuple[str, Hashable | None]]) -> bool:
        """``push_all``, but ahead of every frame waiting: a push that held its place
        (``Connection.hold``) and could not be written straight to the socket. A
        waiting frame of the same key was made later: it stays, and the push's goes.
        False, and the queue unchanged, past a budget."""
        waiting, size = self._frames, self._size
        self._frames, self._size = {}, 0
        self.push_all(items)  # an empty queue takes one sender's frames whole
        for key in waiting.keys() & self._frames.keys():
            self._size -= len(self._frames.pop(key))
            events.observer.coalesced()
        if waiting and (len(self._frames) + len(waiting) > self.max_frames
                        or self._size + size > self.max_bytes):
            self._frames, self._size = waiting, size
            return False
        self._frames.update(waiting)
        self._size += size
        return True

    def take_batch(self) -> list[str]:
        """The oldest frames, up to ``max_batch_bytes`` (at least one), out of the
        queue; what is left is not urgent any more."""
        frames = self._frames
        self.urgent = False
        if self._size <= self.max_batch_bytes:
            batch = list(frames.values())
            frames.clear()
            self._size = 0
            return batch
        batch, size, taken = [], 0, []
        for key, frame in frames.items():
            if batch and size + len(frame) > self.max_batch_bytes:
                break
            batch.append(frame)
            taken.append(key)
            size += len(frame)
        for key in taken:
            del frames[key]
        self._size -= size
        return batch

    def crowded(self) -> bool:
        """Past half of either budget: a sender that can wait should."""
        return len(self._frames) >= self.max_frames // 2 or self._size >= self.max_bytes // 2

    # --- the send in flight -------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A send is in flight."""
        return self._in_flight_since is not None

    def sending(self, now: float) -> None:
        """A send starts at ``now``."""
        self._in_flight_since = now

    def sent(self) -> None:
        """The send in flight is over (done, failed or abandoned)."""
        self._in_flight_since = None

    def stalled_for(self, now: float) -> float:
        """How long the send in flight has been blocked at ``now``; 0 when none is."""
        since = self._in_flight_since
        return 0.0 if since is None else now - since

    def behind(self, clock: Callable[[], float] = time.monotonic) -> bool:
        """The page is not keeping up: the queue is crowded, or a send has been blocked
        for over ``BEHIND_SECONDS`` (``clock`` is read only then). A send merely in
        flight is not behind: a page that reads as fast as a callback streams gets
        every update, even when the callback yields between them."""
        return self.crowded() or (self.busy and self.stalled_for(clock()) > BEHIND_SECONDS)
