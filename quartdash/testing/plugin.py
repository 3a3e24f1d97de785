"""quartdash's pytest plugin, registered by installing quartdash (the ``pytest11`` entry
point in setup.cfg): the ``dash_client`` fixture.

``dash_client`` is a factory, so one test may open several pages, of several apps or
users: ``async with dash_client(app, user="bob") as page``. The fixture is async only
through the pages it makes: it needs an async test (pytest-asyncio or anyio). It imports
nothing of quartdash until called, so a project that never uses it pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from quartdash.app import QuartDash
    from quartdash.testing.client import DashClient


@pytest.fixture
def dash_client() -> Iterator[Callable[..., DashClient]]:
    """``dash_client(app, user=None, timeout=10.0)``: a ``DashClient`` to enter with
    ``async with``; see docs/testing.md."""
    from quartdash.testing.client import DashClient

    def make(app: QuartDash, user: str | None = None, **kwargs: Any) -> DashClient:
        return DashClient(app, user=user, **kwargs)

    yield make
