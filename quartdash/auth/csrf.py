"""Refusing state-changing requests that a page of another site could have made.

A browser attaches the user's cookie to a form post from any site (``SameSite=Lax``
stops posts from other *sites*, not from a sibling subdomain of the same site, and a
login post needs no cookie at all: login CSRF signs the visitor in as the attacker).
What a page cannot forge is the ``Origin`` header, which browsers send on every post,
and ``Sec-Fetch-Site``. So a ``POST`` (or ``PUT``, ``PATCH``, ``DELETE``) is allowed
when its ``Origin`` passes the app's origin policy (the same one the WebSocket
handshake uses: same origin, or ``allowed_origins``), or, with no ``Origin``, when
``Sec-Fetch-Site`` says ``same-origin`` or ``none`` (typed by the user). A request with
neither header comes from no browser: refused where a cookie is the credential, let
through where the caller proves itself otherwise (the admin API's bearer token).

``QuartDash.cross_site_refusal()`` is the public face; the admin API calls the same.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import orjson
from quart import Response, request

if TYPE_CHECKING:
    from quartdash.auth.origin import OriginPolicy

#: Methods that must not change state, so a page of any site may make them.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SAME_SITE_FETCH = frozenset({"same-origin", "none"})


def _refused(detail: str = "") -> Response:
    body = {"error": "cross-site request refused" + (f": {detail}" if detail else "")}
    return Response(orjson.dumps(body), status=403, content_type="application/json",
                    headers={"Cache-Control": "no-store"})


def cross_site_refusal(policy: OriginPolicy, *, by_cookie: bool = True) -> Response | None:
    """None when the current request may proceed; else a JSON 403 to return as is.

    ``by_cookie``: the request's credential is a cookie (or it needs none), so a request
    with neither ``Origin`` nor ``Sec-Fetch-Site`` is refused. False where the caller
    proves itself with something no other page holds (a bearer token): a script's
    request without those headers then passes, while one from a page of another
    origin is still refused.
    """
    if request.method in SAFE_METHODS:
        return None
    if request.headers.get("Origin") is not None:
        # Dash's "*" opens the socket to every page; it does not make every site's
        # posts this app's own.
        if policy.allow_any:
            policy = dataclasses.replace(policy, allow_any=False)
        problem = policy.check(request.scheme, request.headers)
        return None if problem is None else _refused(problem)
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return None if fetch_site in _SAME_SITE_FETCH else _refused()
    if by_cookie:
        return _refused("neither Origin nor Sec-Fetch-Site, so no page of this site sent it")
    return None
