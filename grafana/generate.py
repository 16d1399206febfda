"""Generate the mlmon Grafana dashboards as JSON.

The dashboards are code: edit this file, run ``python grafana/generate.py`` and commit both. ``--check`` exits 1
when the committed JSON is not what this file produces, so CI catches hand edits and forgotten regenerations.
Besides the standard library it reads only the thresholds table (exporter/thresholds.py, itself standard
library only), from which every threshold line and the gauge it is drawn against come.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from exporter.thresholds import PUBLISHED as THRESHOLDS  # noqa: E402

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'model=~"$model", version=~"$version"'
FIRING = 'ALERTS{alertstate="firing", model=~"$model"}'
WIDTH = 24
ROW_HEIGHT = 1
SERIES = "{{model}} {{version}}"
THRESHOLD_LEGEND = "threshold {{model}} {{version}}"


def sel(metric: str, extra: str = "") -> str:
    """A selector of ``metric`` limited to the chosen models and versions."""
    return f"{metric}{{{SEL}{', ' + extra if extra else ''}}}"


def per_second(counter: str, by: str = "model, version", extra: str = "") -> str:
    return f"sum by ({by}) (rate({sel(counter, extra)}[$__rate_interval]))"


def threshold(metric: str) -> str:
    return sel("mlmon_threshold", f'metric="{metric}"')


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = SERIES
    instant: bool = False
    table: bool = False


@dataclass
class Panel:
    kind: str
    title: str
    description: str
    unit: str
    queries: list[Query]
    width: int = 12
    height: int = 8
    ratio: bool = False
    axis_label: str = ""
    mappings: list[dict[str, Any]] = field(default_factory=list)
    transformations: list[dict[str, Any]] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    log_scale: bool = False


@dataclass
class Row:
    title: str
    panels: list[Panel]


def ratio_panel(title: str, description: str, queries: list[Query], width: int = 12) -> Panel:
    return Panel("timeseries", title, description, "percentunit", queries, width=width, ratio=True)


def with_threshold(metric: str, legend: str = SERIES) -> list[Query]:
    """The value a threshold bounds (from the thresholds table) and the threshold, drawn as a dashed red line."""
    return [Query(sel(THRESHOLDS[metric].value), legend), Query(threshold(metric), THRESHOLD_LEGEND)]


INTERVAL_LEGEND = "95 % interval {{model}} {{version}}"


def interval(metric: str) -> list[Query]:
    """The 95 % interval of a performance figure, drawn as two thin dotted lines around it."""
    return [
        Query(sel(f"mlmon_performance_interval_{bound}_ratio", f'metric="{metric}"'), INTERVAL_LEGEND)
        for bound in ("lower", "upper")
    ]


UP_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "DOWN", "color": "red", "index": 0},
            "1": {"text": "UP", "color": "green", "index": 1},
        },
    }
]
DRIFT_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "no drift", "color": "green", "index": 0},
            "1": {"text": "DRIFT", "color": "red", "index": 1},
        },
    }
]


STATUS_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "ok", "color": "green", "index": 0},
            "1": {"text": "watch", "color": "yellow", "index": 1},
            "2": {"text": "act", "color": "red", "index": 2},
        },
    }
]
# The seed tutorial's questions, each answered per model by a recording rule (0 ok, 1 watch, 2 act).
QUESTIONS = (
    (
        "Is accuracy changing?",
        "accuracy_changing",
        "A performance alert fires (act), or accuracy is below its "
        "threshold within its sampling error or falling against its daily average (watch).",
    ),
    (
        "Are prediction patterns shifting?",
        "prediction_patterns_shifting",
        "Prediction drift has lasted (act) or the latest run flagged it (watch).",
    ),
    (
        "Is confidence decreasing?",
        "confidence_decreasing",
        "The confidence alert fires (act), or mean confidence "
        "is below its threshold or falling against its daily average (watch).",
    ),
    (
        "Has user behaviour changed?",
        "user_behaviour_changed",
        "Input drift, new categories, out-of-range values or "
        "a volume change alert fires (act), or a feature is flagged as drifted (watch).",
    ),
    (
        "Is retraining required?",
        "retraining_required",
        "MlmonRetrainingRecommended fires: performance breached "
        "together with drift for an hour (act); any performance or drift alert fires (watch).",
    ),
)


def questions() -> Row:
    return Row(
        "The seed's questions",
        [
            Panel(
                "stat",
                title,
                description,
                "none",
                [Query(sel(f"model:mlmon_{record}:status"))],
                width=24 // len(QUESTIONS) if title != QUESTIONS[-1][0] else 24 - 4 * (24 // len(QUESTIONS)),
                height=4,
                mappings=STATUS_MAPPINGS,
            )
            for title, record, description in QUESTIONS
        ],
    )


def table_columns(names: dict[str, str], exclude: Iterable[str] = ("Time",)) -> list[dict[str, Any]]:
    """Merge the instant queries of a table into one row per series and give the value columns names."""
    return [
        {"id": "merge", "options": {}},
        {
            "id": "organize",
            "options": {"excludeByName": {name: True for name in exclude}, "renameByName": names},
        },
    ]


def column_unit(column: str, unit: str) -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": column}, "properties": [{"id": "unit", "value": unit}]}


# --------------------------------------------------------------------------------------------- dashboards


def overview() -> list[Row]:
    return [
        questions(),
        Row(
            "Trends",
            [
                ratio_panel(
                    "Accuracy",
                    "Accuracy over the evaluation window of each run, its 1-hour average, and the configured lower "
                    "threshold. A slow decline points at data or concept drift.",
                    [
                        *with_threshold("accuracy"),
                        *interval("accuracy"),
                        Query(sel("model:mlmon_accuracy_ratio:avg1h"), "1h average {{model}} {{version}}"),
                    ],
                    width=8,
                ),
                Panel(
                    "timeseries",
                    "Prediction volume",
                    "Rows scored per second, and its 1-hour average. Sudden spikes or drops signal upstream "
                    "pipeline failures or a change in traffic.",
                    "short",
                    [
                        Query(per_second("mlmon_predictions_total")),
                        Query(sel("model:mlmon_predictions:rate1h"), "1h average {{model}} {{version}}"),
                    ],
                    width=8,
                    axis_label="rows / s",
                ),
                ratio_panel(
                    "Mean confidence",
                    "Mean probability of the predicted class. Falling confidence often means the model meets "
                    "data unlike its training data.",
                    with_threshold("mean_confidence"),
                    width=8,
                ),
            ],
        ),
        Row(
            "Performance",
            [
                ratio_panel(
                    "Precision",
                    "Precision over the evaluation window (positive class, macro average for multiclass), with its "
                    "threshold.",
                    [*with_threshold("precision"), *interval("precision")],
                    width=8,
                ),
                ratio_panel(
                    "Recall",
                    "Recall over the evaluation window (positive class, macro average for multiclass), with its "
                    "threshold.",
                    [*with_threshold("recall"), *interval("recall")],
                    width=8,
                ),
                ratio_panel(
                    "F1 score",
                    "F1 score over the evaluation window (positive class, macro average for multiclass), with its "
                    "threshold.",
                    [*with_threshold("f1"), *interval("f1")],
                    width=8,
                ),
                ratio_panel(
                    "Estimated vs realized accuracy",
                    "Accuracy expected from calibrated confidence without labels (CBPE) against the accuracy "
                    "measured once labels arrive. The estimate leads when labels are late; a lasting gap means "
                    "the calibration no longer holds.",
                    [
                        Query(sel("mlmon_estimated_accuracy_ratio"), "estimated {{model}} {{version}}"),
                        *interval("estimated_accuracy"),
                        Query(sel("mlmon_accuracy_ratio"), "realized {{model}} {{version}}"),
                        Query(threshold("estimated_accuracy"), THRESHOLD_LEGEND),
                    ],
                ),
                ratio_panel(
                    "Label coverage",
                    "Share of the evaluation window whose ground-truth label has arrived. Performance figures rest "
                    "on this share only.",
                    with_threshold("labelled_rows_ratio"),
                ),
            ],
        ),
        Row(
            "Latency and errors",
            [
                Panel(
                    "timeseries",
                    "Scoring latency p99",
                    "99th percentile of the time to score one batch (predict and predict_proba), with the "
                    "configured latency threshold.",
                    "s",
                    [
                        Query(
                            "histogram_quantile(0.99, sum by (model, version, le) "
                            f"(rate({sel('mlmon_scoring_duration_seconds_bucket')}[$__rate_interval])))"
                        ),
                        Query(threshold("scoring_latency_p99_seconds"), THRESHOLD_LEGEND),
                    ],
                    width=8,
                ),
                Panel(
                    "timeseries",
                    "Failed batches",
                    "Batches that could not be scored, per second, by reason. Failed batches are kept in "
                    "quarantine for inspection.",
                    "short",
                    [
                        Query(
                            per_second("mlmon_batch_failures_total", "model, version, reason"),
                            "{{reason}} {{model}} {{version}}",
                        )
                    ],
                    width=8,
                    axis_label="batches / s",
                ),
                Panel(
                    "timeseries",
                    "Invalid rows by reason",
                    "Rows with a problem, per second, by reason: dropped before scoring, or scored without their label "
                    "(unknown_label).",
                    "short",
                    [
                        Query(
                            per_second("mlmon_invalid_rows_total", "model, version, reason"),
                            "{{reason}} {{model}} {{version}}",
                        )
                    ],
                    width=8,
                    axis_label="rows / s",
                ),
            ],
        ),
    ]


def data_drift() -> list[Row]:
    per_feature = "{{feature}} {{model}} {{version}}"
    return [
        Row(
            "Feature drift",
            [
                Panel(
                    "timeseries",
                    "Feature drift severity",
                    "Drift severity of each feature on one scale for every method: at least 1 exactly when the "
                    "feature drifted, larger when it drifted more (distance / cut-off for Wasserstein, "
                    "Jensen-Shannon and PSI; log p-value / log significance level for Kolmogorov-Smirnov and "
                    "chi-squared).",
                    "short",
                    [
                        Query(sel("mlmon_feature_drift_severity"), "{{feature}} ({{method}}) {{model}} {{version}}"),
                        Query("vector(1)", "threshold (severity 1)"),
                    ],
                    width=7,
                    height=10,
                    overrides=[threshold_override()],
                ),
                Panel(
                    "timeseries",
                    "Feature drift p-values",
                    "P-value of each feature's drift test (Kolmogorov-Smirnov, chi-squared), on a log scale; "
                    "a feature drifts when its p-value falls below its significance level (see the table).",
                    "short",
                    [Query(sel("mlmon_feature_drift_pvalue"), "{{feature}} ({{method}}) {{model}} {{version}}")],
                    width=7,
                    height=10,
                    log_scale=True,
                ),
                Panel(
                    "table",
                    "Features by drift severity",
                    "Latest drift severity of each feature, most drifted first, with the method's own statistic or "
                    "distance, the significance level or cut-off it is compared with, and the p-value of a test.",
                    "short",
                    [
                        Query(
                            "sort_desc(max by (model, version, feature, method) "
                            f"({sel('mlmon_feature_drift_severity')}))",
                            instant=True,
                            table=True,
                        ),
                        Query(
                            f"max by (model, version, feature, method) ({sel('mlmon_feature_drift_statistic')} "
                            f"or {sel('mlmon_feature_drift_distance')})",
                            instant=True,
                            table=True,
                        ),
                        Query(
                            "max by (model, version, feature, method) "
                            f"({sel('mlmon_feature_drift_significance_level')} "
                            f"or {sel('mlmon_feature_drift_distance_threshold')})",
                            instant=True,
                            table=True,
                        ),
                        Query(
                            f"max by (model, version, feature, method) ({sel('mlmon_feature_drift_pvalue')})",
                            instant=True,
                            table=True,
                        ),
                    ],
                    width=10,
                    height=10,
                    transformations=table_columns(
                        {
                            "Value #A": "Severity",
                            "Value #B": "Statistic or distance",
                            "Value #C": "Significance level or cut-off",
                            "Value #D": "p-value",
                        }
                    ),
                    options={"sortBy": [{"displayName": "Severity", "desc": True}]},
                ),
                ratio_panel(
                    "Drifted features",
                    "Share of monitored features that drifted, against the dataset-drift share.",
                    with_threshold("drifted_features_ratio"),
                    width=8,
                ),
                Panel(
                    "stat",
                    "Dataset drift",
                    "Whether the drifted share reached the dataset-drift share in the latest run.",
                    "none",
                    [Query(sel("mlmon_dataset_drift_detected"))],
                    width=4,
                    mappings=DRIFT_MAPPINGS,
                ),
                Panel(
                    "timeseries",
                    "Prediction drift",
                    "Drift severity of the model output (probability or predicted value) against the reference: "
                    "at least 1 is drift, whatever the method.",
                    "short",
                    [Query(sel("mlmon_prediction_drift_severity"), "{{method}} {{model}} {{version}}")],
                    width=6,
                ),
                Panel(
                    "stat",
                    "Prediction drift detected",
                    "Whether the model output drifted against the reference in the latest run.",
                    "none",
                    [Query(sel("mlmon_prediction_drift_detected"))],
                    width=6,
                    mappings=DRIFT_MAPPINGS,
                ),
                Panel(
                    "timeseries",
                    "Multivariate drift",
                    "PCA reconstruction error of the window in reference standard units, with the upper bound "
                    "of the band fitted on reference chunks.",
                    "short",
                    with_threshold(
                        "multivariate_drift",
                        "reconstruction error {{model}} {{version}}",
                    ),
                    width=18,
                ),
                Panel(
                    "stat",
                    "Multivariate drift detected",
                    "Whether the reconstruction error of the latest run was above the band fitted on reference chunks.",
                    "none",
                    [Query(sel("mlmon_multivariate_drift_detected"))],
                    width=6,
                    mappings=DRIFT_MAPPINGS,
                ),
            ],
        ),
        Row(
            "Data quality",
            [
                ratio_panel(
                    "Missing values",
                    "Share of arrived rows with each feature missing, with the threshold.",
                    with_threshold("missing_ratio", per_feature),
                    width=8,
                ),
                ratio_panel(
                    "Out-of-range values",
                    "Share of arrived rows with a numeric feature outside the reference range, with the threshold.",
                    with_threshold("out_of_range_ratio", per_feature),
                    width=8,
                ),
                ratio_panel(
                    "Unseen categories",
                    "Share of arrived rows with a category absent from the reference, with the threshold.",
                    with_threshold("unseen_category_ratio", per_feature),
                    width=8,
                ),
                Panel(
                    "timeseries",
                    "Schema violations",
                    "Schema violations found in arrived batches, per second, by kind.",
                    "short",
                    [
                        Query(
                            per_second("mlmon_schema_violations_total", "model, version, kind"),
                            "{{kind}} {{model}} {{version}}",
                        )
                    ],
                    width=24,
                    axis_label="violations / s",
                ),
            ],
        ),
    ]


def fleet() -> list[Row]:
    by_model = "max by (model, version)"
    return [
        Row(
            "Fleet",
            [
                Panel(
                    "stat",
                    "Models up",
                    "Whether each model loaded and its latest run did not fail as a whole.",
                    "none",
                    [Query(sel("mlmon_model_up"))],
                    width=18,
                    height=5,
                    mappings=UP_MAPPINGS,
                    options={"colorMode": "background"},
                ),
                Panel(
                    "stat",
                    "Firing alerts",
                    "Number of mlmon alerts firing now for the chosen models.",
                    "none",
                    [Query(f"count({FIRING}) or vector(0)", "firing")],
                    width=6,
                    height=5,
                ),
                Panel(
                    "table",
                    "Models at a glance",
                    "One row per model version: up, seconds since the last successful run, accuracy, rows scored "
                    "per second and firing alerts.",
                    "short",
                    [
                        Query(f"{by_model} ({sel('mlmon_model_up')})", instant=True, table=True),
                        Query(
                            f"{by_model} (time() - {sel('mlmon_last_run_success_timestamp_seconds')})",
                            instant=True,
                            table=True,
                        ),
                        Query(f"{by_model} ({sel('mlmon_accuracy_ratio')})", instant=True, table=True),
                        Query(per_second("mlmon_predictions_total"), instant=True, table=True),
                        Query(
                            'count by (model, version) (ALERTS{alertstate="firing", model=~"$model", '
                            'version=~"$version"})',
                            instant=True,
                            table=True,
                        ),
                    ],
                    width=24,
                    height=8,
                    transformations=table_columns(
                        {
                            "Value #A": "Up",
                            "Value #B": "Last successful run",
                            "Value #C": "Accuracy",
                            "Value #D": "Rows / s",
                            "Value #E": "Firing alerts",
                        }
                    ),
                    overrides=[
                        {
                            "matcher": {"id": "byName", "options": "Up"},
                            "properties": [{"id": "mappings", "value": UP_MAPPINGS}],
                        },
                        column_unit("Last successful run", "s"),
                        column_unit("Accuracy", "percentunit"),
                    ],
                ),
                Panel(
                    "timeseries",
                    "Last successful run age",
                    "Seconds since each model's latest successful run. It should stay below the schedule "
                    "interval; a rising line means runs are failing or not scheduled.",
                    "s",
                    [
                        Query(f"time() - {sel('mlmon_last_run_success_timestamp_seconds')}"),
                        Query(sel("mlmon_schedule_interval_seconds"), "schedule interval {{model}} {{version}}"),
                    ],
                    width=8,
                ),
                ratio_panel(
                    "Accuracy",
                    "Accuracy of every model over its evaluation window.",
                    [Query(sel("mlmon_accuracy_ratio"))],
                    width=8,
                ),
                Panel(
                    "timeseries",
                    "Prediction volume",
                    "Rows scored per second by every model.",
                    "short",
                    [Query(per_second("mlmon_predictions_total"))],
                    width=8,
                    axis_label="rows / s",
                ),
                Panel(
                    "table",
                    "Firing alerts",
                    "Every mlmon alert firing now, with its model, version, severity and signal.",
                    "none",
                    [Query(FIRING, instant=True, table=True)],
                    width=24,
                    height=8,
                    transformations=table_columns(
                        {}, exclude=("Time", "Value", "__name__", "alertstate", "instance", "job")
                    ),
                ),
            ],
        ),
    ]


# ------------------------------------------------------------------------------------------------ JSON


def target(query: Query, ref_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": query.expr,
        "instant": query.instant,
        "legendFormat": query.legend,
        "range": not query.instant,
        "refId": ref_id,
    }
    if query.table:
        out["format"] = "table"
    return out


def interval_override() -> dict[str, Any]:
    return {
        "matcher": {"id": "byRegexp", "options": "/^95 % interval/"},
        "properties": [
            {"id": "color", "value": {"fixedColor": "gray", "mode": "fixed"}},
            {"id": "custom.lineStyle", "value": {"dash": [2, 4], "fill": "dot"}},
            {"id": "custom.lineWidth", "value": 1},
            {"id": "custom.fillOpacity", "value": 0},
        ],
    }


def threshold_override() -> dict[str, Any]:
    return {
        "matcher": {"id": "byRegexp", "options": "/^threshold/"},
        "properties": [
            {"id": "color", "value": {"fixedColor": "red", "mode": "fixed"}},
            {"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}},
            {"id": "custom.fillOpacity", "value": 0},
        ],
    }


def field_config(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit, "mappings": panel.mappings}
    overrides = list(panel.overrides)
    if panel.ratio:
        defaults.update(min=0, max=1)
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "axisLabel": panel.axis_label,
            "drawStyle": "line",
            "fillOpacity": 10,
            "lineWidth": 2,
            "showPoints": "never",
            "spanNulls": True,
        }
        if panel.log_scale:
            defaults["custom"]["scaleDistribution"] = {"type": "log", "log": 10}
        if any(q.legend == THRESHOLD_LEGEND for q in panel.queries):
            overrides.append(threshold_override())
        if any(q.legend == INTERVAL_LEGEND for q in panel.queries):
            overrides.append(interval_override())
    return {"defaults": defaults, "overrides": overrides}


def panel_options(panel: Panel) -> dict[str, Any]:
    if panel.kind == "timeseries":
        base: dict[str, Any] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    elif panel.kind == "stat":
        base = {
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": "auto",
        }
    else:
        base = {"cellHeight": "sm", "showHeader": True}
    return {**base, **panel.options}


def panel_json(panel: Panel, panel_id: int, grid: dict[str, int]) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "description": panel.description,
        "fieldConfig": field_config(panel),
        "gridPos": grid,
        "id": panel_id,
        "options": panel_options(panel),
        "targets": [target(q, chr(ord("A") + i)) for i, q in enumerate(panel.queries)],
        "title": panel.title,
        "transformations": panel.transformations,
        "type": panel.kind,
    }


def layout(rows: list[Row]) -> list[dict[str, Any]]:
    """Place rows and their panels left to right, wrapping at the dashboard width."""
    out: list[dict[str, Any]] = []
    y = 0
    panel_id = 1
    for row in rows:
        out.append(
            {
                "collapsed": False,
                "gridPos": {"h": ROW_HEIGHT, "w": WIDTH, "x": 0, "y": y},
                "id": panel_id,
                "panels": [],
                "title": row.title,
                "type": "row",
            }
        )
        panel_id += 1
        y += ROW_HEIGHT
        x = 0
        line_height = 0
        for panel in row.panels:
            if x + panel.width > WIDTH:
                y += line_height
                x, line_height = 0, 0
            out.append(panel_json(panel, panel_id, {"h": panel.height, "w": panel.width, "x": x, "y": y}))
            panel_id += 1
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return out


def variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": DATASOURCE,
        "definition": query,
        "hide": 0,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "options": [],
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }


def templating() -> dict[str, Any]:
    return {
        "list": [
            {
                "current": {},
                "hide": 0,
                "includeAll": False,
                "label": "Data source",
                "multi": False,
                "name": "datasource",
                "options": [],
                "query": "prometheus",
                "refresh": 1,
                "regex": "",
                "skipUrlSync": False,
                "type": "datasource",
            },
            variable("model", "Model", "label_values(mlmon_model_up, model)"),
            variable("version", "Version", 'label_values(mlmon_model_up{model=~"$model"}, version)'),
        ]
    }


def alert_annotation() -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "enable": True,
        "expr": FIRING,
        "iconColor": "red",
        "name": "Firing alerts",
        "step": "1m",
        "tagKeys": "severity,signal",
        "textFormat": "{{model}} {{version}}",
        "titleFormat": "{{alertname}}",
        "useValueForTime": False,
    }


def dashboard(uid: str, title: str, description: str, rows: list[Row], annotations: bool = False) -> dict[str, Any]:
    return {
        "annotations": {"list": [alert_annotation()] if annotations else []},
        "description": description,
        "editable": False,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "links": [
            {
                "asDropdown": False,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": ["mlmon"],
                "title": "mlmon",
                "type": "dashboards",
            }
        ],
        "panels": layout(rows),
        "refresh": "1m",
        "schemaVersion": 39,
        "tags": ["mlmon"],
        "templating": templating(),
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
    }


def dashboards() -> dict[str, dict[str, Any]]:
    """File name to dashboard JSON, for every mlmon dashboard."""
    boards = [
        dashboard(
            "mlmon-overview",
            "mlmon / Model overview",
            "Performance, output, latency and errors of the chosen models, with their thresholds and firing alerts.",
            overview(),
            annotations=True,
        ),
        dashboard(
            "mlmon-data-drift",
            "mlmon / Data drift and quality",
            "Feature, prediction and multivariate drift against the reference, and data quality of arrived rows.",
            data_drift(),
            annotations=True,
        ),
        dashboard(
            "mlmon-fleet",
            "mlmon / Fleet",
            "Every monitored model at a glance: up, freshness, accuracy, volume and firing alerts.",
            fleet(),
        ),
    ]
    return {f"{board['uid']}.json": board for board in boards}


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON differs")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="directory of the dashboard JSON files")
    args = parser.parse_args(argv)
    wanted = {name: render(board) for name, board in dashboards().items()}
    if args.check:
        stale = sorted(
            name
            for name, text in wanted.items()
            if not (args.out / name).is_file() or (args.out / name).read_text(encoding="utf-8") != text
        )
        extra = sorted(p.name for p in args.out.glob("*.json") if p.name not in wanted)
        for name in stale:
            print(f"{args.out / name} is not what grafana/generate.py produces; run it and commit", file=sys.stderr)
        for name in extra:
            print(f"{args.out / name} is not produced by grafana/generate.py; remove it", file=sys.stderr)
        return 1 if stale or extra else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in wanted.items():
        (args.out / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
