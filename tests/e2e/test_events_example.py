"""``examples.events`` in headless Chromium: a clientside subscriber draws every event."""

from __future__ import annotations

from typing import Any

from dash.testing.application_runners import import_app
from selenium.webdriver.support.ui import WebDriverWait


def number(browser: Any, selector: str) -> int:
    return int(browser.find_element(selector).text.rsplit(" ", 1)[-1])


def test_every_step_reaches_the_drawing(dash_duo: Any) -> None:
    dash_duo.start_server(import_app("examples.events"))
    WebDriverWait(dash_duo.driver, 15).until(lambda _d: number(dash_duo, "#sent") >= 100)
    # "sent" is set after the step it counts was emitted, so no step may be missing.
    for _ in range(20):
        sent = number(dash_duo, "#sent")
        assert number(dash_duo, "#received") >= sent
    points = dash_duo.driver.execute_script(
        "return document.querySelector('#walk polyline').getAttribute('points')")
    assert len(points.split(" ")) >= 2
    assert dash_duo.get_logs() == []
