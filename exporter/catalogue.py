"""The metric contract: every family mlmon publishes, its type, help text and labels.

Dashboards, alert rules, the README table and the collector are all checked against this list.
Every value is "from the latest scheduled run" unless it is a counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["gauge", "counter", "histogram", "info"]

MODEL = ("model", "version")
LATEST = "From the latest scheduled run."


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = MODEL
    group: str = "core"

    @property
    def exposed_names(self) -> tuple[str, ...]:
        """Names of the sample lines this family produces on /metrics."""
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        if self.kind == "counter":
            return (f"{self.name}_total", f"{self.name}_created")
        if self.kind == "info":
            return (f"{self.name}_info",)
        return (self.name,)


def _gauge(name: str, help_: str, labels: tuple[str, ...] = MODEL, group: str = "core") -> MetricSpec:
    return MetricSpec(name, "gauge", f"{help_} {LATEST}", labels, group)


def _drift_families(prefix: str, what: str, labels: tuple[str, ...] = ()) -> tuple[MetricSpec, ...]:
    """The families of one drift comparison, one kind of quantity each (exporter.drift.published)."""
    keys = (*MODEL, *labels, "method")
    return (
        _gauge(f"mlmon_{prefix}_drift_statistic", f"Test statistic of the drift test of {what}.", keys, "drift"),
        _gauge(f"mlmon_{prefix}_drift_pvalue", f"P-value of the drift test of {what}.", keys, "drift"),
        _gauge(
            f"mlmon_{prefix}_drift_significance_level",
            f"Significance level of the drift test of {what}: drifted when the p-value is below it.",
            keys,
            "drift",
        ),
        _gauge(f"mlmon_{prefix}_drift_distance", f"Drift distance of {what} from the reference.", keys, "drift"),
        _gauge(
            f"mlmon_{prefix}_drift_distance_threshold",
            f"Cut-off of the drift distance of {what}: drifted when the distance reaches it.",
            keys,
            "drift",
        ),
        _gauge(
            f"mlmon_{prefix}_drift_severity",
            f"Drift severity of {what}, on one scale for every method: at least 1 exactly when drifted, "
            "larger when the drift is larger (distance / cut-off, or log p-value / log significance level).",
            keys,
            "drift",
        ),
    )


SPECS: tuple[MetricSpec, ...] = (
    # --- performance over the evaluation window (labelled rows only) ---
    _gauge("mlmon_accuracy_ratio", "Accuracy over the evaluation window.", group="performance"),
    _gauge(
        "mlmon_precision_ratio",
        "Precision over the evaluation window (positive class; macro average for multiclass).",
        group="performance",
    ),
    _gauge(
        "mlmon_recall_ratio",
        "Recall over the evaluation window (positive class; macro average for multiclass).",
        group="performance",
    ),
    _gauge(
        "mlmon_f1_ratio",
        "F1 score over the evaluation window (positive class; macro average for multiclass).",
        group="performance",
    ),
    _gauge(
        "mlmon_roc_auc_ratio",
        "ROC AUC over the evaluation window (one-vs-rest macro average for multiclass).",
        group="performance",
    ),
    _gauge(
        "mlmon_weighted_precision_ratio",
        "Support-weighted precision over the evaluation window (multiclass).",
        group="performance",
    ),
    _gauge(
        "mlmon_weighted_recall_ratio",
        "Support-weighted recall over the evaluation window (multiclass).",
        group="performance",
    ),
    _gauge(
        "mlmon_weighted_f1_ratio",
        "Support-weighted F1 score over the evaluation window (multiclass).",
        group="performance",
    ),
    _gauge(
        "mlmon_class_precision_ratio",
        "Precision of one class over the evaluation window (multiclass).",
        (*MODEL, "class"),
        "performance",
    ),
    _gauge(
        "mlmon_class_recall_ratio",
        "Recall of one class over the evaluation window (multiclass).",
        (*MODEL, "class"),
        "performance",
    ),
    _gauge("mlmon_log_loss", "Log loss over the evaluation window (classification).", group="performance"),
    _gauge(
        "mlmon_mean_absolute_error", "Mean absolute error over the evaluation window (regression).", group="performance"
    ),
    _gauge(
        "mlmon_root_mean_squared_error",
        "Root mean squared error over the evaluation window (regression).",
        group="performance",
    ),
    _gauge(
        "mlmon_mean_absolute_percentage_error_ratio",
        "Mean absolute percentage error over the evaluation window (regression).",
        group="performance",
    ),
    _gauge(
        "mlmon_r2_score",
        "Coefficient of determination R2 over the evaluation window (regression).",
        group="performance",
    ),
    _gauge(
        "mlmon_performance_interval_lower_ratio",
        "Lower bound of the 95 % interval of a performance figure: Wilson on the rows it is a share of "
        "(accuracy, precision, recall, f1), or the estimate minus 1.96 standard errors (estimated_*).",
        (*MODEL, "metric"),
        "performance",
    ),
    _gauge(
        "mlmon_performance_interval_upper_ratio",
        "Upper bound of the 95 % interval of a performance figure: Wilson on the rows it is a share of "
        "(accuracy, precision, recall, f1), or the estimate plus 1.96 standard errors (estimated_*).",
        (*MODEL, "metric"),
        "performance",
    ),
    # --- model output ---
    MetricSpec("mlmon_predictions", "counter", "Rows scored (prediction volume).", MODEL, "output"),
    _gauge("mlmon_batch_rows", "Rows scored in the latest batch.", group="output"),
    _gauge(
        "mlmon_mean_confidence_ratio",
        "Mean probability of the predicted class over the evaluation window.",
        group="output",
    ),
    MetricSpec(
        "mlmon_prediction_confidence",
        "histogram",
        "Probability of the predicted class, per scored row.",
        MODEL,
        "output",
    ),
    _gauge("mlmon_mean_prediction", "Mean predicted value over the evaluation window (regression).", group="output"),
    _gauge(
        "mlmon_predicted_class_ratio",
        "Share of the evaluation window predicted as each class.",
        (*MODEL, "class"),
        "output",
    ),
    # --- label-free performance estimation (CBPE) ---
    _gauge(
        "mlmon_estimated_accuracy_ratio",
        "Accuracy expected from calibrated confidence, without labels (CBPE).",
        group="estimation",
    ),
    _gauge(
        "mlmon_estimated_precision_ratio",
        "Precision expected from calibrated confidence, without labels (CBPE).",
        group="estimation",
    ),
    _gauge(
        "mlmon_estimated_recall_ratio",
        "Recall expected from calibrated confidence, without labels (CBPE).",
        group="estimation",
    ),
    _gauge(
        "mlmon_estimated_f1_ratio",
        "F1 score expected from calibrated confidence, without labels (CBPE).",
        group="estimation",
    ),
    # --- labels ---
    _gauge(
        "mlmon_estimated_performance_standard_error_ratio",
        "Standard error of a label-free estimate (CBPE): the spread of the realized figure around it.",
        (*MODEL, "metric"),
        "estimation",
    ),
    _gauge("mlmon_labelled_rows_ratio", "Share of the evaluation window whose label has arrived.", group="labels"),
    _gauge(
        "mlmon_label_delay_seconds",
        "Mean time between scoring and label arrival, over labelled rows of the window.",
        group="labels",
    ),
    _gauge(
        "mlmon_unmatched_labels",
        "Late labels kept until a prediction with their id is scored (ids never scored stay here).",
        group="labels",
    ),
    MetricSpec("mlmon_labels_received", "counter", "Late labels joined to stored predictions.", MODEL, "labels"),
    # --- drift ---
    *_drift_families("feature", "one feature", ("feature",)),
    _gauge(
        "mlmon_feature_drift_detected",
        "1 when the feature drifted against the reference, else 0.",
        (*MODEL, "feature"),
        "drift",
    ),
    _gauge("mlmon_drifted_features_ratio", "Share of monitored features that drifted.", group="drift"),
    _gauge(
        "mlmon_dataset_drift_detected",
        "1 when the drifted share reaches the dataset-drift share, else 0.",
        group="drift",
    ),
    *_drift_families("prediction", "the model output (probability or value)"),
    _gauge(
        "mlmon_prediction_drift_detected",
        "1 when the model output drifted against the reference, else 0.",
        group="drift",
    ),
    *_drift_families("label", "the label distribution"),
    _gauge("mlmon_label_drift_detected", "1 when the label distribution drifted, else 0.", group="drift"),
    *_drift_families("residual", "the residuals (regression)"),
    _gauge(
        "mlmon_multivariate_drift_score",
        "PCA reconstruction error of the window, in reference standard units.",
        group="drift",
    ),
    _gauge(
        "mlmon_multivariate_drift_detected",
        "1 when the reconstruction error leaves the band fitted on reference chunks, else 0.",
        group="drift",
    ),
    MetricSpec(
        "mlmon_reference", "info", "Reference profile in use, by fingerprint.", (*MODEL, "fingerprint"), "drift"
    ),
    _gauge(
        "mlmon_reference_rows", "Rows in the reference the drift and estimation figures compare with.", group="drift"
    ),
    # --- data quality ---
    _gauge(
        "mlmon_feature_missing_ratio", "Share of arrived rows with the feature missing.", (*MODEL, "feature"), "quality"
    ),
    _gauge(
        "mlmon_feature_out_of_range_ratio",
        "Share of arrived rows with a numeric feature outside the reference range.",
        (*MODEL, "feature"),
        "quality",
    ),
    _gauge(
        "mlmon_feature_unseen_category_ratio",
        "Share of arrived rows with a category absent from the reference.",
        (*MODEL, "feature"),
        "quality",
    ),
    MetricSpec(
        "mlmon_schema_violations",
        "counter",
        "Schema violations found in arrived batches, by kind.",
        (*MODEL, "kind"),
        "quality",
    ),
    # --- errors and latency ---
    MetricSpec("mlmon_batches_processed", "counter", "Batches scored successfully.", MODEL, "runs"),
    MetricSpec(
        "mlmon_batch_failures",
        "counter",
        "Batches that could not be scored, by reason; kept in quarantine.",
        (*MODEL, "reason"),
        "runs",
    ),
    _gauge(
        "mlmon_source_read_duration_seconds",
        "Time spent reading from the source in the latest run, by role (batches, labels, reference).",
        (*MODEL, "source"),
        group="runs",
    ),
    MetricSpec(
        "mlmon_source_rows_read",
        "counter",
        "Rows read from the source, by role (batches, labels, reference).",
        (*MODEL, "source"),
        "runs",
    ),
    MetricSpec(
        "mlmon_source_failures",
        "counter",
        "Reads that found the source unavailable, by role and reason; nothing was read, the next run retries.",
        (*MODEL, "source", "reason"),
        "runs",
    ),
    MetricSpec(
        "mlmon_invalid_rows",
        "counter",
        "Rows with a problem, by reason: dropped before scoring, except unknown_label (scored without its label).",
        (*MODEL, "reason"),
        "runs",
    ),
    MetricSpec(
        "mlmon_scoring_duration_seconds",
        "histogram",
        "Time to score one batch (predict and predict_proba).",
        MODEL,
        "runs",
    ),
    _gauge("mlmon_window_rows", "Rows the window figures rest on.", group="runs"),
    _gauge("mlmon_last_run_success_timestamp_seconds", "Unix time of the latest successful run.", group="runs"),
    _gauge(
        "mlmon_last_run_duration_seconds",
        "Duration of the latest run that did work (scored or rejected a batch, or joined labels); an empty run"
        " leaves it as it was.",
        group="runs",
    ),
    _gauge("mlmon_last_run_empty", "1 when the latest run found nothing new to read, else 0.", group="runs"),
    _gauge(
        "mlmon_schedule_interval_seconds",
        "Seconds between scheduled runs (for cron schedules, the shortest gap).",
        group="runs",
    ),
    _gauge(
        "mlmon_model_up", "1 when the model loaded and its latest run did not fail as a whole, else 0.", group="runs"
    ),
    _gauge(
        "mlmon_calculator_success",
        "1 when the calculator succeeded in the latest run, else 0.",
        (*MODEL, "calculator"),
        "runs",
    ),
    _gauge(
        "mlmon_calculator_duration_seconds",
        "Time the calculator took in the latest run.",
        (*MODEL, "calculator"),
        "runs",
    ),
    _gauge(
        "mlmon_series_dropped",
        "Series left out by the cardinality bound, by kind (feature or class).",
        (*MODEL, "kind"),
        "runs",
    ),
    _gauge(
        "mlmon_threshold",
        "Threshold configured for a metric of the model (see README for the direction).",
        (*MODEL, "metric"),
        "core",
    ),
    MetricSpec("mlmon_build", "info", "mlmon build information.", ("version",), "core"),
    MetricSpec(
        "mlmon_config_last_reload_successful",
        "gauge",
        "1 when the latest load or reload of the configuration file succeeded, else 0.",
        (),
        "core",
    ),
    MetricSpec(
        "mlmon_config_last_reload_success_timestamp_seconds",
        "gauge",
        "Unix time of the latest successful load or reload of the configuration file.",
        (),
        "core",
    ),
    MetricSpec(
        "mlmon_state_store_resets",
        "counter",
        "Times a corrupt state file was moved aside and a fresh state store started, since the exporter started.",
        (),
        "core",
    ),
)

BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in SPECS}


def spec(name: str) -> MetricSpec:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name} is not in the metric catalogue") from None
