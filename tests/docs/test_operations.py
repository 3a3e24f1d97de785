"""docs/operations.md, its alert rules and its Grafana dashboard, kept true to a real scrape.

One ``hypercorn examples.echo:app`` with metrics on runs one callback over a socket (so
the histogram has a sample), and its ``_quartdash/metrics`` is parsed with
prometheus_client's own parser. Every series name the page's table, the rule file and
the dashboard use must be one that scrape has (a counter's ``_total``, a histogram's
``_bucket``/``_count``/``_sum``, as Prometheus stores them), with the kind, the labels
and the label values they claim; every series the contract fixes has its row."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from quartdash.observe import events
from quartdash.testing.servers import hypercorn
from quartdash.testing.wsclient import echo_rtt, open_socket
from tests import ROOT

PAGE = ROOT / "docs" / "operations.md"
RULES = ROOT / "docs" / "operations" / "alerts.yml"
DASHBOARD = ROOT / "docs" / "operations" / "grafana-dashboard.json"
TABLE_HEADER = "| series | kind | labels | what it counts | worry when |"
#: The series the public contract fixes (names as a scrape has them; the histogram by
#: its base name), each of which needs its row in the page's table.
CONTRACT = (
    "quartdash_connections",
    "quartdash_connections_closed_total",
    "quartdash_handshakes_refused_total",
    "quartdash_callbacks_total",
    "quartdash_callback_duration_seconds",
    "quartdash_frames_sent_total",
    "quartdash_bytes_sent_total",
    "quartdash_bytes_received_total",
    "quartdash_set_props_coalesced_total",
    "quartdash_resumes_total",
    "quartdash_sessions_ended_total",
    "quartdash_pushes_total",
    "quartdash_push_deliveries_total",
    "quartdash_backplane_up",
)
#: Labels Prometheus adds to every series of a target, and the histogram's own.
TARGET_LABELS = {"job", "instance"}
#: The three alerts of the issue: each alert's name and the series it must watch.
ALERTS = {
    "QuartdashSocketsClosedWithErrors": "quartdash_connections_closed_total",
    "QuartdashCallbacksFailing": "quartdash_callbacks_total",
    "QuartdashBackplaneDown": "quartdash_backplane_up",
}
METRIC = re.compile(r"\b(quartdash_[a-z0-9_]+)")
SELECTOR = re.compile(r"\b(quartdash_[a-z0-9_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
DURATION = re.compile(r"^\d+[smhdwy]$")


@dataclass
class Scrape:
    """What one scrape reported: per series name as stored (``quartdash_x_total``,
    ``..._bucket``), its family's kind and its label values."""

    kinds: dict[str, str] = field(default_factory=dict)
    labels: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    values: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)

    def family_kind(self, name: str) -> str | None:
        """The kind of the series a table row names: a stored name, or a histogram's
        base name."""
        if name in self.kinds:
            return self.kinds[name]
        if self.kinds.get(name + "_bucket") == "histogram":
            return "histogram"
        return None

    def family_labels(self, name: str) -> dict[str, set[str]]:
        found = self.labels.get(name) or self.labels.get(name + "_count") or {}
        return found


def parse(text: str) -> Scrape:
    scrape = Scrape()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            scrape.kinds[sample.name] = family.type
            labels = scrape.labels.setdefault(sample.name, {})
            for key, value in sample.labels.items():
                if key != "le":
                    labels.setdefault(key, set()).add(value)
            scrape.values[sample.name, frozenset(sample.labels.items())] = sample.value
    return scrape


async def one_callback(url: str) -> None:
    async with open_socket(url) as ws:
        await echo_rtt(ws, 1)


@pytest.fixture(scope="module")
def scrape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scrape]:
    tmp = tmp_path_factory.mktemp("operations")
    with hypercorn("examples.echo:app", tmp, env={"QUARTDASH_METRICS": "public"}) as server:
        asyncio.run(one_callback(server.url))
        with urllib.request.urlopen(server.url + "/_quartdash/metrics", timeout=30) as answer:
            found = parse(answer.read().decode())
    count = ("quartdash_callback_duration_seconds_count",
             frozenset({("transport", "websocket")}))
    assert found.values.get(count) == 1.0, "the scrape did not count the callback"
    yield found


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def table(page: Path, header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header row starts with ``header``, as cells
    (an empty cell kept: a series without labels)."""
    lines = text(page).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def check_expression(expr: str, scrape: Scrape, where: str,
                     variables: frozenset[str] = frozenset()) -> set[str]:
    """Every series ``expr`` names is in the scrape, with labels and values it has;
    its groupings are labels of those series. Returns the series named."""
    assert expr.count("(") == expr.count(")"), f"{where}: unbalanced parentheses: {expr}"
    assert expr.count("{") == expr.count("}"), f"{where}: unbalanced braces: {expr}"
    names = set(METRIC.findall(expr))
    assert names, f"{where}: no quartdash series in {expr}"
    for name in names:
        assert name in scrape.kinds, f"{where}: {name} is not a series of the scrape"
    known_labels = set(TARGET_LABELS)
    for name in names:
        known_labels |= set(scrape.labels[name])
    if any(scrape.kinds[name] == "histogram" for name in names):
        known_labels.add("le")
    for name, matchers in SELECTOR.findall(expr):
        for label, _op, value in MATCHER.findall(matchers):
            if label in TARGET_LABELS:
                continue
            assert label in scrape.labels[name], f"{where}: {name} has no label {label}"
            if "$" in value or value == ".*":
                continue
            for alternative in value.split("|"):
                assert alternative in scrape.labels[name][label], \
                    f"{where}: {name}{{{label}}} is never {alternative!r}"
    for grouping in GROUPING.findall(expr):
        for label in filter(None, (part.strip() for part in grouping.split(","))):
            assert label in known_labels, f"{where}: no series here has the label {label}"
    for variable in re.findall(r"\$(\w+)", expr):
        assert variable.startswith("__") or variable in variables, \
            f"{where}: ${variable} is not a variable of the dashboard"
    return names


# --- the page's table --------------------------------------------------------------------
def documented_labels(cell: str) -> dict[str, set[str]]:
    """``label``: ``value``, ``value``; ``label``: ... as a dict."""
    found: dict[str, set[str]] = {}
    for part in filter(None, (p.strip() for p in cell.split(";"))):
        head = re.fullmatch(r"`(\w+)`: (.*)", part)
        assert head, f"a label is written `name`: `value`, ...: {part!r}"
        found[head.group(1)] = set(re.findall(r"`([^`]+)`", head.group(2)))
    return found


def test_the_table_has_a_row_for_every_series_the_contract_fixes(scrape: Scrape) -> None:
    rows = table(PAGE, TABLE_HEADER)
    names = [row[0].strip("`") for row in rows]
    assert len(names) == len(set(names)), "one row per series"
    assert set(names) == set(CONTRACT)
    for row in rows:
        name, kind, labels, counts, worry = row
        name = name.strip("`")
        assert scrape.family_kind(name) == kind, f"{name}: the scrape says " \
            f"{scrape.family_kind(name)}, the table {kind}"
        assert counts and worry, f"{name}: what it counts and when to worry"
        documented = documented_labels(labels)
        served = scrape.family_labels(name)
        assert set(documented) == set(served), f"{name}: labels {sorted(served)}"
        for label, values in documented.items():
            # Every value the scrape shows is explained; a documented value the scrape
            # has not shown is only the close code's fallback for unlisted codes.
            assert served[label] <= values, f"{name}{{{label}}}: {served[label] - values}"
            unseen = values - served[label]
            assert unseen <= {events.code_label(1)}, f"{name}{{{label}}}: {unseen}"


def test_every_series_the_page_names_is_in_the_scrape(scrape: Scrape) -> None:
    page = text(PAGE)
    own = page[:page.index("## The live admin page")]  # the sections this test keeps
    for name in set(re.findall(r"`(quartdash_[a-z0-9_]+)", own)):
        assert scrape.family_kind(name), f"operations.md names {name}, no series of a scrape"


# --- the alert rules ------------------------------------------------------------------------
def rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(text(RULES))
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_the_rule_file_has_exactly_the_three_alerts(scrape: Scrape) -> None:
    loaded = yaml.safe_load(text(RULES))
    assert [set(group) >= {"name", "rules"} for group in loaded["groups"]] == [True]
    found = {rule["alert"]: rule for rule in rules()}
    assert len(found) == len(rules()) == 3
    assert set(found) == set(ALERTS)
    for name, rule in found.items():
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, name
        names = check_expression(rule["expr"], scrape, name)
        assert ALERTS[name] in names, f"{name} does not watch {ALERTS[name]}"
        assert DURATION.match(rule["for"]), f"{name}: for: {rule['for']!r}"
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
    closes = found["QuartdashSocketsClosedWithErrors"]["expr"]
    assert re.search(r'code=~"(1011\|1013|1013\|1011)"', closes), closes
    assert 'outcome="error"' in found["QuartdashCallbacksFailing"]["expr"]


def test_the_page_explains_each_alert_as_the_file_has_it() -> None:
    page = text(PAGE)
    assert "](operations/alerts.yml)" in page
    assert "](operations/grafana-dashboard.json)" in page
    rows = {row[0].strip("`"): row for row in table(PAGE, "| alert | fires when |")}
    assert set(rows) == set(ALERTS)
    for rule in rules():
        assert rows[rule["alert"]][2] == rule["for"], f"{rule['alert']}: for is {rule['for']}"


# --- the dashboard --------------------------------------------------------------------------
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(text(DASHBOARD))
    return loaded


def panels() -> list[dict[str, Any]]:
    return list(dashboard()["panels"])


def test_the_dashboard_is_an_importable_grafana_dashboard() -> None:
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
    assert board["title"] and board["uid"] and board["id"] is None
    variables = {var["name"]: var for var in board["templating"]["list"]}
    source = variables["datasource"]
    assert (source["type"], source["query"]) == ("datasource", "prometheus")
    placed: set[tuple[int, int]] = set()
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(target["datasource"] == panel["datasource"] for target in panel["targets"])
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & placed, f"{panel['title']} overlaps another panel"
        placed |= cells


def test_the_dashboard_queries_are_series_of_the_scrape(scrape: Scrape) -> None:
    board = dashboard()
    variables = frozenset(var["name"] for var in board["templating"]["list"])
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            check_expression(var["query"]["query"], scrape, f"variable {var['name']}", variables)
    used: set[str] = set()
    for panel in panels():
        for target in panel["targets"]:
            used |= check_expression(target["expr"], scrape, panel["title"], variables)
    stored = {name if name in scrape.kinds else name + "_bucket" for name in CONTRACT}
    assert stored <= used, f"no panel shows {sorted(stored - used)}"


def test_the_dashboard_has_the_panels_the_page_lists() -> None:
    def exprs(series: str) -> list[str]:
        return [target["expr"] for panel in panels() for target in panel["targets"]
                if series in target["expr"]]

    quantiles = {float(q) for expr in exprs("quartdash_callback_duration_seconds_bucket")
                 for q in re.findall(r"histogram_quantile\(\s*([0-9.]+)", expr)}
    assert quantiles == {0.5, 0.95, 0.99}
    for series, label in (("quartdash_callbacks_total", "outcome"),
                          ("quartdash_connections_closed_total", "code"),
                          ("quartdash_handshakes_refused_total", "reason")):
        assert any(re.search(rf"by \([^)]*\b{label}\b", expr) for expr in exprs(series)), series
    for series in ("quartdash_frames_sent_total", "quartdash_bytes_sent_total",
                   "quartdash_set_props_coalesced_total", "quartdash_pushes_total",
                   "quartdash_push_deliveries_total"):
        assert any("rate(" in expr for expr in exprs(series)), f"{series}: no rate"
