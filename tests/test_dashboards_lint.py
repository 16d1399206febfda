"""Static checks of the generated dashboards, after the rules of Grafana's dashboard-linter.

The live test runs every query against a real Prometheus; these checks need no binary and say which rule broke.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.catalogue import SPECS
from exporter.config import KNOWN_THRESHOLDS

from support.dashboards import DASHBOARD_DIR, load_dashboards, panel_queries, panels, substitute, variable_queries

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "grafana" / "generate.py"
BOARDS = load_dashboards()
BOARD_IDS = [board["uid"] for board in BOARDS]
EXPECTED_UIDS = {"mlmon-overview", "mlmon-data-drift", "mlmon-fleet"}

# Series the dashboards may read besides the exporter's own: those the project's recording rules record.
RECORDING_RULES = {
    rule["record"]
    for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
    for group in yaml.safe_load(path.read_text())["groups"]
    for rule in group["rules"]
    if "record" in rule
}
EXPOSED = {name for spec in SPECS for name in spec.exposed_names if not name.endswith("_created")}
COUNTER_SERIES = {
    name
    for spec in SPECS
    if spec.kind in ("counter", "histogram")
    for name in spec.exposed_names
    if not name.endswith("_created")
}
# The units this project uses, all from the linter's list of Grafana units.
VALID_UNITS = {"none", "short", "percentunit", "s", "bool"}
RANGE_FUNCTIONS = ("rate", "irate", "increase")
TOKEN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
PAIRS = {"(": ")", "[": "]", "{": "}"}


def blank_strings(expr: str) -> str:
    """The expression with the content of every quoted string removed, so label values are not read as names."""
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)


def balance_error(expr: str) -> str | None:
    """Why the brackets or quotes of ``expr`` do not balance, or None."""
    stack: list[str] = []
    quote = ""
    escaped = False
    for char in expr:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote != "`":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char in PAIRS:
            stack.append(PAIRS[char])
        elif char in PAIRS.values() and (not stack or stack.pop() != char):
            return f"unexpected {char!r}"
    if quote:
        return f"unterminated {quote} string"
    return f"unclosed, expected {stack[-1]!r}" if stack else None


def enclosing_calls(expr: str) -> list[tuple[str, int, str]]:
    """(name, start, argument text) of every parenthesised group; name is the word just before it, if any."""
    out: list[tuple[str, int, str]] = []
    open_at: list[tuple[str, int]] = []
    for i, char in enumerate(expr):
        if char == "(":
            word = re.search(r"([A-Za-z_]\w*)\s*$", expr[:i])
            open_at.append((word.group(1) if word else "", i))
        elif char == ")" and open_at:
            name, start = open_at.pop()
            out.append((name, start, expr[start + 1 : i]))
    return out


def lint_expr(expr: str) -> list[str]:
    """Rule violations of one PromQL expression (Grafana variables left in place)."""
    problems = []
    error = balance_error(expr)
    if error:
        return [f"brackets or quotes do not balance: {error}"]
    bare = blank_strings(expr)
    calls = enclosing_calls(bare)
    for name, _, argument in calls:
        if name in RANGE_FUNCTIONS and not re.search(r"\[\$__rate_interval\]\s*$", argument):
            problems.append(f"{name}() does not use [$__rate_interval]: {argument}")
    for match in TOKEN.finditer(bare):
        token = match.group(0)
        if "mlmon_" not in token:
            continue
        if token not in EXPOSED and token not in RECORDING_RULES:
            problems.append(f"{token} is neither in exporter/catalogue.py nor a recording rule")
        if token in COUNTER_SERIES:
            inner = [c for c in calls if c[1] < match.start() < c[1] + len(c[2]) + 1]
            innermost = max(inner, key=lambda c: c[1], default=("", 0, ""))
            if innermost[0] not in RANGE_FUNCTIONS:
                problems.append(f"counter series {token} is used outside rate/irate/increase")
    return problems


def all_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in panels(board) if panel["type"] != "row"]


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("mlmon_grafana_generate", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module body runs
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------ the checker


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ('sum by (model) (rate(mlmon_predictions_total{model=~"$model"}[$__rate_interval]))', None),
        ("histogram_quantile(0.99, sum by (le) (rate(mlmon_scoring_duration_seconds_bucket[$__rate_interval])))", None),
        ('mlmon_threshold{metric="mlmon_made_up"}', None),
        ("model:mlmon_accuracy_ratio:avg1h", None),
        ("rate(mlmon_predictions_total[5m])", "does not use [$__rate_interval]"),
        ("increase(mlmon_batch_failures_total[$__range])", "does not use [$__rate_interval]"),
        ("mlmon_predictions_total", "outside rate/irate/increase"),
        ("sum(mlmon_scoring_duration_seconds_count)", "outside rate/irate/increase"),
        ("delta(mlmon_invalid_rows_total[$__rate_interval])", "outside rate/irate/increase"),
        ("mlmon_predictions", "neither in exporter/catalogue.py"),
        ("model:mlmon_accuracy_ratio:avg5m", "neither in exporter/catalogue.py"),
        ("sum(rate(mlmon_predictions_total[$__rate_interval])", "do not balance"),
        ('mlmon_model_up{model="a}', "do not balance"),
        ('mlmon_model_up{model=~"$model"]', "do not balance"),
    ],
)
def test_lint_expr_flags_what_the_rules_forbid(expr: str, problem: str | None) -> None:
    problems = lint_expr(expr)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    ("expr", "values", "expected"),
    [
        ('up{model=~"$model"}', {"model": "a|b"}, 'up{model=~"a|b"}'),
        (
            'up{model=~"${model}", version="${version:regex}"}',
            {"model": "m", "version": "1"},
            'up{model=~"m", version="1"}',
        ),
        ("rate(x[$__rate_interval]) + rate(x[${__rate_interval}])", {}, "rate(x[2m]) + rate(x[2m])"),
        ("increase(x[$__range])", {"__range": "1h"}, "increase(x[1h])"),
        ('up{a="[[model]]"}', {"model": "m"}, 'up{a="m"}'),
    ],
)
def test_substitute_replaces_grafana_variables(expr: str, values: dict[str, str], expected: str) -> None:
    assert substitute(expr, values, rate_interval="2m") == expected


def test_substitute_names_an_unknown_variable() -> None:
    with pytest.raises(KeyError, match=r"\$team"):
        substitute('up{team="$team"}', {})


# ------------------------------------------------------------------------------------------ the boards


def test_committed_json_is_what_the_generator_produces() -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr


def test_check_fails_on_a_hand_edited_dashboard(tmp_path: Path) -> None:
    generator = load_generator()
    shutil.copytree(DASHBOARD_DIR, tmp_path, dirs_exist_ok=True)
    assert generator.main(["--check", "--out", str(tmp_path)]) == 0
    edited = tmp_path / "mlmon-fleet.json"
    edited.write_text(edited.read_text().replace('"editable": false', '"editable": true'))
    assert generator.main(["--check", "--out", str(tmp_path)]) == 1


def test_generator_is_deterministic() -> None:
    generator = load_generator()
    first = {name: generator.render(board) for name, board in generator.dashboards().items()}
    second = {name: generator.render(board) for name, board in generator.dashboards().items()}
    assert first == second


def test_uids_are_the_stable_ones_and_match_file_names() -> None:
    assert sorted(BOARD_IDS) == sorted(EXPECTED_UIDS)
    assert sorted(p.stem for p in DASHBOARD_DIR.glob("*.json")) == sorted(EXPECTED_UIDS)


@pytest.mark.parametrize("board", BOARDS, ids=BOARD_IDS)
def test_dashboard_settings(board: dict[str, Any]) -> None:
    assert board["editable"] is False
    assert board["schemaVersion"] == 39
    assert board["title"] and board["description"]
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids repeat"


@pytest.mark.parametrize("board", BOARDS, ids=BOARD_IDS)
def test_datasource_variable_and_template_variables(board: dict[str, Any]) -> None:
    variables = {var["name"]: var for var in board["templating"]["list"]}
    datasources = [var for var in variables.values() if var["type"] == "datasource"]
    assert [(v["name"], v["label"], v["query"]) for v in datasources] == [("datasource", "Data source", "prometheus")]
    assert {"model", "version"} <= set(variables)
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"]["uid"] in ("$datasource", "${datasource}"), var["name"]
            assert var["refresh"] == 2, f"{var['name']} must reload on time range change"


@pytest.mark.parametrize("board", BOARDS, ids=BOARD_IDS)
def test_variable_queries_read_catalogue_metrics(board: dict[str, Any]) -> None:
    queries = variable_queries(board)
    assert queries["model"] == "label_values(mlmon_model_up, model)"
    assert queries["version"] == 'label_values(mlmon_model_up{model=~"$model"}, version)'
    for name, query in queries.items():
        match = re.fullmatch(r"label_values\((?P<metric>[\w:]+)(?:\{.*\})?,\s*(?P<label>\w+)\)", query)
        assert match, f"{name}: {query}"
        assert match["metric"] in EXPOSED, f"{name}: {match['metric']} is not in the catalogue"


@pytest.mark.parametrize("board", BOARDS, ids=BOARD_IDS)
def test_every_panel_and_target_uses_the_datasource_variable(board: dict[str, Any]) -> None:
    for panel in all_panels(board):
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    for annotation in board["annotations"]["list"]:
        assert annotation["datasource"]["uid"] == "${datasource}", annotation["name"]


@pytest.mark.parametrize("board", BOARDS, ids=BOARD_IDS)
def test_every_panel_has_a_description_and_a_unit(board: dict[str, Any]) -> None:
    for panel in all_panels(board):
        assert panel.get("description", "").strip(), f"{panel['title']} has no description"
        units = [panel["fieldConfig"]["defaults"].get("unit")]
        units += [
            prop["value"]
            for override in panel["fieldConfig"]["overrides"]
            for prop in override["properties"]
            if prop["id"] == "unit"
        ]
        assert all(unit in VALID_UNITS for unit in units), f"{panel['title']}: {units}"


@pytest.mark.parametrize("board", BOARDS, ids=BOARD_IDS)
def test_every_query_follows_the_rules(board: dict[str, Any]) -> None:
    problems = [f"{title}: {problem}" for title, expr in panel_queries(board) for problem in lint_expr(expr)]
    assert problems == []


@pytest.mark.parametrize("board", BOARDS, ids=BOARD_IDS)
def test_thresholds_named_in_queries_are_configurable(board: dict[str, Any]) -> None:
    named = {m for _, expr in panel_queries(board) for m in re.findall(r'metric="([^"]+)"', expr)}
    # the multivariate band is fitted on the reference, not configured, but published under this name all the same
    assert named <= {*KNOWN_THRESHOLDS, "multivariate_drift"}


@pytest.mark.parametrize("board", BOARDS, ids=BOARD_IDS)
def test_panels_tile_without_overlap(board: dict[str, Any]) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in panels(board):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_overview_shows_the_seed_trends_with_thresholds_and_alerts() -> None:
    board = next(b for b in BOARDS if b["uid"] == "mlmon-overview")
    queries = panel_queries(board)
    by_title: dict[str, list[str]] = {}
    for title, expr in queries:
        by_title.setdefault(title, []).append(expr)
    for title, metric, threshold in [
        ("Accuracy", "mlmon_accuracy_ratio", "accuracy"),
        ("Mean confidence", "mlmon_mean_confidence_ratio", "mean_confidence"),
        ("Precision", "mlmon_precision_ratio", "precision"),
        ("Recall", "mlmon_recall_ratio", "recall"),
        ("F1 score", "mlmon_f1_ratio", "f1"),
    ]:
        assert any(metric in e for e in by_title[title]), title
        assert any(f'metric="{threshold}"' in e and "mlmon_threshold" in e for e in by_title[title]), title
    assert any("mlmon_predictions_total" in e for e in by_title["Prediction volume"])
    assert ("Firing alerts", 'ALERTS{alertstate="firing", model=~"$model"}') in queries
