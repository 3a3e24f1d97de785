"""The origin policy: a table of cases and properties of the matcher."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quartdash.origin import Origin, OriginPolicy, parse_origin

POLICY = OriginPolicy.from_config(["https://*.example.com", "http://localhost:3000"])
SERVER = "127.0.0.1:8050"


def check(origin: str | None, host: str = SERVER, scheme: str = "ws", policy: OriginPolicy = POLICY,
          **extra: str) -> bool:
    headers = {"host": host, **extra}
    if origin is not None:
        headers["origin"] = origin
    return policy.check(scheme, headers) is None


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        ("http://127.0.0.1:8050", SERVER, "ws", True),  # same origin
        ("https://127.0.0.1:8050", SERVER, "ws", False),  # scheme differs
        ("http://127.0.0.1:8051", SERVER, "ws", False),  # port differs
        ("http://127.0.0.1", SERVER, "ws", False),  # default port 80 != 8050
        ("http://LOCALHOST", "localhost:80", "ws", True),  # case and default port
        ("https://app.test", "app.test:443", "wss", True),  # wss <-> https, :443 normalised
        ("http://app.test", "app.test", "wss", False),  # http page, https server
        ("https://a.example.com", SERVER, "ws", True),  # subdomain pattern
        ("https://a.b.example.com", SERVER, "ws", True),  # deeper subdomain
        ("https://example.com", SERVER, "ws", False),  # apex is not a subdomain
        ("https://badexample.com", SERVER, "ws", False),  # no dot boundary
        ("https://example.com.evil.net", SERVER, "ws", False),  # suffix trick
        ("http://a.example.com", SERVER, "ws", False),  # pattern is https only
        ("https://a.example.com:8443", SERVER, "ws", False),  # pattern port is 443
        ("http://localhost:3000", SERVER, "ws", True),  # exact allowlist hit
        ("http://localhost:3001", SERVER, "ws", False),
        (None, SERVER, "ws", False),  # missing
        ("null", SERVER, "ws", False),  # opaque origin (file:, sandboxed iframe)
        ("http://127.0.0.1:8050/", SERVER, "ws", False),  # a path: not an origin
        ("http://user@127.0.0.1:8050", SERVER, "ws", False),  # user info
        ("ftp://127.0.0.1:8050", SERVER, "ws", False),  # scheme
        ("http://127.0.0.1:99999", SERVER, "ws", False),  # port range
        ("http://[::1]:8050", "[::1]:8050", "ws", True),  # IPv6
        ("http://[::1", "[::1]:8050", "ws", False),
        ("http://-bad-.test", "-bad-.test", "ws", False),  # invalid label
    ],
)
def test_origin_table(origin: str | None, host: str, scheme: str, allowed: bool) -> None:
    assert check(origin, host, scheme) is allowed


def test_proxy_headers_only_when_trusted() -> None:
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "dash.example.org, proxy.local"}
    trusting = OriginPolicy.from_config([], trust_proxy_headers=True)
    assert check("https://dash.example.org", "10.0.0.5:8000", policy=trusting, **forwarded)
    assert not check("http://10.0.0.5:8000", "10.0.0.5:8000", policy=trusting, **forwarded)
    untrusting = OriginPolicy.from_config([])
    assert not check("https://dash.example.org", "10.0.0.5:8000", policy=untrusting, **forwarded)
    assert check("http://10.0.0.5:8000", "10.0.0.5:8000", policy=untrusting, **forwarded)


def test_allowlist_entries_are_validated() -> None:
    for bad in ["example.com", "https://*example.com", "https://*.", "https://a/b", "ws://x"]:
        with pytest.raises(ValueError):
            OriginPolicy.from_config([bad])
    assert OriginPolicy.from_config(["https://app.test/", " "]).exact == {Origin("https", "app.test", 443)}


labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
hosts = st.lists(labels, min_size=1, max_size=4).map(".".join)


@given(sub=hosts, domain=hosts, scheme=st.sampled_from(["http", "https"]))
def test_wildcard_matches_exactly_the_subdomains(sub: str, domain: str, scheme: str) -> None:
    policy = OriginPolicy.from_config([f"{scheme}://*.{domain}"], allow_same_origin=False)
    assert check(f"{scheme}://{sub}.{domain}", policy=policy)
    assert not check(f"{scheme}://{domain}", policy=policy)
    assert not check(f"{scheme}://{sub}{domain}", policy=policy)  # no dot boundary
    other = "https" if scheme == "http" else "http"
    assert not check(f"{other}://{sub}.{domain}", policy=policy)


@given(host=hosts, port=st.integers(1, 65535), scheme=st.sampled_from(["http", "https"]))
def test_parse_round_trips(host: str, port: int, scheme: str) -> None:
    origin = parse_origin(f"{scheme}://{host.upper()}:{port}")
    assert origin == Origin(scheme, host, port)
    assert parse_origin(str(origin)) == origin


@given(st.text(max_size=60))
def test_parser_never_raises(text: str) -> None:
    parse_origin(text)
    parse_origin(text, wildcard=True)
