# Copied from Dash's test suite: tests/background_callback/conftest.py (plotly/dash, the Dash 4.4 line;
# see tests/dash_suite/__init__.py for the exact source), MIT License,
# Copyright (c) 2015-2024 Plotly Technologies Inc. (tests/dash_suite/LICENSE-dash).
# Changes for quartdash are marked "# quartdash:".
import pytest

# quartdash: diskcache only; Dash adds "celery" when REDIS_URL is set (Celery is no
# dependency of this project, and these tests need no broker).
managers = ["diskcache"]


@pytest.fixture(params=managers)
def manager(request):
    return request.param
