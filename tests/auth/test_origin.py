"""The origin policy: a table of cases and properties of the matcher, and Dash's own
forms of ``websocket_allowed_origins`` on a real hypercorn."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus

from quartdash import QuartDash, html
from quartdash.auth.origin import Origin, OriginPolicy, parse_origin, wildcard_problem
from quartdash.testing.servers import Server, hypercorn
from quartdash.testing.wsclient import call, callback_request, open_socket

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


#: Public suffixes of both sections of the list, with no wildcard rule (``*.ck``) below them,
#: so that one more label always makes a name someone can own.
SUFFIXES = ["com", "org", "co.uk", "com.au", "github.io", "herokuapp.com", "xn--p1ai"]
domains = st.tuples(hosts, st.sampled_from(SUFFIXES)).map(".".join)


@given(sub=hosts, domain=domains, scheme=st.sampled_from(["http", "https"]))
def test_wildcard_matches_exactly_the_subdomains(sub: str, domain: str, scheme: str) -> None:
    assume(wildcard_problem(domain) is None)  # e.g. a generated "blogspot" + ".com"
    policy = OriginPolicy.from_config([f"{scheme}://*.{domain}"], allow_same_origin=False)
    assert check(f"{scheme}://{sub}.{domain}", policy=policy)
    assert not check(f"{scheme}://{domain}", policy=policy)
    assert not check(f"{scheme}://{sub}{domain}", policy=policy)  # no dot boundary
    other = "https" if scheme == "http" else "http"
    assert not check(f"{other}://{sub}.{domain}", policy=policy)


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("https://*.com", "bare top-level domain"),
        ("https://*.co.uk", "public suffix"),
        ("https://*.github.io", "public suffix"),  # the list's private section
        ("https://*.COM.AU:8443", "public suffix"),
        ("http://*.foo.ck", "public suffix"),  # under the wildcard rule *.ck
        ("https://*.xn--80au.xn--90a3ac", "public suffix"),  # an IDN suffix, as a browser sends it
        ("http://*.localhost:*", "bare top-level domain"),  # not on the list, still a TLD
        ("https://*.internal", "bare top-level domain"),
        ("http://*.0.0.1", "IP address"),  # would match http://127.0.0.1
    ],
)
def test_wildcard_over_a_public_suffix_is_refused(entry: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        OriginPolicy.from_config([entry])


@pytest.mark.parametrize(
    "entry", ["https://*.example.co.uk", "https://*.me.github.io", "http://*.corp.internal:8080",
              "https://*.www.ck"],
)
def test_wildcard_over_an_owned_domain_is_accepted(entry: str) -> None:
    assert len(OriginPolicy.from_config([entry]).patterns) == 1


@given(label=labels, suffix=st.sampled_from(SUFFIXES), scheme=st.sampled_from(["http", "https"]))
def test_wildcards_over_suffixes_and_tlds_are_refused(label: str, suffix: str, scheme: str) -> None:
    for domain in (suffix, label):  # a listed suffix; any single label is a top-level domain
        with pytest.raises(ValueError, match="anyone"):
            OriginPolicy.from_config([f"{scheme}://*.{domain}"])


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:1234", True),
        ("http://localhost", True),  # port 80 is a port too
        ("http://LOCALHOST:65535", True),
        ("https://localhost:1234", False),  # the scheme still counts
        ("http://localhost.evil:1", False),
        ("http://a.localhost:1", False),  # no subdomains without *.
        ("http://127.0.0.1:1234", False),
        ("https://a.example.com:8443", True),  # a wildcard with any port
        ("https://example.com:8443", False),
        ("http://a.example.com:8443", False),
    ],
)
def test_any_port(origin: str, allowed: bool) -> None:
    policy = OriginPolicy.from_config(["http://localhost:*", "https://*.example.com:*"])
    assert check(origin, policy=policy) is allowed


def test_star_admits_every_well_formed_origin() -> None:
    policy = OriginPolicy.from_config(["*"], allow_same_origin=False)
    assert policy.allow_any
    assert check("http://evil.example", policy=policy)
    assert check("https://[::1]:9", policy=policy)
    for refused in (None, "null", "http://evil.example/path", "javascript:alert(1)"):
        assert not check(refused, policy=policy)  # as Dash refuses a missing Origin


@pytest.mark.parametrize(
    "bad", ["http://localhost:80:*", "http://*:*", "*.example.com", "http://localhost:**",
            "http://localhost:*1", "**", "http://*.*.example.com"],
)
def test_malformed_star_forms_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not"):
        OriginPolicy.from_config([bad])


@given(host=hosts, port=st.integers(1, 65535), scheme=st.sampled_from(["http", "https"]))
def test_parse_round_trips(host: str, port: int, scheme: str) -> None:
    origin = parse_origin(f"{scheme}://{host.upper()}:{port}")
    assert origin == Origin(scheme, host, port)
    assert parse_origin(str(origin)) == origin


@given(st.text(max_size=60))
def test_parser_never_raises(text: str) -> None:
    parse_origin(text)
    parse_origin(text, wildcard=True, any_port=True)


# --- Dash's own forms, on a real hypercorn ---------------------------------------------
APP = "tests.apps.origins_app:app"


async def answers(server: Server, origin: str) -> bool:
    """Whether a socket opened from ``origin`` runs a callback; False when the handshake
    is refused (403, as every refused origin is)."""
    try:
        async with open_socket(server.url, origin=origin) as ws:
            response, _ = await call(ws, callback_request("r", "out", "children", [("in", "value", "x")]))
    except InvalidStatus as exc:
        assert exc.response.status_code == 403
        return False
    assert response["payload"]["data"]["response"]["out"]["children"] == "echo x"
    return True


async def test_dash_star_admits_any_site(tmp_path: Path) -> None:
    env = {"ORIGINS_APP_ALLOWED": json.dumps(["*"])}
    with hypercorn(APP, tmp_path, env=env) as server:
        assert await answers(server, "http://evil.example")
        assert await answers(server, server.url)
        assert "a page on any site may open" in server.log  # the warning at start


async def test_dash_any_port_form(tmp_path: Path) -> None:
    env = {"ORIGINS_APP_ALLOWED": json.dumps(["http://localhost:*", "http://127.0.0.1:*"])}
    with hypercorn(APP, tmp_path, env=env) as server:
        assert await answers(server, "http://localhost:1234")
        assert await answers(server, "http://127.0.0.1:1")
        assert not await answers(server, "https://localhost:1234")
        assert not await answers(server, "http://localhost.evil:1")
        assert not await answers(server, "http://evil.example")


def test_dash_star_warns() -> None:
    with pytest.warns(UserWarning, match="any site"):
        app = QuartDash(__name__, websocket_allowed_origins=["*"])
    assert app.origin_policy.allow_any


@pytest.mark.parametrize("where", ["websocket_allowed_origins", "allowed_origins"])
def test_star_with_auth_is_refused(where: str) -> None:
    with pytest.raises(ValueError, match="any site act as the logged-in user"):
        QuartDash(__name__, auth=True, **{where: ["http://localhost:*", "*"]})


def test_dash_forms_without_star_do_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUARTDASH_SECRET_KEY", secrets.token_hex(32))
    app = QuartDash(__name__, websocket_allowed_origins=["http://localhost:*"], auth=True)
    assert not app.origin_policy.allow_any  # and no warning: warnings are errors here


async def test_dash_star_does_not_admit_other_sites_posts() -> None:
    """``"*"`` opens the socket to every page; the app's own state-changing routes still
    refuse a post from another site (``cross_site_refusal``)."""
    from quart import Response

    with pytest.warns(UserWarning, match="any site"):
        app = QuartDash(__name__, websocket_allowed_origins=["*"])
    app.layout = html.Div()

    @app.server.post("/change")
    async def change() -> Response | str:
        return app.cross_site_refusal() or "changed"

    client = app.server.test_client()
    evil = await client.post("/change", headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    own = await client.post("/change", headers={"Origin": "http://localhost"})
    assert own.status_code == 200
