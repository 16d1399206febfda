"""A model file can't run code on load: skops with an allow-list, pickles only when their digest is pinned."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io
from sklearn import metrics
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from exporter.app import build_app
from exporter.config import load_config
from exporter.model import ModelLoadError, load_model

from helpers import binary_data, deploy_model, value, write_batch, write_project


class Payload:
    """Unpickling this creates ``marker``: proof that the file ran code in the exporter."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


def malicious_pickle(path: Path, marker: Path) -> str:
    path.write_bytes(pickle.dumps(Payload(marker)))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_payload_really_runs_when_unpickled(tmp_path: Path) -> None:
    # the tests below are only worth something if unpickling this file does execute code
    marker = tmp_path / "ran"
    malicious_pickle(tmp_path / "evil.joblib", marker)
    joblib.load(tmp_path / "evil.joblib")
    assert marker.exists()


def test_an_unpinned_pickle_is_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    malicious_pickle(tmp_path / "evil.joblib", marker)
    with pytest.raises(ModelLoadError, match="no model_sha256 pin; not loaded"):
        load_model(tmp_path / "evil.joblib", "binary_classification")
    assert not marker.exists()


def test_a_wrongly_pinned_pickle_is_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    digest = malicious_pickle(tmp_path / "evil.joblib", marker)
    wrong = hashlib.sha256(b"the file that was reviewed").hexdigest()
    with pytest.raises(ModelLoadError, match=f"pinned {wrong}, file has {digest}"):
        load_model(tmp_path / "evil.joblib", "binary_classification", wrong)
    assert not marker.exists()


def test_a_pinned_pickle_loads_and_the_pin_ignores_case(tmp_path: Path) -> None:
    x, y = binary_data(100, seed=1)
    estimator = LogisticRegression(max_iter=1000).fit(x, y)
    joblib.dump(estimator, tmp_path / "m.joblib")
    digest = hashlib.sha256((tmp_path / "m.joblib").read_bytes()).hexdigest()
    loaded = load_model(tmp_path / "m.joblib", "binary_classification", digest.upper())
    assert loaded.digest == digest
    np.testing.assert_array_equal(loaded.estimator.predict(x), estimator.predict(x))


def test_a_pickle_hot_swapped_under_a_running_exporter_is_never_executed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_project(tmp_path)
    x, y = binary_data(100, seed=2)
    app = build_app(load_config(config))
    try:
        job = app.jobs[0]
        write_batch(tmp_path, "b1.csv", x, y)
        assert value(job.run().figures, "mlmon_model_up") == 1

        marker = tmp_path / "ran"
        malicious_pickle(tmp_path / "model.joblib", marker)
        os.utime(tmp_path / "model.joblib", ns=(1, 1))
        write_batch(tmp_path, "b2.csv", x, y)
        with caplog.at_level(logging.ERROR, logger="exporter.job"):
            report = job.run()
        assert not marker.exists()
        assert value(report.figures, "mlmon_model_up") == 0
        assert report.scored == 0 and (tmp_path / "incoming" / "b2.csv").exists()
        assert "does not match its model_sha256 pin" in caplog.text
        # and it stays down, without executing the file, on every later run
        assert value(job.run().figures, "mlmon_model_up") == 0
        assert not marker.exists()
    finally:
        app.state.close()


def test_a_redeployed_pickle_with_its_new_pin_loads_after_a_config_reload(tmp_path: Path) -> None:
    from exporter.app import Runtime

    config = write_project(tmp_path)
    x, y = binary_data(100, seed=3)
    runtime = Runtime(load_config(config), config)
    try:
        replacement = LogisticRegression(C=0.01, max_iter=1000).fit(x, y)
        deploy_model(config, replacement)
        assert runtime.reload() is None
        write_batch(tmp_path, "b.csv", x, y)
        figures = runtime.app.jobs[0].run().figures
        assert value(figures, "mlmon_model_up") == 1
        want = metrics.accuracy_score(y, replacement.predict(x))
        assert value(figures, "mlmon_accuracy_ratio") == pytest.approx(want, abs=1e-9)
    finally:
        runtime.shutdown()


def test_a_skops_model_loads_and_scores_without_a_pin(tmp_path: Path) -> None:
    config = write_project(tmp_path, model_overrides={"model_path": "model.skops", "model_sha256": None})
    x, y = binary_data(200, seed=4)
    estimator = LogisticRegression(C=0.5, max_iter=1000).fit(x, y)
    skops.io.dump(estimator, tmp_path / "model.skops")
    write_batch(tmp_path, "b.csv", x, y)
    app = build_app(load_config(config))
    try:
        figures = app.jobs[0].run().figures
    finally:
        app.state.close()
    assert value(figures, "mlmon_model_up") == 1
    proba = estimator.predict_proba(x)
    assert value(figures, "mlmon_accuracy_ratio") == pytest.approx(
        metrics.accuracy_score(y, estimator.predict(x)), abs=1e-9
    )
    assert value(figures, "mlmon_roc_auc_ratio") == pytest.approx(metrics.roc_auc_score(y, proba[:, 1]), abs=1e-9)


def test_a_skops_type_off_the_allow_list_is_refused_until_trusted(tmp_path: Path) -> None:
    import math

    x, y = binary_data(100, seed=5)
    plain = make_pipeline(FunctionTransformer(np.abs), LogisticRegression()).fit(x, y)
    skops.io.dump(plain, tmp_path / "plain.skops")
    assert load_model(tmp_path / "plain.skops", "binary_classification").classes is not None

    odd = make_pipeline(FunctionTransformer(math.sqrt, validate=False), LogisticRegression())
    skops.io.dump(odd, tmp_path / "odd.skops")  # unfitted is enough to hold the type
    with pytest.raises(ModelLoadError, match="not on the allow-list: math.sqrt"):
        load_model(tmp_path / "odd.skops", "regression")
    loaded = load_model(tmp_path / "odd.skops", "regression", trusted_types=["math.sqrt"])
    assert loaded.estimator.steps[0][1].func is math.sqrt


def test_a_pin_applies_to_a_skops_file_too(tmp_path: Path) -> None:
    x, y = binary_data(100, seed=6)
    skops.io.dump(LogisticRegression().fit(x, y), tmp_path / "m.skops")
    with pytest.raises(ModelLoadError, match="does not match its model_sha256 pin"):
        load_model(tmp_path / "m.skops", "binary_classification", "0" * 64)


def test_check_config_applies_the_same_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exporter.cli import main

    config = write_project(tmp_path, model_overrides={"model_sha256": None})
    marker = tmp_path / "ran"
    malicious_pickle(tmp_path / "model.joblib", marker)
    assert main(["check-config", str(config)]) != 0
    assert "no model_sha256 pin" in capsys.readouterr().err
    assert not marker.exists()


def test_check_config_reports_every_missing_path_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from exporter.cli import main

    config = write_project(tmp_path, model_overrides={"labels": {"source": {"type": "files", "path": "labels"}}})
    (tmp_path / "incoming").rmdir()
    (tmp_path / "reference.parquet").unlink()
    (tmp_path / "model.joblib").unlink()
    assert main(["check-config", str(config)]) == 1
    captured = capsys.readouterr()
    err = captured.err
    assert "model_path: model file" in err and "does not exist" in err
    assert f"source.path: folder {tmp_path / 'incoming'} does not exist" in err
    assert f"labels.source.path: folder {tmp_path / 'labels'} does not exist" in err
    assert f"reference_path: {tmp_path / 'reference.parquet'} does not exist" in err
    assert "4 problem(s)" in captured.out


def test_check_config_reads_the_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exporter.cli import main

    config = write_project(tmp_path)
    (tmp_path / "reference.parquet").write_bytes(b"not parquet")
    assert main(["check-config", str(config)]) == 1
    assert "reference_path: cannot read" in capsys.readouterr().err
    x, _ = binary_data(50, seed=7)
    x.drop(columns=["f3"]).to_parquet(tmp_path / "reference.parquet")
    assert main(["check-config", str(config)]) == 1
    assert "lacks the feature column(s) f3" in capsys.readouterr().err
    x.to_parquet(tmp_path / "reference.parquet")
    assert main(["check-config", str(config)]) == 0
