"""Fixtures of the Dash test-suite harness (see ``__init__.py``).

Every copied test passes with its app made a ``QuartDash``; none is marked as an
expected failure. Before issue 15's fixes, seven of them failed for causes of ours (the
reconnect backoff after a navigation, cookies of WebSocket callbacks, the error pop-up,
a dead server, ``cancel=``).
"""


import dash
import pytest

# The fixture below is copied from Dash's test suite: tests/conftest.py (plotly/dash, the
# Dash 4.4 line; see __init__.py), MIT License, Copyright (c) 2015-2024 Plotly Technologies
# Inc. (LICENSE-dash beside this file). Only `clear_pages_state` and `init_pages_state`
# are copied (the pages test needs them), unchanged.


@pytest.fixture
def clear_pages_state():
    init_pages_state()
    yield
    init_pages_state()


def init_pages_state():
    """Clear all global state that is used by pages feature."""
    dash._pages.PAGE_REGISTRY.clear()
    dash._pages.CONFIG.clear()
    dash._pages.CONFIG.__dict__.clear()
