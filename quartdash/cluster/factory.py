"""The backplane a ``backplane=`` setting names.

Apart from ``backplane.py`` because it names the Redis backplane, which builds on
``backplane.py``: kept there, the two modules would import each other.
"""

from __future__ import annotations

from quartdash.cluster.backplane import Backplane, LocalBackplane


def backplane_from_url(url: str | Backplane | None) -> Backplane:
    """The backplane a ``backplane=`` setting names: None or ``"local"`` is in-process,
    ``redis://`` (or ``rediss://``, ``unix://``) is Redis; a ``Backplane`` is itself."""
    if isinstance(url, Backplane):
        return url
    if not url or url == "local":
        return LocalBackplane()
    if url.split("://", 1)[0] in {"redis", "rediss", "unix"}:
        try:
            from quartdash.cluster.redis import RedisBackplane  # pylint: disable=import-outside-toplevel
        except ImportError as exc:
            raise ValueError("backplane=redis://... needs redis-py: "
                             "pip install 'quartdash[redis]'") from exc
        return RedisBackplane(url)
    raise ValueError(f"unsupported backplane {url!r}: use redis://host:port/db")
