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
A wildcard over a public suffix (``*.com``, ``*.co.uk``, ``*.github.io``) or a bare
top-level domain is refused: anyone can register a name under it, so it would admit
pages the app's owner does not control. The Public Suffix List shipped inside the
``publicsuffixlist`` package decides; nothing is downloaded at run time.

Dash's own forms are accepted too, so a Dash app's ``websocket_allowed_origins`` moves
over unchanged: ``*`` admits every well-formed origin (a missing, ``null`` or malformed
``Origin`` is still refused, as Dash refuses a missing one), and a port of ``*``
(``http://localhost:*``) admits any port of that host, or of those subdomains.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Union

from publicsuffixlist import PublicSuffixList
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


def parse_origin(
    value: str | None, *, wildcard: bool = False, any_port: bool = False
) -> Origin | None:
    """Parse a serialised origin (``scheme://host[:port]``, nothing more); else None.

    Anything a browser would never send, such as a path, user info, a query, an empty
    or out-of-range port or a scheme other than http(s), is refused rather than
    guessed at. ``wildcard`` and ``any_port`` parse allowlist entries: a leading ``*.``
    label, and a port of ``*``, returned as port 0 (which no real origin has).
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
    elif any_port and port_text == "*":
        port = 0
    else:
        return None
    return Origin(scheme, host, port)


def origin_of(scheme: str, host_header: str | None) -> Origin | None:
    """The origin of a request made with this scheme to this ``Host`` header."""
    page_scheme = _WS_TO_HTTP.get(scheme.lower())
    if page_scheme is None or not host_header:
        return None
    return parse_origin(f"{page_scheme}://{host_header.strip()}")


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    """The Public Suffix List shipped in the package, read once (about 90 ms) and only
    by a process whose allowlist has a wildcard."""
    return PublicSuffixList()


def wildcard_problem(domain: str) -> str | None:
    """Why ``*.domain`` may not be an allowlist entry, or None when it may.

    Names under a public suffix (ICANN's ``com``, ``co.uk`` and the private section's
    ``github.io`` alike) belong to whoever registers them, so a wildcard over one
    admits strangers' pages. A bare top-level domain is refused even when the list
    does not know it (``*.localhost``, ``*.internal``), and so is a domain ending in a
    number, which browsers read as an IPv4 address.
    """
    labels = domain.split(".")
    if len(labels) < 2:
        return "a bare top-level domain"
    if labels[-1].isdigit():
        return "an IP address, which has no subdomains"
    if _public_suffixes().is_public(domain):
        return "a public suffix, under which anyone can register a name"
    return None


class Pattern(NamedTuple):
    """An allowlist entry that is not one exact origin: a ``*.`` wildcard over a
    domain's subdomains, or a port of ``*``, or both."""

    scheme: str
    host: str
    port: int | None  # None: any port
    subdomains: bool

    def matches(self, origin: Origin) -> bool:
        """Whether this entry admits ``origin``: subdomains at a dot boundary only."""
        if origin.scheme != self.scheme or self.port not in (None, origin.port):
            return False
        if self.subdomains:
            return origin.host.endswith("." + self.host)
        return origin.host == self.host


def _first(value: str | None) -> str | None:
    """The first of a comma-separated proxy header (the client-most proxy)."""
    if not value:
        return None
    first = value.split(",")[0].strip()
    return first or None


@dataclass(frozen=True)
class OriginPolicy:
    """Decides whether a handshake's ``Origin`` may open a socket.

    ``allowed`` holds allowlist entries (exact origins and patterns); ``allow_any``
    (the entry ``*``) admits every well-formed origin; ``allow_same_origin`` admits
    the origin the request itself was made to;
    ``trust_proxy_headers`` takes the scheme and host from ``X-Forwarded-Proto`` and
    ``X-Forwarded-Host`` when computing that same origin (only behind a proxy that sets
    them: otherwise a client could claim any origin as its own).
    """

    exact: frozenset[Origin]
    patterns: tuple[Pattern, ...]
    allow_same_origin: bool = True
    trust_proxy_headers: bool = False
    allow_any: bool = False

    @classmethod
    def from_config(
        cls,
        allowed: Iterable[str],
        *,
        allow_same_origin: bool = True,
        trust_proxy_headers: bool = False,
    ) -> OriginPolicy:
        """Build a policy, refusing any allowlist entry that is not a valid origin,
        and any wildcard over a public suffix or a bare top-level domain."""
        exact: set[Origin] = set()
        patterns: list[Pattern] = []
        allow_any = False
        for entry in allowed:
            entry = entry.strip().rstrip("/")
            if not entry:
                continue
            if entry == "*":
                allow_any = True
                continue
            is_pattern = "://*." in entry
            parsed = parse_origin(entry, wildcard=is_pattern, any_port=True)
            if parsed is None:
                raise ValueError(
                    f"allowed origin {entry!r} is not *, scheme://host[:port|:*] "
                    "or scheme://*.domain[:port|:*]"
                )
            host = parsed.host[2:] if is_pattern else parsed.host
            problem = wildcard_problem(host) if is_pattern else None
            if problem is not None:
                raise ValueError(
                    f"allowed origin {entry!r} is refused: {host!r} is {problem}, so the "
                    "wildcard would admit sites of anyone; put a domain you own after "
                    f"the *. (such as {parsed.scheme}://*.example.co.uk)"
                )
            if is_pattern or parsed.port == 0:
                patterns.append(Pattern(parsed.scheme, host, parsed.port or None, is_pattern))
            else:
                exact.add(parsed)
        return cls(frozenset(exact), tuple(patterns), allow_same_origin, trust_proxy_headers,
                   allow_any)

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
        if self.allow_any or origin in self.exact:
            return None
        if any(pattern.matches(origin) for pattern in self.patterns):
            return None
        if self.allow_same_origin and origin == self.same_origin(scheme, headers):
            return None
        return "origin not allowed"
