"""Weak signing secrets: the rule (pure), the app refusing one where it signs logins and
warning elsewhere (in process), and ``examples.auth_admin`` refusing to serve with the
key its docstring used to suggest (a real hypercorn)."""

from __future__ import annotations

import secrets
import warnings
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from quart import Quart
from quart.testing.app import LifespanError

from quartdash import QuartDash, html
from quartdash.auth.secret_key import GENERATE, PLACEHOLDER_WORDS, weakness
from quartdash.testing.servers import free_port, hypercorn

WEAK = ["change-me", "changeme", "secret", "dev", "development", "test", "password",
        "your-secret-key", "0123456789abcde", "Your_Secret_Key_Here",
        "change-me-in-production-2024", "my-super-secret-dev-key", "example-test-secret",
        "PLEASE CHANGE THIS SECRET", "secret1234567890", b"change-me-in-production"]
STRONG = [secrets.token_hex(32), secrets.token_hex(8), secrets.token_urlsafe(32),
          "correct-horse-battery-staple", "in-process-secret-key-0123456789abcdef"]


@pytest.mark.parametrize("key", WEAK)
def test_weak_keys(key: str | bytes) -> None:
    assert weakness(key) is not None


@pytest.mark.parametrize("key", STRONG)
def test_strong_keys(key: str) -> None:
    assert weakness(key) is None


@given(st.binary(min_size=8, max_size=64))
def test_a_random_hex_key_of_16_characters_or_more_is_never_weak(raw: bytes) -> None:
    assert weakness(raw.hex()) is None


def test_no_placeholder_word_is_spelt_with_hex_letters_alone() -> None:
    """What keeps every ``token_hex`` key clear of the placeholder rule."""
    assert [word for word in PLACEHOLDER_WORDS if set(word) <= set("abcdef")] == []


# --- the app ---------------------------------------------------------------------------
def _app(monkeypatch: pytest.MonkeyPatch, env_key: str | None = None,
         server_key: str | None = None, auth: bool = True) -> QuartDash:
    if env_key is None:
        monkeypatch.delenv("QUARTDASH_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("QUARTDASH_SECRET_KEY", env_key)
    server = Quart(__name__)
    server.secret_key = server_key
    app = QuartDash(__name__, server=server, auth=auth or None)
    app.layout = html.Div()
    return app


@pytest.mark.parametrize("where", ["env", "server"])
def test_a_weak_key_is_refused_where_it_signs_logins(monkeypatch: pytest.MonkeyPatch,
                                                      where: str) -> None:
    keys = {"env_key": "change-me"} if where == "env" else {"server_key": "change-me"}
    with pytest.raises(ValueError, match="weak") as refused:
        _app(monkeypatch, **keys)  # type: ignore[arg-type]
    assert GENERATE in str(refused.value)


async def test_a_weak_key_set_after_the_app_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = _app(monkeypatch, env_key=secrets.token_hex(32))
    app.server.secret_key = "change-me"  # as a Dash app sets it, after building the app
    with pytest.raises(LifespanError, match="weak"):
        async with app.server.test_app():
            pass


async def test_a_weak_fallback_key_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fallback still verifies cookies: a weak one forges logins just as well."""
    app = _app(monkeypatch, env_key=secrets.token_hex(32))
    app.server.config["SECRET_KEY_FALLBACKS"] = ["secret"]
    with pytest.raises(LifespanError, match="weak"):
        async with app.server.test_app():
            pass


def test_without_auth_a_weak_key_is_warned_about(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.warns(UserWarning, match="weak") as warned:
        _app(monkeypatch, env_key="change-me", auth=False)
    assert GENERATE in str(warned[0].message)


async def test_a_strong_key_starts_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app = _app(monkeypatch, server_key=secrets.token_hex(32))
        async with app.server.test_app():
            pass


# --- the example on a real server --------------------------------------------------------
def test_the_example_refuses_to_serve_with_a_weak_key(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(RuntimeError, match="exited"), hypercorn(
        "examples.auth_admin:app", tmp_path, port=port, ready_path="/login",
        env={"QUARTDASH_SECRET_KEY": "change-me"},
    ):
        pass
    log = (tmp_path / f"hypercorn-{port}.log").read_text()
    assert "ValueError: the secret key is weak" in log and GENERATE in log
