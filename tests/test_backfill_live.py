"""Days of run history backfilled with the real promtool and read back from a real Prometheus.

Ten days are enough for everything checked, the week-ago offset included (it has three days to compare
with the week before), in a fraction of the time a month takes.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from exporter.cli import main
from exporter.config import load_config
from exporter.history.samples import series_key
from exporter.state import StateStore, StoredRun

from helpers import write_project
from support.binaries import require_binary
from support.processes import REPO, PrometheusServer

pytestmark = pytest.mark.live

DAY = 86400
RUN_EVERY = 1800
DAYS = 10
RULES = REPO / "prometheus" / "rules" / "mlmon-recording.yml"
BUCKETS = (0.5, 0.9, math.inf)


def volume(day: int) -> int:
    """Rows per run: the same every run of a day, a weekly pattern across days."""
    return 100 + 10 * (day % 7)


def days_of_runs(start: int) -> list[StoredRun]:
    runs, total = [], 0.0
    for k in range(DAYS * DAY // RUN_EVERY):
        day = k * RUN_EVERY // DAY
        total += volume(day)
        counts = (0.1 * total, 0.6 * total, total)
        samples = {
            "mlmon_accuracy_ratio": round(0.97 - 0.002 * day - 0.0001 * (k % 7), 6),
            "mlmon_mean_confidence_ratio": 0.95 - 0.001 * day,
            "mlmon_predictions_total": total,
            series_key("mlmon_feature_drift_score", {"feature": "f0", "method": "ks"}): 0.01 * day,
            series_key("mlmon_threshold", {"metric": "accuracy"}): 0.9,
            "mlmon_prediction_confidence_sum": 0.8 * total,
            "mlmon_prediction_confidence_count": total,
        }
        for bound, count in zip(BUCKETS, counts):
            le = "+Inf" if math.isinf(bound) else repr(bound)
            samples[series_key("mlmon_prediction_confidence_bucket", {"le": le})] = count
        runs.append(StoredRun("m", "1", float(start + k * RUN_EVERY), None, None, 0, volume(day), None, None, samples))
    return runs


class BackfilledPrometheus(PrometheusServer):
    """Prometheus on a data folder blocks are copied into, keeping a year of data."""

    def command(self) -> list[str]:
        return [*super().command(), "--storage.tsdb.retention.time=3650d"]

    def load(self, blocks: Path) -> None:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        for block in blocks.iterdir():
            if block.is_dir():
                shutil.copytree(block, data / block.name)

    def range(self, expr: str, start: float, end: float, step: float) -> dict[float, float]:
        response = requests.get(
            f"{self.url}/api/v1/query_range",
            params={"query": expr, "start": start, "end": end, "step": step},
            timeout=60,
        )
        body = response.json()
        assert body["status"] == "success", body
        results = body["data"]["result"]
        assert len(results) <= 1, results
        return {float(t): float(v) for t, v in results[0]["values"]} if results else {}


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


def test_days_backfilled_read_back_and_feed_the_offset_recording_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_binary("promtool")
    end = int(time.time()) // DAY * DAY - DAY  # yesterday midnight: clear of Prometheus's own head block
    start = end - DAYS * DAY
    config = write_project(tmp_path / "project")
    state = StateStore(load_config(config).state_path)
    runs = days_of_runs(start)
    for stored in runs:
        state.record_run(stored)
    state.close()

    out = tmp_path / "backfill"
    assert main(["backfill", "--config", str(config), "--out", str(out), "--step", "5m"]) == 0
    said = capsys.readouterr().out
    assert "TSDB block(s) built in" in said and "copy the blocks into Prometheus's data folder" in said
    assert (out / "mlmon.om").read_text().endswith("# EOF\n")

    empty_rules = tmp_path / "no-rules"
    empty_rules.mkdir()
    prometheus = BackfilledPrometheus(tmp_path / "prom", ["127.0.0.1:9"], rules_dir=empty_rules)
    prometheus.load(out / "blocks")
    with prometheus:
        last = runs[-1].run_at
        accuracy = prometheus.range('mlmon_accuracy_ratio{model="m",version="1"}', start, last, RUN_EVERY)
        assert accuracy == {r.run_at: r.samples["mlmon_accuracy_ratio"] for r in runs}
        total = prometheus.range("mlmon_predictions_total", start, last, RUN_EVERY)
        assert total == {r.run_at: r.samples["mlmon_predictions_total"] for r in runs}
        count = prometheus.range('mlmon_prediction_confidence_bucket{le="0.9"}', start, last, RUN_EVERY)
        assert count == pytest.approx({r.run_at: 0.6 * r.samples["mlmon_predictions_total"] for r in runs})
        # held between runs as a scrape would have seen it
        between = prometheus.range("mlmon_accuracy_ratio", start + 600, start + 600, 60)
        assert between == {start + 600.0: runs[0].samples["mlmon_accuracy_ratio"]}
        # the same days as a report from Prometheus: one point per run
        report = tmp_path / "report"
        argv = ["report", "--config", str(config), "--prometheus-url", prometheus.url, "--out", str(report)]
        assert main([*argv, "--from", iso(start), "--to", iso(last), "--step", "30m"]) == 0
        charts = json.loads((report / "report.json").read_text())["models"][0]["charts"]
        assert charts["accuracy"]["lines"]["accuracy"] == [r.samples["mlmon_accuracy_ratio"] for r in runs]
        assert charts["prediction_volume"]["lines"]["volume"][1:] == [r.scored_rows for r in runs[1:]]
        assert (report / "m-1-accuracy.png").is_file()

    # the project's rules file, limited to the volume rate and its day and week offsets to keep it quick;
    # each level of rules reads the one before, so it takes three passes
    levels = [["rate1h"], ["rate1h_covered"], ["rate1h_change1d", "rate1h_change1w"]]
    rules_argv = ["backfill", "--rules", str(RULES), "--from", iso(start), "--to", iso(end), "--eval-interval", "4m"]
    for level in levels:
        rules_argv += [arg for name in level for arg in ("--rule", f"model:mlmon_predictions:{name}")]
    noon = [start + d * DAY + DAY // 2 for d in range(DAYS)]
    for attempt, level in enumerate(levels):
        with prometheus:
            if attempt:
                wait_for_points(prometheus, f"model:mlmon_predictions:{levels[attempt - 1][0]}", noon)
            rule_out = tmp_path / f"rules-{attempt}"
            assert main([*rules_argv, "--prometheus-url", prometheus.url, "--out", str(rule_out)]) == 0
        said = capsys.readouterr().out
        backfilled = said.split(" rule(s) backfilled into")[0].rsplit("\n", 1)[-1]
        assert backfilled == str(len(level)), said
        for name in level:
            assert f"model:mlmon_predictions:{name}" in said.split("backfilled into")[1].splitlines()[0]
        later = sum(len(rest) for rest in levels[attempt + 1 :])
        assert (f"{later} rule(s) read recorded series Prometheus does not hold yet" in said) == bool(later), said
        for done in levels[:attempt]:
            assert f"model:mlmon_predictions:{done[0]}: already in Prometheus, skipped" in said
        prometheus.load(rule_out / "rule-blocks")

    with prometheus:
        change1d = wait_for_points(prometheus, "model:mlmon_predictions:rate1h_change1d", noon[1:])
        for d, at in enumerate(noon[1:], start=1):
            assert change1d[at] == pytest.approx(volume(d) / volume(d - 1) - 1, abs=1e-9), d
        change1w = wait_for_points(prometheus, "model:mlmon_predictions:rate1h_change1w", noon[7:])
        assert all(abs(v) < 1e-9 for v in change1w.values())  # a weekly pattern repeats itself
        assert not prometheus.range("model:mlmon_predictions:rate1h_change1w", noon[0], noon[6], DAY)


def wait_for_points(prometheus: BackfilledPrometheus, expr: str, times: list[int]) -> dict[float, float]:
    """The values of ``expr`` at ``times``, once Prometheus has all of them.

    A restarted Prometheus merges the many new blocks that overlap its own in the background, and
    until it is done a query can miss some of them; the values are taken once every time is there.
    """

    def complete() -> dict[float, float] | None:
        found = prometheus.range(expr, times[0], times[-1], DAY)
        return found if sorted(found) == [float(t) for t in times] else None

    return prometheus.wait_for(complete, 180, f"{expr} at all {len(times)} times")
