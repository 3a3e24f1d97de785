"""``quartdash.config``: every setting is read from its keyword, the server's config or
the environment, in that order, and checked once with a message that names it."""

from __future__ import annotations

import dataclasses

import pytest

from quartdash.config import DEFAULTS, KEYS, Settings

#: A value of each setting's type other than its default, as the environment writes it.
SAMPLES = {
    "allowed_origins": ("https://a.test, https://b.test", ("https://a.test", "https://b.test")),
    "max_message_bytes": ("2e6", 2_000_000), "rate_limit": ("5.5", 5.5),
    "byte_rate_limit": ("100", 100.0), "max_callbacks_in_flight": ("3", 3),
    "max_connections_per_session": ("0", 0), "max_connections_per_address": ("7", 7),
    "max_pending_frames": ("20", 20), "max_pending_bytes": ("1024", 1024),
    "send_timeout": ("2.5", 2.5), "resume_grace": ("0", 0.0), "drain_seconds": ("0", 0.0),
    "handover_seconds": ("5", 5.0),
    "max_handovers": ("2", 2), "max_topics_per_connection": ("7", 7), "session_check_interval": ("0.25", 0.25),
    "websocket_max_workers": ("3", 3), "max_threads_per_client": ("1", 1),
    "admin_token": ("a-token-of-some-length", "a-token-of-some-length"),
    "backplane": ("redis://127.0.0.1:1/0", "redis://127.0.0.1:1/0"),
    "secret_key": ("s" * 32, "s" * 32),
    "metrics": ("Public", "public"),
}


@pytest.mark.parametrize(("text", "value"), [("1", True), ("true", True), ("0", False),
                                             ("public", "public"), ("PUBLIC", "public")])
def test_metrics_is_a_switch_or_public(text: str, value: bool | str) -> None:
    assert Settings.load({}, None, {"QUARTDASH_METRICS": text}).metrics == value
    with pytest.raises(ValueError, match="QUARTDASH_METRICS: 'open' is not a switch"):
        Settings.load({}, None, {"QUARTDASH_METRICS": "open"})


def test_every_keyed_setting_has_a_sample() -> None:
    assert set(SAMPLES) == set(KEYS)


@pytest.mark.parametrize("name", sorted(KEYS))
def test_each_key_is_read_from_the_environment_then_the_config_then_the_keyword(
        name: str) -> None:
    text, value = SAMPLES[name]
    assert value != getattr(DEFAULTS, name)
    assert getattr(Settings.load({}, None, {KEYS[name]: text}), name) == value
    assert getattr(Settings.load({}, {KEYS[name]: value}, {KEYS[name]: "junk"}), name) == value
    assert getattr(Settings.load({name: value}, {KEYS[name]: "junk"}, {}), name) == value


def test_a_setting_without_a_key_is_never_read_from_the_environment() -> None:
    unkeyed = [f.name for f in dataclasses.fields(Settings) if f.name not in KEYS]
    assert unkeyed == ["trust_proxy_headers"]
    environ = {"QUARTDASH_TRUST_PROXY_HEADERS": "1"}
    assert Settings.load({}, None, environ).trust_proxy_headers is False
    assert Settings.load({"trust_proxy_headers": True}, None, {}).trust_proxy_headers is True


@pytest.mark.parametrize(("name", "text", "says"), [
    ("send_timeout", "soon", "environment variable QUARTDASH_SEND_TIMEOUT: 'soon' is not a number"),
    ("max_pending_frames", "1.5", "QUARTDASH_MAX_PENDING_FRAMES: '1.5' is not a whole number"),
    ("max_message_bytes", "-1", "max_message_bytes must be positive"),
    ("rate_limit", "0", "rate_limit must be positive"),
    ("resume_grace", "-2", "resume_grace must be 0 or more"),
    ("drain_seconds", "-1", "drain_seconds must be 0 or more"),
    ("max_pending_frames", "1", "max_pending_frames must be 2 or more"),
    ("max_pending_frames", "inf", "QUARTDASH_MAX_PENDING_FRAMES: 'inf' is not a whole number"),
    ("resume_grace", "nan", "resume_grace must be a finite number"),
    ("session_check_interval", "inf", "session_check_interval must be a finite number"),
])
def test_a_bad_value_names_its_setting_and_where_it_came_from(
        name: str, text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(".", r"\.")):
        Settings.load({}, None, {KEYS[name]: text})


def test_an_empty_value_counts_as_unset() -> None:
    assert Settings.load({}, None, {"QUARTDASH_ADMIN_TOKEN": ""}).admin_token is None
    assert Settings.load({}, None, {"QUARTDASH_RATE_LIMIT": ""}).rate_limit == DEFAULTS.rate_limit
    # An empty entry in the server's config does not hide the environment's value.
    token = "t" * 20
    assert Settings.load({}, {"QUARTDASH_ADMIN_TOKEN": ""},
                         {"QUARTDASH_ADMIN_TOKEN": token}).admin_token == token


def test_the_pool_sizes_follow_the_machine_unless_set() -> None:
    assert Settings(websocket_max_workers=6).threads_per_client() == 3
    assert Settings(websocket_max_workers=1).threads_per_client() == 1
    assert Settings(websocket_max_workers=6, max_threads_per_client=5).threads_per_client() == 5
    assert 1 <= DEFAULTS.threads() <= 32


def test_a_switch_takes_the_usual_words_and_refuses_others() -> None:
    assert Settings.load({"trust_proxy_headers": "true"}).trust_proxy_headers is True
    assert Settings.load({"trust_proxy_headers": "0"}).trust_proxy_headers is False
    with pytest.raises(ValueError, match="'maybe' is not a switch"):
        Settings.load({"trust_proxy_headers": "maybe"})
