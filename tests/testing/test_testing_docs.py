"""docs/testing.md: every Python sample on the page is run here, and the tests it
defines pass (the ``dash_client`` sample with the fixture's own factory)."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from quartdash.testing import DashClient
from tests import ROOT

DOC = ROOT / "docs" / "testing.md"
SAMPLE = re.compile(r"<!-- sample: ([\w-]+) -->\n```python\n(.*?)```", re.S)
TESTED = {"first", "running", "fixture"}


def samples() -> dict[str, str]:
    return dict(SAMPLE.findall(DOC.read_text(encoding="utf-8")))


def test_every_python_sample_on_the_page_is_run_here() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text.count("```python") == len(SAMPLE.findall(text)), "a sample without a name"
    assert set(samples()) == TESTED


def dash_client(app: Any, user: str | None = None, **kwargs: Any) -> DashClient:
    """What the plugin's fixture gives a test (tests/testing/test_dash_client.py runs the
    plugin itself)."""
    return DashClient(app, user=user, **kwargs)


@pytest.mark.parametrize("name", sorted(TESTED))
async def test_the_sample_and_the_tests_it_defines_pass(name: str) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs_testing_{name}"}
    exec(compile(samples()[name], f"{DOC}:{name}", "exec"), namespace)
    tests = [f for key, f in namespace.items() if key.startswith("test_")]
    assert tests, f"the sample {name} defines no test"
    for test in tests:
        wanted = inspect.signature(test).parameters
        await test(**({"dash_client": dash_client} if "dash_client" in wanted else {}))
