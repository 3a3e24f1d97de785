"""The command line's handling of its admin token, against real local HTTP servers: a
redirect (to another host or the same one) is followed without the token, and a plain
``http://`` address off this machine is warned about before anything is sent."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from quartdash import cli

TOKEN = "cli-test-token-0123456789abcdef"


class Recorder:
    """What one server saw: each request's method, path and headers. It answers the
    first request with ``redirect`` (status, location) when set, the others with the
    admin API's JSON."""

    def __init__(self) -> None:
        self.redirect: tuple[int, str] | None = None
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.url = ""

    def tokens(self) -> list[str | None]:
        """The Authorization header of each request, in order."""
        return [headers.get("Authorization") for _, _, headers in self.seen]


@contextlib.contextmanager
def serve(host: str) -> Iterator[Recorder]:
    """A real HTTP server on ``host`` and an ephemeral port, in a thread."""
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            recorder.seen.append((self.command, self.path, dict(self.headers.items())))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if recorder.redirect is not None and len(recorder.seen) == 1:
                status, location = recorder.redirect
                self.send_response(status)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            closing = self.path.endswith("/close")
            body = json.dumps({"closed": 0} if closing else []).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reads ``recorder.seen``."""

    server = ThreadingHTTPServer((host, 0), Handler)
    recorder.url = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def first_path(argv: list[str]) -> str:
    """The admin API path the command line asks for first."""
    return "/_quartdash/admin/" + ("users/alice/close" if "close" in argv else "connections")


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUARTDASH_ADMIN_TOKEN", TOKEN)
    monkeypatch.delenv("QUARTDASH_URL", raising=False)


@pytest.mark.parametrize(
    ("status", "argv", "printed"),
    [
        (302, ["connections", "list"], "id"),  # the table's header
        (307, ["connections", "list", "--user", "alice"], "id"),
        (308, ["connections", "list"], "id"),
        (303, ["connections", "close", "--user", "alice"], "closed 0"),  # POST, then GET
    ],
)
@pytest.mark.parametrize("other_host", [True, False])
def test_a_redirect_never_carries_the_token(
    capsys: pytest.CaptureFixture[str], status: int, argv: list[str], printed: str,
    other_host: bool,
) -> None:
    # 127.0.0.2 is another host as far as any HTTP client can tell, yet still this machine.
    with serve("127.0.0.1") as first, serve("127.0.0.2" if other_host else "127.0.0.1") as second:
        first.redirect = (status, second.url + "/elsewhere" + first_path(argv))
        assert cli.main([*argv, "--url", first.url]) == 0
    assert first.tokens() == [f"Bearer {TOKEN}"]  # the address given is sent it
    assert [method for method, _, _ in second.seen] == ["GET"]  # the redirect was followed
    assert second.tokens() == [None]
    assert TOKEN not in json.dumps(second.seen)
    out, err = capsys.readouterr()
    assert printed in out
    assert err == ""  # loopback: no warning


def test_a_redirect_to_the_same_address_goes_without_the_token_too() -> None:
    with serve("127.0.0.1") as server:
        server.redirect = (302, "/moved/_quartdash/admin/connections")
        assert cli.main(["connections", "list", "--url", server.url]) == 0
    assert [path for _, path, _ in server.seen] == ["/_quartdash/admin/connections",
                                                    "/moved/_quartdash/admin/connections"]
    assert server.tokens() == [f"Bearer {TOKEN}", None]


def test_plain_http_to_another_machine_is_warned_first(capsys: pytest.CaptureFixture[str]) -> None:
    # .invalid never resolves (RFC 2606): the request fails, after the warning.
    assert cli.main(["connections", "list", "--url", "http://example.invalid:8050"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith("quartdash: warning: http://example.invalid:8050 is plain http")
    assert "https://" in err[0]
    assert err[1].startswith("quartdash: cannot reach")


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://127.0.0.1:1", False),
        ("http://127.8.9.10:1", False),  # all of 127.0.0.0/8
        ("http://[::1]:1", False),
        ("http://LOCALHOST:1", False),
        ("http://localhost.example.invalid:1", True),
        ("http://10.0.0.1.invalid:1", True),
        ("http://[::2]:1", True),
        ("HTTP://example.invalid:1", True),
        ("https://example.invalid:1", False),
    ],
)
def test_which_addresses_are_warned(
    capsys: pytest.CaptureFixture[str], url: str, warned: bool
) -> None:
    cli._warn_if_plain_http(url)
    assert ("warning" in capsys.readouterr().err) is warned


def test_help_is_plain_text() -> None:
    """``quartdash --help`` printed the module's reStructuredText (````quartdash
    connections list|close````); it says what the command does, with examples, in
    plain text."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "quartdash", "--help"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    assert "``" not in out, out
    assert "list or close an app's WebSocket connections" in out
    assert "QUARTDASH_ADMIN_TOKEN" in out and "quartdash connections close ID" in out
