"""`mlmon report`: the charts' numbers, the PNG files, and the HTML page in headless Chromium."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import norm
from test_history import SEED_ACCURACY, SEED_CONFIDENCE, SEED_VOLUME, seed_runs

from exporter.cli import main
from exporter.config import load_config
from exporter.history.samples import series_key
from exporter.report.charts import build_charts
from exporter.state import StateStore, StoredRun

from helpers import write_project
from support.chromium import open_page

TITLES = {
    "accuracy": "Model Accuracy Trend",
    "prediction_volume": "Prediction Volume Trend",
    "avg_confidence": "Average Prediction Confidence",
    "estimated_accuracy": "Estimated Accuracy (without labels) and its 95 % band",
    "drift_severity": "Drift Severity (at least 1 = drifted)",
    "data_quality": "Data Quality (worst feature)",
}
KS = {"feature": "mean radius", "method": "ks"}
WD = {"feature": "mean texture", "method": "wasserstein"}


def report_runs() -> list[StoredRun]:
    """The seed's ten days, with estimates, drift of two features and data quality added."""
    runs = []
    for day, run in enumerate(seed_runs()):
        samples = dict(run.samples)
        samples.update(
            {
                "mlmon_estimated_accuracy_ratio": SEED_ACCURACY[day] - 0.004,
                series_key("mlmon_feature_drift_statistic", KS): 0.05 * day,
                series_key("mlmon_feature_drift_pvalue", KS): 0.5 / 4**day,
                series_key("mlmon_feature_drift_significance_level", KS): 0.05,
                series_key("mlmon_feature_drift_distance", WD): 0.02 * day,
                series_key("mlmon_feature_drift_distance_threshold", WD): 0.1,
                series_key("mlmon_feature_missing_ratio", {"feature": "mean radius"}): 0.01 * day,
                series_key("mlmon_feature_missing_ratio", {"feature": "mean texture"}): 0.02,
                series_key("mlmon_threshold", {"metric": "missing_ratio"}): 0.05,
                series_key("mlmon_threshold", {"metric": "estimated_accuracy"}): 0.9,
                series_key("mlmon_threshold", {"metric": "volume_change_ratio"}): 0.1,
            }
        )
        runs.append(StoredRun(**{**run.__dict__, "samples": samples}))
    # a sudden surge on the last day, for the volume chart's breach
    last = runs[-1]
    runs[-1] = StoredRun(**{**last.__dict__, "scored_rows": 900})
    return runs


@pytest.fixture
def reported(tmp_path: Path) -> tuple[Path, pd.DataFrame, dict]:  # type: ignore[type-arg]
    config = write_project(tmp_path / "project", model_overrides={"name": "seed"})
    state = StateStore(load_config(config).state_path)
    for run in report_runs():
        state.record_run(run)
    state.close()
    out = tmp_path / "report"
    assert main(["report", "--config", str(config), "--out", str(out)]) == 0
    csv = tmp_path / "history.csv"
    assert main(["history", "export", "--config", str(config), "--csv", str(csv)]) == 0
    return out, pd.read_csv(csv), json.loads((out / "report.json").read_text())


def test_every_chart_is_a_png_that_shows_what_its_title_says(reported: tuple[Path, pd.DataFrame, dict]) -> None:  # type: ignore[type-arg]
    out, _, summary = reported
    (model,) = summary["models"]
    assert (model["model"], model["version"]) == ("seed", "1")
    assert {slug: chart["title"] for slug, chart in model["charts"].items()} == TITLES
    for slug, chart in model["charts"].items():
        path = out / chart["image"]
        assert path.name == f"seed-1-{slug}.png"
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (800, 400)
            assert image.info.get("Title") == TITLES[slug]
            pixels = np.asarray(image.convert("L"), dtype=float)
        assert pixels.std() > 10  # drawn on, not blank
        # breaches are drawn in pure red; a chart with none has no red crosses
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=int)
        red = ((rgb[..., 0] > 200) & (rgb[..., 1] < 40) & (rgb[..., 2] < 40)).sum()
        assert (red > 0) == bool(chart["breaches"]), slug


def test_the_seed_charts_carry_the_csvs_numbers_and_breaches(reported: tuple[Path, pd.DataFrame, dict]) -> None:  # type: ignore[type-arg]
    _, csv, summary = reported
    charts = summary["models"][0]["charts"]
    dates = [d.isoformat() for d in pd.to_datetime(csv["date"], utc=True)]

    accuracy = charts["accuracy"]
    assert accuracy["dates"] == dates
    assert accuracy["lines"]["accuracy"] == csv["accuracy"].tolist() == SEED_ACCURACY
    assert accuracy["thresholds"]["accuracy threshold"] == [0.9] * 10
    below = csv["accuracy"] < csv['mlmon_threshold{metric="accuracy"}']
    assert [b["date"] for b in accuracy["breaches"]] == [d for d, hit in zip(dates, below) if hit]
    assert [b["value"] for b in accuracy["breaches"]] == [0.89]

    confidence = charts["avg_confidence"]
    assert confidence["lines"]["average confidence"] == SEED_CONFIDENCE
    assert [b["value"] for b in confidence["breaches"]] == [0.87]

    volume = charts["prediction_volume"]
    assert volume["lines"]["volume"] == [*SEED_VOLUME[:-1], 900]
    # baseline: median of the previous (up to) seven runs, computed here independently
    volumes = [*SEED_VOLUME[:-1], 900]
    baseline = [np.median(volumes[max(0, i - 7) : i]) if i else math.nan for i in range(10)]
    upper = volume["thresholds"]["baseline + change limit"]
    assert upper[1:] == pytest.approx([b * 1.1 for b in baseline[1:]])
    outside = [i for i in range(1, 10) if abs(volumes[i] - baseline[i]) > 0.1 * baseline[i]]
    assert [b["date"] for b in volume["breaches"]] == [dates[i] for i in outside]
    assert outside[-1] == 9


def test_estimated_accuracy_band_and_drift_severity_are_computed_as_documented(
    reported: tuple[Path, pd.DataFrame, dict],  # type: ignore[type-arg]
) -> None:
    _, csv, summary = reported
    charts = summary["models"][0]["charts"]
    estimated = charts["estimated_accuracy"]
    p = csv["mlmon_estimated_accuracy_ratio"].to_numpy()
    n = csv["window_rows"].to_numpy()
    half = norm.ppf(0.975) * np.sqrt(p * (1 - p) / n)
    assert estimated["band"]["lower"] == pytest.approx(list(p - half), abs=1e-12)
    assert estimated["band"]["upper"] == pytest.approx(list(p + half), abs=1e-12)
    assert estimated["lines"]["realized accuracy"] == SEED_ACCURACY

    severity = charts["drift_severity"]
    ks = [math.log(0.5 / 4**day) / math.log(0.05) for day in range(10)]
    wd = [0.02 * day / 0.1 for day in range(10)]
    assert severity["lines"]["mean radius"] == pytest.approx(ks, abs=1e-12)
    assert severity["lines"]["mean texture"] == pytest.approx(wd, abs=1e-12)
    flagged = [i for i in range(10) if max(ks[i], wd[i]) >= 1]
    assert [b["date"] for b in severity["breaches"]] == [severity["dates"][i] for i in flagged]
    # the ks p-value falls below 0.05 exactly when its severity reaches 1
    assert [i for i in range(10) if 0.5 / 4**i < 0.05] == [i for i in range(10) if ks[i] >= 1]

    quality = charts["data_quality"]
    assert quality["lines"]["worst feature missing"] == pytest.approx([max(0.01 * d, 0.02) for d in range(10)])
    assert [b["value"] for b in quality["breaches"]] == pytest.approx([0.06, 0.07, 0.08, 0.09])


def test_the_page_opens_in_headless_chromium_without_console_errors(
    reported: tuple[Path, pd.DataFrame, dict],  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    out, _, _ = reported
    opened = open_page(out / "index.html", tmp_path)
    assert opened.console == []
    sources = re.findall(r'<img src="([^"]+)"', opened.dom)
    assert sorted(sources) == sorted(f"seed-1-{slug}.png" for slug in TITLES)
    assert all((out / src).is_file() for src in sources)
    text = re.sub(r"<[^>]+>", " ", opened.dom)
    assert "Latest values" in text and "0.8900" in text  # the latest accuracy
    assert re.search(r"accuracy\s+1\s+yes", text)  # breached once, in the latest run
    drifted = text[text.index("Most drifted features") :]
    assert drifted.index("mean radius") < drifted.index("mean texture")  # ranked by severity


def test_the_console_check_sees_errors(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>console.error('boom'); undefinedCall();</script></body></html>")
    console = open_page(page, tmp_path).console
    assert any("boom" in line for line in console) and any("undefinedCall" in line for line in console)


def test_published_severity_is_drawn_as_it_is() -> None:
    from exporter.history.frame import to_frame

    runs = [
        StoredRun(
            "m", "1", 1e9 + i, None, None, 0, 10, None, None,
            {
                series_key("mlmon_feature_drift_severity", KS): 0.7 * i,
                series_key("mlmon_feature_drift_pvalue", KS): 0.01,
                series_key("mlmon_feature_drift_significance_level", KS): 0.05,
            },
        )
        for i in range(3)
    ]  # fmt: skip
    charts = {chart.slug: chart for chart in build_charts(to_frame(runs))}
    assert charts["drift_severity"].line("mean radius") == [0.0, 0.7, 1.4]
    assert charts["drift_severity"].breaches == [2]


def test_build_charts_without_optional_families_still_draws_the_seeds_three() -> None:
    from exporter.history.frame import to_frame

    frame = to_frame([StoredRun("m", "1", 1e9 + i, None, None, 0, 10, None, None, {}) for i in range(3)])
    charts = {chart.slug: chart for chart in build_charts(frame)}
    assert set(charts) == set(TITLES)
    assert charts["prediction_volume"].line("volume") == [10.0, 10.0, 10.0]
    assert charts["drift_severity"].lines == [] and charts["drift_severity"].breaches == []


def test_report_without_history_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_project(tmp_path)
    assert main(["report", "--config", str(config), "--out", str(tmp_path / "r")]) == 2
    assert "no state store at" in capsys.readouterr().err
