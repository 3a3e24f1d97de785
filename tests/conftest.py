"""Shared fixtures: Chromium options for dash[testing]'s browser fixtures."""

from __future__ import annotations

import shutil
from typing import Any

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
