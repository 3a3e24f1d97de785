"""One harness fixture for ``test_dvhr001_hot_reload`` (not copied from Dash).

Dash's ``dash_multi_process_server`` stops its server at teardown with
``MultiProcessRunner.stop``, which raises ``psutil.NoSuchProcess`` when the server is
already gone. ``test_dvhr001_hot_reload`` stops the server itself and starts it again at
its end; when it fails between the two, Dash's teardown then adds an error to the failure
(and an expected failure would still break the run). The runner below is Dash's, except
that stopping a server that is already stopped is not an error. A passing test is
unaffected: it restarts the server, and teardown stops that one as Dash does.
"""

from collections.abc import Iterator

import psutil
import pytest
from dash.testing.application_runners import MultiProcessRunner


class _Runner(MultiProcessRunner):
    def stop(self) -> None:
        try:
            super().stop()
        except psutil.NoSuchProcess:
            pass  # the test stopped this server itself and failed before restarting it


@pytest.fixture
def dash_multi_process_server() -> Iterator[MultiProcessRunner]:
    with _Runner() as starter:
        yield starter
