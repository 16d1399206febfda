"""mlmon's alerts. Every threshold is published by the exporter as mlmon_threshold{model, version,
metric}, so one rule serves every model, and a model without that threshold has no alert for it.

Severity: `critical` pages (the model is not being scored or monitored, or it is badly wrong);
`warning` opens a ticket; `info` is kept in Alertmanager and not routed. The `signal` label lets
Alertmanager inhibit a warning while a critical of the same model and signal fires.

Quiet when healthy: every threshold alert holds, once active, until its value is back past the
threshold by the recovery band, and every alert keeps firing through a short gap in the data
(`keep_firing_for`), so a value hovering at its threshold, a restart or a scrape gap gives one
episode, not a notification at every crossing. `for` is chosen per signal: a measured figure below
its threshold for one scheduled run is already a finding; estimates, drift flags and rates move
with every batch and need a sustained breach.
"""

from __future__ import annotations

from exporter.mixin.config import MixinConfig
from exporter.mixin.rules import (
    MODEL,
    VALUE_FORMAT,
    Alert,
    Group,
    breach,
    model_query,
    query,
    scale_duration,
    threshold_of,
)
from exporter.thresholds import BY_NAME

PCT = "humanizePercentage"


def _threshold_alert(
    config: MixinConfig,
    name: str,
    threshold: str,
    value: str,
    subject: str,
    summary: str,
    *,
    for_: str,
    keep: str = "15m",
    severity: str = "warning",
    signal: str,
    per_feature: bool = False,
    text: str = "{subject} is {value}, {side} the threshold of {threshold}.",
) -> Alert:
    """An alert on ``value`` past the model's ``threshold``; ``text`` is the description, in which
    ``{value}`` and ``{threshold}`` are the formatted value and threshold and ``{side}`` below/above."""
    keys = ("model", "version", "feature") if per_feature else ("model", "version")
    fmt = VALUE_FORMAT[threshold]
    expr = breach(name, threshold, value, config, keys=keys, interval=threshold in WITH_INTERVAL)
    description = text.format(
        subject=subject,
        value=f"{{{{ $value | {fmt} }}}}",
        side=BY_NAME[threshold].direction,
        threshold=threshold_of(threshold),
    )
    return Alert(
        name,
        expr,
        for_,
        keep,
        severity,
        signal,
        summary,
        description,
    )


# Figures published with a 95 % interval (mlmon_performance_interval_*_ratio{metric}): their alerts
# start only when the whole interval is past the threshold, not on a dip sampling alone explains.
WITH_INTERVAL = ("accuracy", "precision", "recall", "f1", "estimated_accuracy", "estimated_f1")


def _performance(config: MixinConfig) -> Group:
    def floor(name: str, metric: str, label: str, value: str, for_: str = "10m") -> Alert:
        return _threshold_alert(
            config,
            name,
            metric,
            value,
            f"{label} of {MODEL}",
            f"Model {label if label.isupper() or label.startswith('F1') else label.lower()} is below its threshold.",
            for_=for_,
            signal="performance",
        )

    far_expr = breach(
        "MlmonAccuracyFarBelowThreshold",
        "accuracy",
        "mlmon_accuracy_ratio",
        config,
        scale="2 * {t} - 1",
        interval=True,
    )
    # Realized figures: one scheduled run below the threshold is a finding (`for: 1m` on the seed's
    # accuracy alert); the other figures wait ten minutes, several runs of a typical schedule.
    return Group(
        "mlmon-performance",
        [
            floor("MlmonAccuracyBelowThreshold", "accuracy", "Accuracy", "mlmon_accuracy_ratio", "1m"),
            # "Far below": the error rate is more than twice the tolerated one, i.e. accuracy < 2 * threshold - 1.
            Alert(
                "MlmonAccuracyFarBelowThreshold",
                far_expr,
                "15m",
                "15m",
                "critical",
                "performance",
                "Model accuracy is far below its threshold; the error rate is more than twice the tolerated one.",
                f"Accuracy of {MODEL} is {{{{ $value | {PCT} }}}}, below "
                + model_query('2 * mlmon_threshold{model=%[1]q,version=%[2]q,metric="accuracy"} - 1', PCT)
                + f" (twice the error rate the threshold of {threshold_of('accuracy')} allows).",
            ),
            floor("MlmonPrecisionBelowThreshold", "precision", "Precision", "mlmon_precision_ratio"),
            floor("MlmonRecallBelowThreshold", "recall", "Recall", "mlmon_recall_ratio"),
            floor("MlmonF1BelowThreshold", "f1", "F1 score", "mlmon_f1_ratio"),
            floor("MlmonRocAucBelowThreshold", "roc_auc", "ROC AUC", "mlmon_roc_auc_ratio"),
            _threshold_alert(
                config,
                "MlmonR2BelowThreshold",
                "r2",
                "mlmon_r2_score",
                f"R2 score of {MODEL}",
                "Regression model R2 score is below its threshold.",
                for_="10m",
                signal="performance",
            ),
            _threshold_alert(
                config,
                "MlmonMeanAbsoluteErrorAboveThreshold",
                "mean_absolute_error",
                "mlmon_mean_absolute_error",
                f"Mean absolute error of {MODEL}",
                "Regression model mean absolute error is above its threshold.",
                for_="10m",
                signal="performance",
            ),
            _threshold_alert(
                config,
                "MlmonRootMeanSquaredErrorAboveThreshold",
                "root_mean_squared_error",
                "mlmon_root_mean_squared_error",
                f"Root mean squared error of {MODEL}",
                "Regression model root mean squared error is above its threshold.",
                for_="10m",
                signal="performance",
            ),
            # Label-free estimates move before labels arrive: a longer `for:` and hold than measured figures.
            _threshold_alert(
                config,
                "MlmonEstimatedAccuracyBelowThreshold",
                "estimated_accuracy",
                "mlmon_estimated_accuracy_ratio",
                f"Estimated accuracy of {MODEL}",
                "Accuracy estimated without labels (CBPE) is below its threshold.",
                for_="15m",
                keep="30m",
                signal="performance",
            ),
            _threshold_alert(
                config,
                "MlmonEstimatedF1BelowThreshold",
                "estimated_f1",
                "mlmon_estimated_f1_ratio",
                f"Estimated F1 score of {MODEL}",
                "F1 score estimated without labels (CBPE) is below its threshold.",
                for_="15m",
                keep="30m",
                signal="performance",
            ),
        ],
    )


def _confidence(config: MixinConfig) -> Group:
    return Group(
        "mlmon-confidence",
        [
            _threshold_alert(
                config,
                "MlmonMeanConfidenceBelowThreshold",
                "mean_confidence",
                "mlmon_mean_confidence_ratio",
                f"Mean confidence of {MODEL}",
                "Mean prediction confidence is below its threshold.",
                for_="1m",
                signal="confidence",
            )
        ],
    )


def _volume_change(config: MixinConfig, name: str, record: str, against: str, summary: str, for_: str) -> Alert:
    expr = breach(name, "volume_change_ratio", f"abs({record})", config)
    change = model_query(f"{record}{{model=%[1]q,version=%[2]q}}", PCT)
    return Alert(
        name,
        expr,
        for_,
        for_,
        "warning",
        "volume",
        summary,
        f"Prediction volume of {MODEL} over the last hour changed by {change} against {against} "
        f"(|change| {{{{ $value | {PCT} }}}}, threshold {threshold_of('volume_change_ratio')}).",
    )


def _volume(config: MixinConfig) -> Group:
    # The changes compare with a baseline only once it covers its whole window (recording rules):
    # a new model, a new version or a fresh Prometheus has no baseline and no alert.
    return Group(
        "mlmon-volume",
        [
            # Only for models run at least every 15 minutes: a slower schedule has idle hours by design.
            Alert(
                "MlmonPredictionVolumeZero",
                "model:mlmon_predictions:rate1h == 0\n"
                "  and on(model, version) mlmon_model_up == 1\n"
                "  and on(model, version) mlmon_schedule_interval_seconds <= 900\n",
                "15m",
                "15m",
                "warning",
                "volume",
                "The model is up but has scored no rows for an hour.",
                "Model {{ $labels.model }} version {{ $labels.version }} is up but scored "
                "{{ $value | humanize }} rows/s over the last hour (threshold: any rows at all); "
                "no batches are arriving.",
            ),
            _volume_change(
                config,
                "MlmonPredictionVolumeChangedVsYesterday",
                "model:mlmon_predictions:rate1h_change1d",
                "the same hour a day before",
                "Prediction volume differs sharply from the same hour yesterday.",
                "30m",
            ),
            _volume_change(
                config,
                "MlmonPredictionVolumeChangedVsLastWeek",
                "model:mlmon_predictions:rate1h_change1w",
                "the same hour a week before",
                "Prediction volume differs sharply from the same hour a week ago.",
                "30m",
            ),
            # The last 5 minutes against the trailing hour catches a cliff or a flood within minutes. A
            # 5-minute rate is only steady when the model runs at least every minute.
            _sudden_change(config),
        ],
    )


def _sudden_change(config: MixinConfig) -> Alert:
    alert = _volume_change(
        config,
        "MlmonPredictionVolumeSuddenChange",
        "model:mlmon_predictions:rate5m_change1h",
        "the trailing hour",
        "Prediction volume changed suddenly against the trailing hour.",
        "15m",
    )
    expr = f"(\n{alert.expr})\n  and on(model, version) mlmon_schedule_interval_seconds <= 60\n"
    return Alert(
        alert.name,
        expr,
        alert.for_,
        alert.keep_firing_for,
        alert.severity,
        alert.signal,
        alert.summary,
        alert.description.replace("over the last hour", "over the last 5 minutes"),
    )


def _flag(name: str, family: str, for_: str, keep: str, severity: str, summary: str, description: str) -> Alert:
    return Alert(name, f"{family} == 1", for_, keep, severity, "drift", summary, description)


def _severities(family: str) -> str:
    """Each method's drift severity (at least 1 is drift, whatever the method)."""
    return (
        f'{{{{ range printf "{family}{{model=%q,version=%q}}" $labels.model $labels.version | query }}}}'
        '{{ .Labels.method }} {{ printf "%.3g" .Value }} {{ end }}'
    )


# The features a notification names first: the most drifted, on the severity scale every method shares.
TOP_FEATURES = (
    '{{ range printf "sort_desc(topk(3, mlmon_feature_drift_severity{model=%q,version=%q} >= 1))" $labels.model'
    ' $labels.version | query }}{{ .Labels.feature }} ({{ .Labels.method }}, severity {{ printf "%.3g" .Value }})'
    " {{ end }}"
)


def _drift(config: MixinConfig) -> Group:
    # Drift flags flip with every batch near their cut-off: 15 minutes to fire, 30 to clear.
    return Group(
        "mlmon-drift",
        [
            _flag(
                "MlmonDatasetDriftDetected",
                "mlmon_dataset_drift_detected",
                "15m",
                "30m",
                "warning",
                "The input data drifted against the reference.",
                f"Dataset drift detected for {MODEL} (value {{{{ $value }}}}): "
                + model_query("mlmon_drifted_features_ratio{model=%[1]q,version=%[2]q}", PCT)
                + " of the monitored features drifted; the dataset-drift share is "
                + threshold_of("drifted_features_ratio")
                + ". Most drifted: "
                + TOP_FEATURES
                + "(severity 1 is the drift threshold).",
            ),
            # Mostly the same finding as dataset drift, unless the model sets its own drifted_features_ratio;
            # not routed.
            _threshold_alert(
                config,
                "MlmonDriftedFeaturesRatioAboveThreshold",
                "drifted_features_ratio",
                "mlmon_drifted_features_ratio",
                MODEL,
                "The share of drifted features is above its threshold.",
                text="{value} of the features of {subject} drifted, {side} the threshold of {threshold}.",
                for_="15m",
                keep="30m",
                severity="info",
                signal="drift",
            ),
            _flag(
                "MlmonPredictionDriftDetected",
                "mlmon_prediction_drift_detected",
                "15m",
                "30m",
                "warning",
                "The model output drifted against the reference.",
                f"Prediction drift detected for {MODEL} (value {{{{ $value }}}}); drift severity by method: "
                + _severities("mlmon_prediction_drift_severity")
                + "(threshold: 1).",
            ),
            _flag(
                "MlmonLabelDriftDetected",
                "mlmon_label_drift_detected",
                "1h",
                "1h",
                "info",
                "The distribution of arrived labels drifted against the reference labels.",
                f"Label drift detected for {MODEL} (value {{{{ $value }}}}); drift severity by method: "
                + _severities("mlmon_label_drift_severity")
                + "(threshold: 1).",
            ),
            Alert(
                "MlmonMultivariateDriftDetected",
                "mlmon_multivariate_drift_score\n"
                "  > on(model, version) group_left()\n"
                'mlmon_threshold{metric="multivariate_drift"}\n',
                "15m",
                "30m",
                "warning",
                "drift",
                "The joint distribution of the inputs left the band fitted on the reference.",
                f"Multivariate drift score (PCA reconstruction error) of {MODEL} is "
                '{{ printf "%.3g" $value }}, above the upper band of '
                + threshold_of("multivariate_drift", 'printf "%.4g"')
                + ".",
            ),
        ],
    )


def _feature_alert(config: MixinConfig, name: str, threshold: str, family: str, what: str, summary: str) -> Alert:
    return _threshold_alert(
        config,
        name,
        threshold,
        family,
        f"Feature {{{{ $labels.feature }}}} of {MODEL}",
        summary,
        text="{subject} " + what + " {value} of the rows, {side} the threshold of {threshold}.",
        for_="15m",
        signal="quality",
        per_feature=True,
    )


def _quality(config: MixinConfig) -> Group:
    jump = model_query('0.5 * mlmon_threshold{model=%[1]q,version=%[2]q,metric="missing_ratio"}', PCT)
    return Group(
        "mlmon-quality",
        [
            _feature_alert(
                config,
                "MlmonFeatureMissingRatioAboveThreshold",
                "missing_ratio",
                "mlmon_feature_missing_ratio",
                "is missing in",
                "A feature is missing in too many rows.",
            ),
            # A jump of half the threshold within a day flags a broken upstream join before the absolute
            # limit is hit. No value a day before (a new model or version) means no jump.
            Alert(
                "MlmonFeatureMissingRatioJump",
                "(mlmon_feature_missing_ratio - mlmon_feature_missing_ratio offset 1d)\n"
                "  > on(model, version) group_left()\n"
                '(0.5 * mlmon_threshold{metric="missing_ratio"})\n',
                "15m",
                "15m",
                "warning",
                "quality",
                "The missing share of a feature jumped against the same time yesterday.",
                f"The missing share of feature {{{{ $labels.feature }}}} of {MODEL} rose by "
                f"{{{{ $value | {PCT} }}}} against a day before, more than half the missing-ratio threshold ({jump}).",
            ),
            _feature_alert(
                config,
                "MlmonFeatureUnseenCategoryRatioAboveThreshold",
                "unseen_category_ratio",
                "mlmon_feature_unseen_category_ratio",
                "has an unseen category in",
                "A categorical feature has too many categories absent from the reference.",
            ),
            _feature_alert(
                config,
                "MlmonFeatureOutOfRangeRatioAboveThreshold",
                "out_of_range_ratio",
                "mlmon_feature_out_of_range_ratio",
                "is out of the reference range in",
                "A numeric feature is outside the reference range in too many rows.",
            ),
            # Violations also surface as invalid rows or failed batches; this one names the kind. Not routed.
            Alert(
                "MlmonSchemaViolations",
                "sum by (model, version, kind) (increase(mlmon_schema_violations_total[1h])) > 0\n",
                "5m",
                "5m",
                "info",
                "quality",
                "Arrived batches violate the expected schema.",
                "Model {{ $labels.model }} version {{ $labels.version }} saw {{ $value | humanize }} "
                "schema violations of kind {{ $labels.kind }} over the last hour (threshold: none expected).",
            ),
        ],
    )


def _errors(config: MixinConfig) -> Group:
    return Group(
        "mlmon-errors",
        [
            _threshold_alert(
                config,
                "MlmonBatchFailureRatioAboveThreshold",
                "batch_failure_ratio",
                "model:mlmon_batch_failures:ratio_rate1h",
                MODEL,
                "Too many batches fail to be scored and go to quarantine.",
                text="{value} of the batches of {subject} failed over the last hour, {side} the threshold of "
                "{threshold}.",
                for_="15m",
                signal="errors",
            ),
            _threshold_alert(
                config,
                "MlmonInvalidRowRatioAboveThreshold",
                "invalid_row_ratio",
                "model:mlmon_invalid_rows:ratio_rate1h",
                MODEL,
                "Too many rows are dropped as invalid before scoring.",
                text="{value} of the rows of {subject} were dropped as invalid over the last hour, {side} the "
                "threshold of {threshold}.",
                for_="15m",
                signal="errors",
            ),
            Alert(
                "MlmonCalculatorFailing",
                "mlmon_calculator_success == 0\n",
                "15m",
                "15m",
                "warning",
                "errors",
                "A metric calculator fails; its figures are missing or stale.",
                f"Calculator {{{{ $labels.calculator }}}} of {MODEL} failed in the latest runs "
                "(success {{ $value }}, threshold: 1).",
            ),
        ],
    )


def _latency(config: MixinConfig) -> Group:
    # The hour-long p99 keeps a value between the batches of any schedule up to hourly; a 5-minute one
    # is empty between them and keeps resetting the pending state.
    return Group(
        "mlmon-latency",
        [
            _threshold_alert(
                config,
                "MlmonScoringLatencyHigh",
                "scoring_latency_p99_seconds",
                "model:mlmon_scoring_duration_seconds:p99_1h",
                f"p99 time to score a batch of {MODEL} over the last hour",
                "Scoring a batch is slow (p99 above its threshold).",
                for_="30m",
                keep="30m",
                signal="latency",
            )
        ],
    )


def _labels(config: MixinConfig) -> Group:
    # Labels arrive late by nature: only an hour-long shortfall is worth a ticket.
    return Group(
        "mlmon-labels",
        [
            _threshold_alert(
                config,
                "MlmonLabelledRowsRatioBelowThreshold",
                "labelled_rows_ratio",
                "mlmon_labelled_rows_ratio",
                MODEL,
                "Too few labels have arrived for the evaluation window.",
                text="Only {value} of the window of {subject} is labelled, {side} the threshold of {threshold}; "
                "measured performance rests on few rows.",
                for_="1h",
                keep="1h",
                signal="labels",
            ),
            _threshold_alert(
                config,
                "MlmonLabelDelayHigh",
                "label_delay_seconds",
                "mlmon_label_delay_seconds",
                f"Labels of {MODEL}",
                "Labels arrive later than expected.",
                text="{subject} arrive on average {value} after scoring, {side} the threshold of {threshold}.",
                for_="1h",
                keep="1h",
                signal="labels",
            ),
        ],
    )


def _selector_labels(selector: str) -> dict[str, str]:
    """The equality matchers of a selector, e.g. ``job="mlmon"``: the labels absent() cannot keep."""
    pairs = (part.split("=", 1) for part in selector.split(",") if "=" in part and "=~" not in part)
    return {key.strip().rstrip("!"): value.strip().strip('"') for key, value in pairs if not key.endswith("!")}


def _availability(config: MixinConfig) -> Group:
    up = f"up{{{config.job_selector}}}"
    where = "The mlmon exporter at {{ $labels.instance }} (job {{ $labels.job }})"
    reload_age = query(
        "time() - mlmon_config_last_reload_success_timestamp_seconds{job=%q,instance=%q}",
        "humanizeDuration",
        "$labels.job",
        "$labels.instance",
    )
    stale_after = model_query("3 * mlmon_schedule_interval_seconds{model=%[1]q,version=%[2]q}", "humanizeDuration")
    return Group(
        "mlmon-availability",
        [
            # mlmon is the scorer: no successful run for three intervals means production data is not being scored.
            Alert(
                "MlmonRunsStale",
                "time() - mlmon_last_run_success_timestamp_seconds\n"
                "  > on(model, version) group_left()\n"
                "(3 * mlmon_schedule_interval_seconds)\n",
                "5m",
                "5m",
                "critical",
                "staleness",
                "The model has had no successful scheduled run for more than three intervals.",
                f"The latest successful run of {MODEL} was {{{{ $value | humanizeDuration }}}} ago, above the "
                f"threshold of three schedule intervals ({stale_after}).",
            ),
            Alert(
                "MlmonModelDown",
                "mlmon_model_up == 0\n",
                "5m",
                "5m",
                "critical",
                "availability",
                "The model failed to load or its latest run failed as a whole.",
                "Model {{ $labels.model }} version {{ $labels.version }} is down "
                "(mlmon_model_up {{ $value }}, threshold: 1); no batches are being scored.",
            ),
            # A restart takes seconds: five minutes down is an outage, not a restart.
            Alert(
                "MlmonExporterDown",
                f"{up} == 0\n",
                "5m",
                "5m",
                "critical",
                "availability",
                "Prometheus cannot scrape the mlmon exporter.",
                f"{where} is down (up {{{{ $value }}}}, threshold: 1); no model, version or metric of it is being "
                "monitored.",
                per_model=False,
            ),
            # A refused reload leaves the exporter running its previous configuration: nothing is lost, but
            # the change the operator made is not in force.
            Alert(
                "MlmonConfigReloadFailed",
                "mlmon_config_last_reload_successful == 0\n",
                "10m",
                "1m",
                "warning",
                "availability",
                "The mlmon exporter refused its configuration file on the latest reload.",
                f"{where} could not load its configuration file on the latest reload (value {{{{ $value }}}}, "
                f"threshold: 1); it keeps running the configuration it loaded {reload_age} ago.",
                per_model=False,
            ),
            # A corrupt state file was moved aside and the exporter started afresh: figures go on, but its
            # counters started from zero and batches still in the watched folders were read again. The
            # count lives as long as the process, so the alert holds until the exporter is restarted.
            Alert(
                "MlmonStateStoreReset",
                "mlmon_state_store_resets_total > 0\n",
                "0m",
                "1m",
                "warning",
                "availability",
                "The mlmon exporter found its state file corrupt and started a fresh one.",
                f"{where} moved a corrupt state file aside and started a fresh state store "
                "(resets {{ $value }}, threshold: 0); counters restarted from zero.",
                per_model=False,
            ),
            # absent() keeps no labels, so the selector's are set here for inhibition and routing. A target
            # that is down fires MlmonExporterDown first; this one is for a target that disappeared, and waits
            # out a scrape gap of ten minutes (a Prometheus restart, a network partition).
            Alert(
                "MlmonExporterAbsent",
                f"absent({up} == 1)\n",
                "15m",
                "5m",
                "critical",
                "availability",
                "No mlmon exporter target is up; Prometheus has no model metrics.",
                f"No target of {{{config.job_selector}}} is up (absent value {{{{ $value }}}}); "
                "no model, version or metric is being monitored.",
                labels=_selector_labels(config.job_selector),
                per_model=False,
            ),
        ],
    )


def _retraining(config: MixinConfig) -> Group:
    # Performance alone may be noise in the labels, drift alone may not matter to the model; both for
    # an hour, each past its own `for`, is a model that no longer fits its data.
    performance = 'ALERTS{alertstate="firing", signal="performance"}'
    drift = 'ALERTS{alertstate="firing", signal="drift", severity="warning"}'
    sustained = scale_duration("1h", config.duration_scale)
    return Group(
        "mlmon-retraining",
        [
            Alert(
                "MlmonRetrainingRecommended",
                f"count by (model, version) ({performance})\n"
                f"  and on(model, version)\ncount by (model, version) ({drift})\n",
                "1h",
                # once performance or drift has cleared (each after its own hold), so has the reason
                "15m",
                "warning",
                "retraining",
                "Performance has stayed below its threshold together with drift: the model no longer fits its data.",
                f"For {MODEL}, {{{{ $value }}}} performance alert(s) have fired together with a drift alert for "
                f"{sustained} (threshold: both at once for {sustained}). Retrain on recent labelled data; the "
                "runbook says how to decide.",
            )
        ],
    )


def groups(config: MixinConfig) -> list[Group]:
    return [
        _performance(config),
        _confidence(config),
        _volume(config),
        _drift(config),
        _quality(config),
        _errors(config),
        _latency(config),
        _labels(config),
        _availability(config),
        _retraining(config),
    ]
