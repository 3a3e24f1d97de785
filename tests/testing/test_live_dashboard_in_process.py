"""The guide's app (``examples/live_dashboard.py``) driven by DashClient: a signed-in
page as Dash's renderer keeps it, in process. The same behaviours as
the reading and export tests that spoke the protocol by hand to a real hypercorn
(tests/examples/test_live_dashboard.py keeps what needs the real server: the guard,
the sign-in form, logout, the command line, the cookie); here the page loads, its
persistent callback asks the page for its sensor (``get_prop``) and the export's
``running=`` disables the button while it runs, as in a browser."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest

from quartdash.testing import DashClient
from tests.authclient import SECRET


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The example's app; imported here, not at collection (it uses ``dash.callback``)."""
    monkeypatch.setenv("QUARTDASH_SECRET_KEY", SECRET)
    monkeypatch.setenv("QUART_AUTH_COOKIE_SECURE", "0")
    return importlib.import_module("examples.live_dashboard").app


async def test_the_reading_follows_the_sensor_and_the_export_reports_its_steps(app: Any) -> None:
    async with DashClient(app, user="alice") as page:
        assert page.props("who")["children"] == "Signed in as alice"
        first = await page.wait_for("reading", "children", timeout=10)
        assert first.startswith("boiler: ") and first.endswith(" °C"), first
        # A sensor the app does not know is refused (no reading); the loop asks again.
        for sensor in ("pump", "made-up", "fan"):
            await page.set_props("sensor", value=sensor)
            if sensor == "made-up":
                continue
            async with asyncio.timeout(10):
                while not page.props("reading")["children"].startswith(f"{sensor}: "):
                    reading = await page.wait_for("reading", "children", timeout=10)
                    assert not reading.startswith("made-up"), reading

        export = asyncio.create_task(page.set_props("export", n_clicks=2))
        assert await page.wait_for("export", "disabled", True) is True
        for step in (1, 2, 3):
            text = f"exporting: step {step} of 3"
            assert await page.wait_for("export-status", "children", text) == text
        await asyncio.wait_for(export, 10)
        assert page.props("export-status")["children"] == "report 2 exported for alice"
        assert page.props("export")["disabled"] is False
