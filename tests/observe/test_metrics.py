"""The metrics' parts alone: label values a client cannot multiply, sizes in bytes, the
per-server directory and its safety, what is imported with metrics off, who may scrape."""

from __future__ import annotations

import bisect
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from quartdash.observe import events, metrics


@pytest.mark.parametrize(("code", "label"), [
    (1000, "1000"), (1001, "1001"), (1011, "1011"), (1013, "1013"), (4401, "4401"),
    (None, "client"), (4999, "other"), (3000, "other"), (1002, "other"),
])
def test_a_close_code_label_is_one_of_a_fixed_few(code: int | None, label: str) -> None:
    assert events.code_label(code) == label


def test_every_code_a_client_can_choose_shares_one_label() -> None:
    labels = {events.code_label(code) for code in range(1000, 5000)}
    assert len(labels) == len(events.CLOSE_CODES) + 1  # the known ones and "other"


@pytest.mark.parametrize(("text", "size"), [("", 0), ("abc", 3), ("é", 2), ("€", 3),
                                             ("😀", 4), (b"\xff\x00", 2)])
def test_sizes_are_utf8_bytes(text: str | bytes, size: int) -> None:
    assert events.utf8_size(text) == size


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary directory, here a test's own."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv(metrics.DIR_VARIABLE, raising=False)
    return tmp_path


def test_the_directory_is_the_servers_and_private(temp_dir: Path) -> None:
    path = metrics.server_directory()
    assert path.parent == temp_dir
    assert path.name.startswith(f"{metrics.DIR_PREFIX}{os.getuid()}-{os.getpid()}-")
    assert path.stat().st_mode & 0o777 == 0o700
    assert metrics.server_directory() == path  # the same for every call of the server


def test_a_directory_someone_else_could_write_is_not_used(temp_dir: Path) -> None:
    path = metrics.server_directory()
    path.chmod(0o777)  # as if another user had made it first, open to all
    with pytest.warns(UserWarning, match="not this user's private directory"):
        other = metrics.server_directory()
    assert other != path and other.stat().st_mode & 0o777 == 0o700


def test_directories_of_servers_gone_are_removed(temp_dir: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = temp_dir / f"{metrics.DIR_PREFIX}{os.getuid()}-{gone.stdout.strip()}-1"
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"")
    live = temp_dir / f"{metrics.DIR_PREFIX}{os.getuid()}-{os.getpid()}-1"
    live.mkdir()
    metrics.server_directory()
    assert not stale.exists()
    assert live.exists()


def test_the_variable_names_the_directory(temp_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(metrics.DIR_VARIABLE, str(temp_dir / "given"))
    assert metrics.server_directory() == temp_dir / "given"


def _run(script: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
        timeout=60, env={**{k: v for k, v in os.environ.items()
                            if not k.startswith(("QUARTDASH_", "PROMETHEUS_"))}, **env},
        cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr
    return result.stdout


SERVE_ONE_CALLBACK = """
    import asyncio, sys, warnings
    warnings.simplefilter("error")
    from quartdash import Input, Output, QuartDash, html

    app = QuartDash(__name__, admin_token="an-admin-token-of-some-length")
    app.layout = html.Div([html.Div(id="in"), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("in", "children"))
    def echo(value):
        return value

    async def main():
        client = app.server.test_client()
        body = {"output": "out.children", "outputs": {"id": "out", "property": "children"},
                "inputs": [{"id": "in", "property": "children", "value": "hi"}],
                "changedPropIds": ["in.children"], "state": []}
        async with app.server.test_app():
            answer = await client.post("/_dash-update-component", json=body,
                                       headers={"Origin": "http://localhost"})
            assert answer.status_code == 200, await answer.get_data()
            scrape = await client.get("/_quartdash/metrics")
            token = await client.get("/_quartdash/metrics", headers={
                "Authorization": "Bearer an-admin-token-of-some-length"})
            text = (await token.get_data()).decode()
        line = [l for l in text.splitlines() if l.startswith(
            'quartdash_callbacks_total{outcome="ok",transport="http"}')]
        print(scrape.status_code, token.status_code, token.mimetype, line,
              "prometheus_client" in sys.modules)

    asyncio.run(main())
"""


def test_with_metrics_off_nothing_is_imported_or_served() -> None:
    # The path is then one more of Dash's pages (its catch-all route), not a scrape.
    assert _run(SERVE_ONE_CALLBACK).split() == ["200", "200", "text/html", "[]", "False"]


def test_with_metrics_on_a_scrape_needs_the_admin_token(tmp_path: Path) -> None:
    out = _run(SERVE_ONE_CALLBACK, QUARTDASH_METRICS="1",
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    assert out.split(" ", 3)[:3] == ["401", "200", "text/plain"]
    assert "outcome=\"ok\",transport=\"http\"} 1.0" in out and out.strip().endswith("True")


def test_public_metrics_admit_anyone(tmp_path: Path) -> None:
    out = _run(SERVE_ONE_CALLBACK, QUARTDASH_METRICS="public",
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    assert out.split(" ", 3)[:3] == ["200", "200", "text/plain"]


def test_metrics_no_one_may_scrape_are_warned_about(tmp_path: Path) -> None:
    script = """
        import warnings
        from quartdash import QuartDash
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            QuartDash(__name__, metrics=True)
        print([str(w.message) for w in caught])
    """
    out = _run(script, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    assert "every scrape will be refused" in out


def test_durations_added_up_per_bucket_equal_one_by_one_observations() -> None:
    from prometheus_client import Histogram

    from quartdash._compat.prometheus import add_observations

    durations = [0.0005, 0.001, 0.0011, 0.02, 0.5, 2.5, 31.0, 0.0]
    counts = [0] * (len(metrics.DURATION_BUCKETS) + 1)
    for seconds in durations:
        counts[bisect.bisect_left(metrics.DURATION_BUCKETS, seconds)] += 1
    one, many = (Histogram(name, "t", buckets=metrics.DURATION_BUCKETS, registry=None)
                 for name in ("one", "many"))
    for seconds in durations:
        one.observe(seconds)
    add_observations(many, counts, sum(durations), durations)

    def samples(histogram: Histogram) -> list[tuple[str, dict[str, str], float]]:
        return [(s.name.split("_", 1)[1], s.labels, s.value)
                for family in histogram.collect() for s in family.samples
                if not s.name.endswith("_created")]

    assert samples(one) == samples(many)
