"""Twenty small callback tests against one app, each with a fresh DashClient: the
module tests/testing/test_dash_client.py times (it must run in under 2 s)."""

from __future__ import annotations

from quartdash.testing import DashClient
from tests.apps.counter_app import make_app

APP = make_app()


async def test_callback_00() -> None:
    async with DashClient(APP) as page:
        await page.set_props("inc", n_clicks=1)
        assert page.props("count")["children"] == "clicked 1"


async def test_callback_01() -> None:
    async with DashClient(APP) as page:
        await page.set_props("text", value="w1")
        assert page.props("echo")["children"] == "W1"
        assert page.props("length")["children"] == 2


async def test_callback_02() -> None:
    async with DashClient(APP) as page:
        await page.set_props({"type": "row", "i": 2}, value="v2")
        assert page.props({"type": "shown", "i": 2})["children"] == "row v2"
        assert "v2" in page.props("joined")["children"]


async def test_callback_03() -> None:
    async with DashClient(APP) as page:
        await page.set_props("inc", n_clicks=3)
        await page.set_props("text", value="note")
        assert page.props("note")["children"] == "noted at 3"


async def test_callback_04() -> None:
    async with DashClient(APP) as page:
        await page.set_props("text", value="e4")
        assert [e["data"] for e in page.events] == ["e4"]


async def test_callback_05() -> None:
    async with DashClient(APP) as page:
        await page.set_props("inc", n_clicks=6)
        assert page.props("count")["children"] == "clicked 6"


async def test_callback_06() -> None:
    async with DashClient(APP) as page:
        await page.set_props("text", value="w6")
        assert page.props("echo")["children"] == "W6"
        assert page.props("length")["children"] == 2


async def test_callback_07() -> None:
    async with DashClient(APP) as page:
        await page.set_props({"type": "row", "i": 1}, value="v7")
        assert page.props({"type": "shown", "i": 1})["children"] == "row v7"
        assert "v7" in page.props("joined")["children"]


async def test_callback_08() -> None:
    async with DashClient(APP) as page:
        await page.set_props("inc", n_clicks=8)
        await page.set_props("text", value="note")
        assert page.props("note")["children"] == "noted at 8"


async def test_callback_09() -> None:
    async with DashClient(APP) as page:
        await page.set_props("text", value="e9")
        assert [e["data"] for e in page.events] == ["e9"]


async def test_callback_10() -> None:
    async with DashClient(APP) as page:
        await page.set_props("inc", n_clicks=11)
        assert page.props("count")["children"] == "clicked 11"


async def test_callback_11() -> None:
    async with DashClient(APP) as page:
        await page.set_props("text", value="w11")
        assert page.props("echo")["children"] == "W11"
        assert page.props("length")["children"] == 3


async def test_callback_12() -> None:
    async with DashClient(APP) as page:
        await page.set_props({"type": "row", "i": 0}, value="v12")
        assert page.props({"type": "shown", "i": 0})["children"] == "row v12"
        assert "v12" in page.props("joined")["children"]


async def test_callback_13() -> None:
    async with DashClient(APP) as page:
        await page.set_props("inc", n_clicks=13)
        await page.set_props("text", value="note")
        assert page.props("note")["children"] == "noted at 13"


async def test_callback_14() -> None:
    async with DashClient(APP) as page:
        await page.set_props("text", value="e14")
        assert [e["data"] for e in page.events] == ["e14"]


async def test_callback_15() -> None:
    async with DashClient(APP) as page:
        await page.set_props("inc", n_clicks=16)
        assert page.props("count")["children"] == "clicked 16"


async def test_callback_16() -> None:
    async with DashClient(APP) as page:
        await page.set_props("text", value="w16")
        assert page.props("echo")["children"] == "W16"
        assert page.props("length")["children"] == 3


async def test_callback_17() -> None:
    async with DashClient(APP) as page:
        await page.set_props({"type": "row", "i": 2}, value="v17")
        assert page.props({"type": "shown", "i": 2})["children"] == "row v17"
        assert "v17" in page.props("joined")["children"]


async def test_callback_18() -> None:
    async with DashClient(APP) as page:
        await page.set_props("inc", n_clicks=18)
        await page.set_props("text", value="note")
        assert page.props("note")["children"] == "noted at 18"


async def test_callback_19() -> None:
    async with DashClient(APP) as page:
        await page.set_props("text", value="e19")
        assert [e["data"] for e in page.events] == ["e19"]
