"""Which pages may open the WebSocket: the origin policy, pure and exhaustively tested.

Browsers do not apply CORS to WebSockets, so a page on any site can open a socket to the
app with the user's cookies attached (cross-site WebSocket hijacking). The ``Origin``
header is the one thing the browser guarantees, so the handshake compares it strictly:
scheme, host and port, with default ports normalised and the host case-insensitive.
Stock Dash compared only ``host[:port]``, so ``https://`` pages passed on an ``http://``
server and no pattern or proxy setting existed.

An allowlist entry is ``scheme://host[:port]`` or ``scheme://*.domain[:port]``; the
wildcard matches subdomains at a dot boundary only (``*.example.com`` matches
``a.example.com`` and ``a.b.example.com``, never ``example.com`` or ``badexample.com``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Union

from werkzeug.datastructures import Headers

#: Request headers: Quart's (case-insensitive) or a plain mapping with lower-case keys.
HeaderSource = Union[Mapping[str, str], Headers]

_DEFAULT_PORTS = {"http": 80, "https": 443}
# The socket's own scheme maps to the page scheme that would open it.
_WS_TO_HTTP = {"ws": "http", "wss": "https", "http": "http", "https": "https"}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PORT = re.compile(r"^[0-9]{1,5}$")


class Origin(NamedTuple):
    """A normalised origin: lower-case scheme and host, explicit port."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        default = _DEFAULT_PORTS.get(self.scheme)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + ("" if self.port == default else f":{self.port}")


def _parse_host(text: str, *, wildcard: bool = False) -> str | None:
    """A hostname, IPv4 address or bracketed IPv6 address, lower-cased; else None."""
    text = text.lower()
    if text.startswith("["):
        if not text.endswith("]"):
            return None
        try:
            return str(ipaddress.IPv6Address(text[1:-1]))
        except ValueError:
            return None
    labels = text.split(".")
    if wildcard:
        if labels[0] != "*" or len(labels) < 2:
            return None
        labels = labels[1:]
    if len(text) > 253 or not all(_LABEL.match(label) for label in labels):
        return None
    return text


def _split_authority(authority: str) -> tuple[str, str | None] | None:
    """Split ``host[:port]`` (IPv6 in brackets) into host text and port text."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        rest = authority[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        return authority[: end + 1], (rest[1:] if rest else None)
    host, sep, port = authority.partition(":")
    return host, (port if sep else None)


def parse_origin(value: str | None, *, wildcard: bool = False) -> Origin | None:
    """Parse a serialised origin (``scheme://host[:port]``, nothing more); else None.

    Anything a browser would never send, such as a path, user info, a query, an empty
    or out-of-range port or a scheme other than http(s), is refused rather than
    guessed at.
    """
    if not value or value == "null" or len(value) > 300:
        return None
    scheme, sep, authority = value.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        return None
    if any(c in authority for c in "/?#@\\ \t") or not authority:
        return None
    parts = _split_authority(authority)
    if parts is None:
        return None
    host_text, port_text = parts
    host = _parse_host(host_text, wildcard=wildcard)
    if host is None:
        return None
    if port_text is None:
        port = _DEFAULT_PORTS[scheme]
    elif _PORT.match(port_text) and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        return None
    return Origin(scheme, host, port)


def origin_of(scheme: str, host_header: str | None) -> Origin | None:
    """The origin of a request made with this scheme to this ``Host`` header."""
    page_scheme = _WS_TO_HTTP.get(scheme.lower())
    if page_scheme is None or not host_header:
        return None
    return parse_origin(f"{page_scheme}://{host_header.strip()}")


def _first(value: str | None) -> str | None:
    """The first of a comma-separated proxy header (the client-most proxy)."""
    if not value:
        return None
    first = value.split(",")[0].strip()
    return first or None


@dataclass(frozen=True)
class OriginPolicy:
    """Decides whether a handshake's ``Origin`` may open a socket.

    ``allowed`` holds allowlist entries (exact origins and ``*.`` patterns);
    ``allow_same_origin`` admits the origin the request itself was made to;
    ``trust_proxy_headers`` takes the scheme and host from ``X-Forwarded-Proto`` and
    ``X-Forwarded-Host`` when computing that same origin (only behind a proxy that sets
    them: otherwise a client could claim any origin as its own).
    """

    exact: frozenset[Origin]
    patterns: tuple[Origin, ...]
    allow_same_origin: bool = True
    trust_proxy_headers: bool = False

    @classmethod
    def from_config(
        cls,
        allowed: Iterable[str],
        *,
        allow_same_origin: bool = True,
        trust_proxy_headers: bool = False,
    ) -> OriginPolicy:
        """Build a policy, refusing any allowlist entry that is not a valid origin."""
        exact: set[Origin] = set()
        patterns: list[Origin] = []
        for entry in allowed:
            entry = entry.strip().rstrip("/")
            if not entry:
                continue
            is_pattern = "://*." in entry
            parsed = parse_origin(entry, wildcard=is_pattern)
            if parsed is None:
                raise ValueError(
                    f"allowed origin {entry!r} is not scheme://host[:port] "
                    "or scheme://*.domain[:port]"
                )
            if is_pattern:
                patterns.append(parsed._replace(host=parsed.host[2:]))
            else:
                exact.add(parsed)
        return cls(frozenset(exact), tuple(patterns), allow_same_origin, trust_proxy_headers)

    def same_origin(self, scheme: str, headers: HeaderSource) -> Origin | None:
        """The origin this request was addressed to, proxy headers only when trusted."""
        host = headers.get("host")
        if self.trust_proxy_headers:
            scheme = _first(headers.get("x-forwarded-proto")) or scheme
            host = _first(headers.get("x-forwarded-host")) or host
        return origin_of(scheme, host)

    def check(self, scheme: str, headers: HeaderSource) -> str | None:
        """None when the handshake may proceed, else the reason it is refused."""
        origin = parse_origin(headers.get("origin"))
        if origin is None:
            return "missing or malformed Origin"
        if origin in self.exact:
            return None
        for pattern in self.patterns:
            if (
                origin.scheme == pattern.scheme
                and origin.port == pattern.port
                and origin.host.endswith("." + pattern.host)
            ):
                return None
        if self.allow_same_origin and origin == self.same_origin(scheme, headers):
            return None
        return "origin not allowed"
