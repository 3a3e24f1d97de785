"""Shared fixtures: Chromium options for dash[testing]'s browser fixtures, and a
second browser for tests that need two."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dash import _callback
from dash.testing.browser import Browser
from selenium.webdriver.chrome.options import Options


def pytest_setup_options() -> Any:
    """Debian's Chromium, headless, with no network of its own (nothing downloads)."""
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ):
        options.add_argument(flag)
    return options


def pytest_collection_finish(session: pytest.Session) -> None:
    """No test module may leave ``dash.callback``s behind when it is imported.

    Dash keeps such callbacks in a process-wide list until the next app sets up its
    server, and that app takes them all. Imported at collection, they became callbacks
    of whichever app a test started first, with ids missing from its layout (so
    ``test_lcbc003`` failed in a full run, with 12 "ID not found in layout" console
    errors, and passed alone). Import an app that uses ``dash.callback`` in the test
    (or serve it from a subprocess), and its constants from a module of their own.
    """
    left = [str(spec["output"]) for spec in _callback.GLOBAL_CALLBACK_LIST]
    if left:
        raise pytest.UsageError(
            f"collecting the tests registered {len(left)} dash.callback(s) "
            f"({', '.join(left)}): the first app a test starts would take them"
        )


@pytest.fixture
def other_br(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Browser]:
    """A second, separate browser (its own profile and cookies), like ``dash_br``."""
    with Browser(
        browser=request.config.getoption("webdriver"),
        remote=request.config.getoption("remote"),
        remote_url=request.config.getoption("remote_url"),
        headless=request.config.getoption("headless"),
        options=request.config.hook.pytest_setup_options(),
        download_path=str(tmp_path / "download"),
        percy_assets_root=request.config.getoption("percy_assets"),
        percy_finalize=request.config.getoption("nopercyfinalize"),
        pause=request.config.getoption("pause"),
    ) as browser:
        yield browser
