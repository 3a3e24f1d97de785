"""Every setting of a QuartDash app, its default, where it is read from, and its check.

Each setting is read once, when ``QuartDash(...)`` is built, from the first place that
has it: the keyword of the same name, then ``app.server.config`` (for a Quart app given
as ``server=``), then the process environment, both under the setting's key (its name in
capitals after ``QUARTDASH_``), then its default; an empty value counts as unset.
``Settings`` is the result, checked once: a value of the wrong type, out of range or not
finite fails the app's start with a ``ValueError`` that names the setting and where it
came from, instead of failing later in the module that uses it (an infinite
``session_check_interval`` would quietly turn the session checks off).

Modules take the ``Settings`` (or the one value they use) rather than the app, so a
limit's default, its key and its check live here only; ``docs/configuration.md`` lists
``DEFAULTS`` (a test keeps the two equal).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The prefix of every configuration key and environment variable.
PREFIX = "QUARTDASH_"


def _spec(default: Any, doc: str, *, key: bool = True, words: tuple[str, ...] = ()) -> Any:
    """A setting's field: its default, what it bounds (for the documentation), whether
    it has a ``QUARTDASH_*`` key (``key=False``: keyword only), and the words a switch
    takes besides on and off (``words``)."""
    return field(default=default, metadata={"doc": doc, "key": key, "words": words})


@dataclass(frozen=True, slots=True)
class Settings:
    """The app's settings, typed and checked (see the module's docstring)."""

    allowed_origins: tuple[str, ...] = _spec(
        (), "origins whose pages may open the WebSocket besides the app's own (comma list)")
    trust_proxy_headers: bool = _spec(
        False, "take scheme and host from X-Forwarded-Proto/-Host for the same-origin check",
        key=False)
    max_message_bytes: int = _spec(
        1 << 20, "largest inbound frame or HTTP callback body, after decompression (1009/413)")
    rate_limit: float = _spec(
        1000.0, "inbound messages per socket (and per HTTP client) per second (4429/429)")
    byte_rate_limit: float = _spec(
        float(1 << 20), "inbound bytes per socket (and per HTTP client) per second, "
        "sustained; the burst is four times the larger of this and max_message_bytes")
    max_callbacks_in_flight: int = _spec(
        64, "callbacks one socket or HTTP client may have running at once; past it a "
        "request is answered with an error and the socket lives")
    max_connections_per_session: int = _spec(
        64, "sockets one login may hold across workers (1013; 0: no limit)")
    max_connections_per_address: int = _spec(
        64, "sockets one address may hold in one worker, without auth (1013; 0: no limit)")
    max_pending_frames: int = _spec(
        10_000, "frames waiting for one socket's reader before it is closed (1013); from "
        "half of it on, set_props coalesce and emit waits")
    max_pending_bytes: int = _spec(
        4 << 20, "bytes waiting for one socket's reader before it is closed (1013)")
    send_timeout: float = _spec(
        30.0, "seconds one send may stay blocked (the reader stopped) before the socket "
        "is closed (1013)")
    max_topics_per_connection: int = _spec(
        100, "topics one socket may be subscribed to at once (subscribe raises ValueError)")
    drain_seconds: float = _spec(
        2.0, "seconds over which a stopping worker closes its sockets (1001), oldest first, "
        "in batches every 0.1 s (0: all at once); keep it under the server's graceful "
        "timeout")
    resume_grace: float = _spec(
        10.0, "seconds a dropped socket is kept for its page to resume (0: no resume)")
    handover_seconds: float = _spec(
        60.0, "seconds the cookies and headers a WebSocket callback set wait for the page")
    max_handovers: int = _spec(16, "such header sets waiting per socket")
    session_check_interval: float = _spec(
        1.0, "seconds between checks of live sockets for expired or revoked sessions")
    websocket_max_workers: int = _spec(
        0, "threads of the pool that runs sync callbacks (0: min(32, CPUs + 4))")
    max_threads_per_client: int = _spec(
        0, "threads one socket, session or address may hold at once (0: half the pool)")
    admin_token: str | None = _spec(
        None, "a bearer token admitted to the admin API and the CLI (16 characters or more)")
    backplane: str | None = _spec(
        None, "redis://host:port/db: registry, commands and revocations for every worker")
    secret_key: str | None = _spec(
        None, "signs sessions when app.server.secret_key is unset")
    metrics: bool | str = _spec(
        False, "Prometheus metrics at {prefix}_quartdash/metrics, admitted like the admin "
        "API (public: anyone)", words=("public",))

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{spec.name} must be a finite number, not {value!r}")
        for name in ("max_message_bytes", "rate_limit", "byte_rate_limit",
                     "max_callbacks_in_flight", "max_pending_bytes", "send_timeout",
                     "handover_seconds", "max_handovers", "session_check_interval",
                     "max_topics_per_connection"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")
        for name in ("max_connections_per_session", "max_connections_per_address",
                     "resume_grace", "drain_seconds", "websocket_max_workers",
                     "max_threads_per_client"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, not {getattr(self, name)!r}")
        if self.max_pending_frames < 2:
            raise ValueError(f"max_pending_frames must be 2 or more, not "
                             f"{self.max_pending_frames!r}")

    @classmethod
    def load(cls, keywords: Mapping[str, Any], config: Mapping[str, Any] | None = None,
             environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from ``keywords`` (None means unset), then ``config`` (a Quart
        config), then ``environ`` (the process environment), then the defaults."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            name = spec.name
            key = key_of(name)
            sources: list[tuple[str, Mapping[str, Any]]] = [(f"keyword {name}=", keywords)]
            if spec.metadata["key"]:
                sources += [(f"app.server.config[{key!r}]", config or {}),
                            (f"environment variable {key}", environ)]
            for where, source in sources:
                value = source.get(name if source is keywords else key)
                if value is not None and value != "":
                    values[name] = (value.lower() if isinstance(value, str)
                                    and value.lower() in spec.metadata["words"]
                                    else _convert(name, value, spec.default, where))
                    break
        return cls(**values)

    def threads(self) -> int:
        """Threads of the pool that runs sync callbacks."""
        return self.websocket_max_workers or min(32, (os.cpu_count() or 1) + 4)

    def threads_per_client(self) -> int:
        """Threads one client may hold at once: half the pool (at least one) unless set."""
        return self.max_threads_per_client or max(1, self.threads() // 2)


def key_of(name: str) -> str:
    """A setting's configuration key and environment variable."""
    return PREFIX + name.upper()


def _convert(name: str, value: Any, default: Any, where: str) -> Any:
    """``value`` as the setting's type (a string from the environment, or the type
    itself); a ``ValueError`` naming the setting and ``where`` if it is not one."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                value = {"1": True, "true": True, "0": False, "false": False}[value.lower()]
            return bool(value)
        if isinstance(default, tuple):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(item).strip() for item in items if str(item).strip())
        if isinstance(default, int):
            number = float(value)
            if number != int(number):
                raise ValueError
            return int(number)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} from {where}: {value!r} is not {_KINDS[type(default)]}"
                         ) from None


#: What a setting of each type takes, for the message that refuses another value.
_KINDS = {bool: "a switch (1, true, 0 or false)", tuple: "a comma list",
          int: "a whole number", float: "a number", type(None): "a string"}


#: Every setting's default (the table ``docs/configuration.md`` shows).
DEFAULTS = Settings()
#: What each setting bounds, by name.
DOCS: Mapping[str, str] = {spec.name: spec.metadata["doc"] for spec in dataclasses.fields(Settings)}
#: The settings that have a ``QUARTDASH_*`` key, by name.
KEYS: Mapping[str, str] = {spec.name: key_of(spec.name) for spec in dataclasses.fields(Settings)
                           if spec.metadata["key"]}
