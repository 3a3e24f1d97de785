"""``quartdash connections list|close``: the admin API from the command line.

    quartdash connections list  --url http://127.0.0.1:8050/ [--user U] [--session S]
                                [--topic T] [--json]
    quartdash connections close ID --url URL
    quartdash connections close --session S | --user U | --everyone  [--reason TEXT] --url URL

The admin token comes from env ``QUARTDASH_ADMIN_TOKEN`` (the app's own setting, named by
``config.key_of``; never from the command line, where other users of the machine could
read it); the URL from ``--url`` or env ``QUARTDASH_URL`` and is the app's own address
(its ``routes_pathname_prefix`` included). The admin token goes to that address only:
never along a redirect (whose target the server, or whoever answers in its place,
chooses), and a plain ``http://`` address off this machine is warned about, since the
token would cross the network readable. Exit status: 0 done, 1 the server
refused or could not be reached, 2 a usage error.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from quartdash.config import key_of
from quartdash.exceptions import AdminError
from quartdash.transport.limits import printable

#: Every request to the server gives up after this many seconds.
TIMEOUT_SECONDS = 10.0

#: Where the admin token is read from: the variable the app reads its own from.
ADMIN_TOKEN_ENV = key_of("admin_token")


def _call(base: str, admin_token: str, method: str, path: str,
          query: dict[str, str] | None = None, body: dict[str, Any] | None = None) -> Any:
    url = base.rstrip("/") + "/_quartdash/admin/" + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    # urllib copies a request's headers onto the request a redirect makes, but never its
    # unredirected ones: a redirect, to this host or any other, goes without the token.
    req.add_unredirected_header("Authorization", f"Bearer {admin_token}")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except (ValueError, AttributeError):
            message = exc.reason
        final = exc.filename  # the URL that answered, after any redirect
        moved = final is not None and final != url
        where = f" (redirected to {final}, which is never sent the token)" if moved else ""
        raise AdminError(f"{exc.code}: {message}{where}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise AdminError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None


def _is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine: ``localhost``, 127.0.0.0/8 or ``::1``."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warn_if_plain_http(url: str) -> None:
    """One line on stderr when the token would cross a network unencrypted."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() == "http" and not _is_loopback(parts.hostname):
        print(f"quartdash: warning: {url} is plain http to another machine: the admin "
              "token crosses the network readable by anyone on the path; use https://",
              file=sys.stderr)


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _table(infos: list[dict[str, Any]]) -> str:
    columns = ("id", "user", "session", "origin", "remote_addr", "worker", "callbacks_running",
               "topics", "opened")
    rows = [
        [printable(str(info.get(name) if info.get(name) is not None else "-"))
         for name in columns[:-2]]
        + [printable(",".join(info.get("topics") or ()) or "-")]
        + [time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["opened_at"])))]
        for info in infos
    ]
    widths = [max([len(name)] + [len(row[i]) for row in rows]) for i, name in enumerate(columns)]
    lines = [list(columns), *rows]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


#: What ``quartdash --help`` says: plain text, not the module's reStructuredText.
DESCRIPTION = "The admin API from the command line: list or close an app's WebSocket connections."
EPILOG = f"""examples:
  quartdash connections list --url http://127.0.0.1:8050/ [--user U] [--session S]
                             [--topic T] [--json]
  quartdash connections close ID --url URL
  quartdash connections close --session S | --user U | --everyone [--reason TEXT] --url URL

The admin token comes from the environment variable {ADMIN_TOKEN_ENV} (never from
the command line, where other users of the machine could read it); the URL from --url or
QUARTDASH_URL. Exit status: 0 done, 1 the server refused or could not be reached, 2 a
usage error."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quartdash", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = parser.add_subparsers(dest="group", required=True)
    connections = groups.add_parser("connections", help="list or close WebSocket connections")
    actions = connections.add_subparsers(dest="action", required=True)

    def with_url(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--url", default=os.environ.get("QUARTDASH_URL"),
                         help="the app's address (env QUARTDASH_URL)")
        return sub

    listing = with_url(actions.add_parser("list", help="list open connections"))
    listing.add_argument("--user")
    listing.add_argument("--session")
    listing.add_argument("--topic", help="the sockets subscribed to this topic (presence)")
    listing.add_argument("--json", action="store_true", help="print the JSON as received")
    closing = with_url(actions.add_parser("close", help="close connections"))
    closing.add_argument("id", nargs="?", help="one connection id")
    closing.add_argument("--session", help="end and revoke this session")
    closing.add_argument("--user", help="end and revoke every session of this user")
    closing.add_argument("--everyone", action="store_true", help="close every connection")
    closing.add_argument("--reason", help="the close reason the browser is told")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    admin_token = os.environ.get(ADMIN_TOKEN_ENV)
    if not admin_token:
        parser.error(f"set {ADMIN_TOKEN_ENV} to the app's admin token")
    if not args.url:
        parser.error("--url (or env QUARTDASH_URL) is required")
    _warn_if_plain_http(args.url)
    try:
        if args.action == "list":
            query = {k: v for k, v in (("user", args.user), ("session", args.session),
                                       ("topic", args.topic)) if v}
            infos = _call(args.url, admin_token, "GET", "connections", query)
            print(json.dumps(infos, indent=2) if args.json else _table(infos))
            return 0
        targets = [args.id is not None, args.session is not None, args.user is not None,
                   args.everyone]
        if sum(targets) != 1:
            parser.error("close takes exactly one of: ID, --session, --user, --everyone")
        if args.id is not None:
            path = f"connections/{_quote(args.id)}/close"
        elif args.session is not None:
            path = f"sessions/{_quote(args.session)}/close"
        elif args.user is not None:
            path = f"users/{_quote(args.user)}/close"
        else:
            path = "connections/close"
        result = _call(args.url, admin_token, "POST", path,
                       body={"reason": args.reason} if args.reason else {})
        print(f"closed {result['closed']}")
        return 0
    except AdminError as exc:
        print(f"quartdash: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
