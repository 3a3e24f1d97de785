"""docs/topics.md's whole app, taken from the page itself, served by a real hypercorn with
a real Redis backplane and read in headless Chromium: each tab gets the producer's
pushes and the count of viewers follows the tabs; the page's ``Publisher`` sample, run
as its own process, reaches the page."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quartdash.testing.servers import RedisServer, Server, hypercorn, redis_server
from tests import ROOT
from tests.e2e.pages import poll

PAGE = ROOT / "docs" / "topics.md"
WAIT = 20.0


def block(starting: str) -> str:
    """The page's ```python block whose first line starts with ``starting``."""
    for code in re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S):
        if code.startswith(starting):
            return str(code)
    raise AssertionError(f"no block starting {starting!r} in {PAGE}")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as running:
        yield running


@pytest.fixture
def server(tmp_path: Path, redis: RedisServer) -> Iterator[Server]:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "prices.py").write_text(block("# prices.py"))
    env = {"QUARTDASH_BACKPLANE": redis.url, "PYTHONPATH": str(ROOT)}
    with hypercorn("prices:app", tmp_path, env=env, cwd=app_dir) as running:
        yield running




def text(browser: Any, selector: str) -> str:
    elements = browser.driver.find_elements("css selector", selector)
    return str(elements[0].text) if elements else ""


def test_the_pages_app_pushes_to_every_viewer_and_counts_them(
        dash_br: Any, other_br: Any, server: Server, redis: RedisServer) -> None:
    driver = dash_br.driver
    driver.get(server.url)
    poll(lambda: text(dash_br, "#price").startswith("ACME "), "a price in the first browser")
    poll(lambda: text(dash_br, "#viewers") == "1 watching", "one viewer")
    other_br.driver.get(server.url)
    poll(lambda: text(other_br, "#viewers") == "2 watching", "two viewers, in the second")
    poll(lambda: text(dash_br, "#viewers") == "2 watching", "two viewers, in the first")
    # A second tab of the first browser shares its socket: still two.
    first = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.get(server.url)
    poll(lambda: text(dash_br, "#price").startswith("ACME "), "a price in the second tab")
    assert text(dash_br, "#viewers") == "2 watching"
    driver.close()
    driver.switch_to.window(first)
    other_br.driver.close()  # its last window: the other viewer goes away
    poll(lambda: text(dash_br, "#viewers") == "1 watching", "one viewer once the other left")

    # The producer overwrites the price every second: record every text the price shows.
    driver.execute_script("""
        window.seen = [];
        new MutationObserver(() => window.seen.push(document.getElementById("price").textContent))
            .observe(document.getElementById("price"), {childList: true, subtree: true,
                                                          characterData: true});""")
    sample = block("import asyncio\n\nfrom quartdash import Publisher")
    sample = sample.replace("redis://127.0.0.1:6379/0", redis.url)
    done = subprocess.run([sys.executable, "-c", sample], capture_output=True, text=True,
                          timeout=WAIT, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "queued for 1 sockets", done.stdout
    poll(lambda: "ACME 101.5" in driver.execute_script("return window.seen"),
         "the Publisher's price on the page", timeout=5.0)
