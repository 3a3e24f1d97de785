"""The replay buffer of one resumable connection: sent frames kept until acknowledged.

Pure bookkeeping, no I/O (tested alone in tests/transport/test_replay.py). Every frame
sent on a resumable connection is numbered (1, 2, ...) and kept here until the page
acknowledges it (``quartdash_ack`` with the count it received). A socket that drops
and comes back (``resume.py``) says how many frames it received; the frames after
that are sent again, as they were, before anything new. Past ``limit`` characters kept,
the oldest go, and the number of the last one dropped becomes the ``floor``: a page
that has not received that far cannot be given every frame, and starts afresh.
"""

from __future__ import annotations

from collections import deque

#: Sent frames kept for a resume, until the worker acknowledges them. Past this many
#: characters the oldest go, and a resume that needs them falls back to a fresh start.
DEFAULT_REPLAY_BYTES = 1 << 20


class ReplayBuffer:
    """Frames sent and not yet acknowledged, numbered from 1, within ``limit``."""

    __slots__ = ("_frames", "_size", "floor", "limit", "sent")

    def __init__(self, limit: int = DEFAULT_REPLAY_BYTES) -> None:
        self.limit = limit
        #: (sequence number, frame), oldest first.
        self._frames: deque[tuple[int, str]] = deque()
        self._size = 0
        #: Frames sent so far: the sequence number of the last one.
        self.sent = 0
        #: The highest sequence number dropped unacknowledged (to stay within ``limit``).
        self.floor = 0

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def size(self) -> int:
        """Characters of the frames kept."""
        return self._size

    def record(self, frame: str) -> int:
        """Number ``frame`` (sent now) and keep it; its sequence number. The newest
        frame is kept even alone past ``limit``."""
        self.sent += 1
        frames = self._frames
        frames.append((self.sent, frame))
        self._size += len(frame)
        while self._size > self.limit and len(frames) > 1:
            dropped, old = frames.popleft()
            self._size -= len(old)
            self.floor = dropped
        return self.sent

    def acknowledge(self, received: int) -> None:
        """The page has every frame up to ``received``: forget them."""
        frames = self._frames
        while frames and frames[0][0] <= received:
            self._size -= len(frames.popleft()[1])

    def covers(self, received: int) -> bool:
        """A page that has every frame up to ``received`` can be given all the rest:
        they are still kept, and it does not claim frames never sent."""
        return self.floor <= received <= self.sent

    def unacknowledged(self) -> list[str]:
        """The frames kept, oldest first, as they were sent."""
        return [frame for _seq, frame in self._frames]
