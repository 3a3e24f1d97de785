"""Headless Chromium, through dash[testing]'s dash_duo, drives the echo example."""

from __future__ import annotations

from typing import Any

from dash.testing.application_runners import import_app


def test_echo_in_a_real_browser(dash_duo: Any) -> None:
    app = import_app("examples.echo")
    dash_duo.start_server(app)
    # Each widget says what to try; the input's label is its own (a click focuses it).
    label = dash_duo.wait_for_element("label[for='in']")
    assert label.text.startswith("Type here:")
    label.click()
    assert dash_duo.driver.execute_script("return document.activeElement.id") == "in"
    page = dash_duo.find_element("#react-entry-point").text
    assert "Click go, then again" in page and "Click slow, then type above" in page
    dash_duo.wait_for_element("#in").send_keys("hello socket")
    dash_duo.wait_for_text_to_equal("#out", "hello socket", timeout=10)
    dash_duo.find_element("#go").click()
    dash_duo.wait_for_text_to_equal("#done", "done", timeout=10)
    assert dash_duo.find_element("#prog").text == "1"
    # the answer came over the WebSocket: the page made no HTTP callback request
    posts = dash_duo.driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('_dash-update-component')).length"
    )
    assert posts == 0
    assert dash_duo.get_logs() == []
