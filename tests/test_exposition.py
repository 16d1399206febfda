"""What Prometheus reads: the exposition text, its negotiation, and the HTTP server around it."""

from __future__ import annotations

import logging
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from exporter import __version__
from exporter.catalogue import BY_NAME, MODEL, SPECS, MetricSpec
from exporter.collector import build_registry, render
from exporter.figures import Figure, HistogramFigure
from exporter.results import Results, Snapshot
from exporter.web import MetricsServer, parse_listen_address

from support.binaries import require_binary

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
INF = float("inf")


def exposition(*snapshots: Snapshot, exporter_wide: tuple[Figure, ...] = ()) -> str:
    results = Results()
    for snapshot in snapshots:
        results.publish(snapshot)
    results.set_globals(list(exporter_wide))
    body, content_type = render(build_registry(results), None)
    assert content_type == TEXT
    return body.decode()


def head(name: str, kind: str, exposed: str | None = None) -> str:
    return f"# HELP {exposed or name} {BY_NAME[name].help}\n# TYPE {exposed or name} {kind}\n"


BUILD_INFO = head("mlmon_build", "gauge", "mlmon_build_info") + f'mlmon_build_info{{version="{__version__}"}} 1.0\n'


def test_golden_exposition() -> None:
    churn = Snapshot(
        "churn",
        "2",
        (
            Figure("mlmon_reference", 1.0, {"fingerprint": "abc123"}),
            Figure("mlmon_feature_drift_statistic", 0.25, {"feature": "age", "method": "ks"}),
            Figure("mlmon_feature_drift_statistic", 0.5, {"feature": 'plan "b"\\x', "method": "chisquare"}),
            HistogramFigure("mlmon_prediction_confidence", ((0.5, 10.0), (0.9, 80.0), (INF, 120.0)), 100.5),
            Figure("mlmon_predictions", 120.0),
            Figure("mlmon_accuracy_ratio", 0.875),
        ),
    )
    fraud = Snapshot("fraud", "1", (Figure("mlmon_accuracy_ratio", 0.5),))
    expected = (
        head("mlmon_accuracy_ratio", "gauge")
        + 'mlmon_accuracy_ratio{model="churn",version="2"} 0.875\n'
        + 'mlmon_accuracy_ratio{model="fraud",version="1"} 0.5\n'
        + head("mlmon_predictions", "counter", "mlmon_predictions_total")
        + 'mlmon_predictions_total{model="churn",version="2"} 120.0\n'
        + head("mlmon_prediction_confidence", "histogram")
        + 'mlmon_prediction_confidence_bucket{le="0.5",model="churn",version="2"} 10.0\n'
        + 'mlmon_prediction_confidence_bucket{le="0.9",model="churn",version="2"} 80.0\n'
        + 'mlmon_prediction_confidence_bucket{le="+Inf",model="churn",version="2"} 120.0\n'
        + 'mlmon_prediction_confidence_count{model="churn",version="2"} 120.0\n'
        + 'mlmon_prediction_confidence_sum{model="churn",version="2"} 100.5\n'
        + head("mlmon_feature_drift_statistic", "gauge")
        + 'mlmon_feature_drift_statistic{feature="age",method="ks",model="churn",version="2"} 0.25\n'
        + 'mlmon_feature_drift_statistic{feature="plan \\"b\\"\\\\x",method="chisquare",'
        + 'model="churn",version="2"} 0.5\n'
        + head("mlmon_reference", "gauge", "mlmon_reference_info")
        + 'mlmon_reference_info{fingerprint="abc123",model="churn",version="2"} 1.0\n'
        + BUILD_INFO
    )
    # published out of order: the exposition sorts models and follows the catalogue's family order
    assert exposition(fraud, churn) == expected


def test_build_info_is_always_present() -> None:
    assert exposition() == BUILD_INFO
    assert exposition(Snapshot("m", "1")) == BUILD_INFO


def test_build_figure_from_a_model_does_not_duplicate_build_info() -> None:
    text = exposition(Snapshot("m", "1", (Figure("mlmon_build", 1.0), Figure("mlmon_accuracy_ratio", 0.5))))
    assert text.endswith(BUILD_INFO)
    assert text.count("# TYPE mlmon_build_info") == 1
    assert text.count("mlmon_build_info{") == 1


def test_unknown_figure_is_skipped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    results = Results()
    results.publish(Snapshot("m", "1", (Figure("mlmon_not_a_family", 1.0), Figure("mlmon_accuracy_ratio", 0.7))))
    registry = build_registry(results)
    with caplog.at_level(logging.WARNING, logger="exporter.collector"):
        first, _ = render(registry, None)
        second, _ = render(registry, None)
    assert first == second
    text = first.decode()
    assert "mlmon_not_a_family" not in text
    assert 'mlmon_accuracy_ratio{model="m",version="1"} 0.7\n' in text
    assert [r.getMessage() for r in caplog.records if "mlmon_not_a_family" in r.getMessage()] == [
        "figure mlmon_not_a_family is not a catalogue family a model may publish; not exported"
    ]


def test_figure_lacking_a_label_is_skipped() -> None:
    text = exposition(
        Snapshot(
            "m",
            "1",
            (
                Figure("mlmon_feature_missing_ratio", 0.5),
                Figure("mlmon_feature_missing_ratio", 0.1, {"feature": "age"}),
                Figure("mlmon_class_recall_ratio", 0.3, {"feature": "age"}),
            ),
        )
    )
    samples = [line for line in text.splitlines() if line.startswith("mlmon_feature_missing_ratio")]
    assert samples == ['mlmon_feature_missing_ratio{feature="age",model="m",version="1"} 0.1']
    assert "mlmon_class_recall_ratio" not in text


def test_duplicate_series_last_wins() -> None:
    text = exposition(
        Snapshot(
            "m",
            "1",
            (
                Figure("mlmon_accuracy_ratio", 0.1),
                Figure("mlmon_feature_drift_statistic", 0.2, {"feature": "age", "method": "ks"}),
                Figure("mlmon_accuracy_ratio", 0.9),
                Figure("mlmon_feature_drift_statistic", 0.4, {"feature": "age", "method": "ks"}),
            ),
        )
    )
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples == [
        'mlmon_accuracy_ratio{model="m",version="1"} 0.9',
        'mlmon_feature_drift_statistic{feature="age",method="ks",model="m",version="1"} 0.4',
        f'mlmon_build_info{{version="{__version__}"}} 1.0',
    ]


def test_openmetrics_is_negotiated() -> None:
    results = Results()
    results.publish(Snapshot("m", "1", (Figure("mlmon_predictions", 3.0),)))
    body, content_type = render(build_registry(results), OPENMETRICS)
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    text = body.decode()
    assert text.endswith("# EOF\n")
    assert "# TYPE mlmon_predictions counter\n" in text
    assert 'mlmon_predictions_total{model="m",version="1"} 3.0\n' in text


# plausible values for every label beyond model and version
LABEL_VALUES = {
    "feature": "age",
    "method": "ks",
    "class": "churned",
    "kind": "missing_column",
    "reason": "unreadable",
    "calculator": "performance",
    "metric": "accuracy",
    "fingerprint": "3f2a9c1d",
    "source": "batches",
}


def figure_for(spec: MetricSpec, scale: float) -> Figure | HistogramFigure:
    labels = {name: LABEL_VALUES[name] for name in spec.labels if name not in MODEL}
    if spec.kind == "histogram":
        buckets = ((0.1, 2 * scale), (0.5, 5 * scale), (1.0, 9 * scale), (INF, 10 * scale))
        return HistogramFigure(spec.name, buckets, 4.5 * scale, labels)
    if spec.kind == "counter":
        return Figure(spec.name, 40 * scale, labels)
    return Figure(spec.name, 0.25 * scale, labels)


def realistic_exposition() -> str:
    # the build family is the collector's own and always present; the config reload families are
    # the exporter's, not a model's
    published = [spec for spec in SPECS if "model" in spec.labels]
    exporter_wide = tuple(figure_for(spec, 1.0) for spec in SPECS if spec.name != "mlmon_build" and not spec.labels)
    return exposition(
        Snapshot("churn", "2", tuple(figure_for(spec, 1.0) for spec in published)),
        Snapshot("fraud", "1", tuple(figure_for(spec, 2.0) for spec in published)),
        exporter_wide=exporter_wide,
    )


def test_every_catalogue_family_is_exposed() -> None:
    lines = realistic_exposition().splitlines()
    for spec in SPECS:
        # counters are created without a timestamp, so `_created` is not exposed
        for name in (n for n in spec.exposed_names if not n.endswith("_created")):
            assert any(line.startswith((name + "{", name + " ")) for line in lines), name


def test_promtool_check_metrics_is_clean() -> None:
    promtool = require_binary("promtool")
    done = subprocess.run(
        [promtool, "check", "metrics"], input=realistic_exposition(), capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@pytest.fixture(scope="module")
def server() -> Iterator[MetricsServer]:
    """One server for the module: stopping one waits out the serving loop's half-second poll."""
    results = Results()
    results.publish(Snapshot("m", "1", (Figure("mlmon_accuracy_ratio", 0.75),)))
    started = MetricsServer(build_registry(results), "127.0.0.1:0", ["m:1"])
    started.start()
    try:
        yield started
    finally:
        started.stop()


# no proxy from the environment may stand between the test and the loopback server
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(server: MetricsServer, path: str, accept: str | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", headers={"Accept": accept or "*/*"})
    try:
        with OPENER.open(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_server_metrics(server: MetricsServer) -> None:
    status, content_type, body = get(server, "/metrics")
    assert (status, content_type) == (200, TEXT)
    assert b'mlmon_accuracy_ratio{model="m",version="1"} 0.75\n' in body
    status, content_type, body = get(server, "/metrics", OPENMETRICS)
    assert status == 200 and content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_server_landing_page(server: MetricsServer) -> None:
    status, content_type, body = get(server, "/")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert b'<a href="/metrics">' in body
    assert b"<li>m:1</li>" in body


@pytest.mark.parametrize(("path", "status", "body"), [("/-/healthy", 200, b"OK"), ("/nowhere", 404, b"not found")])
def test_server_health_and_unknown_path(server: MetricsServer, path: str, status: int, body: bytes) -> None:
    got_status, _, got_body = get(server, path)
    assert (got_status, got_body.strip()) == (status, body)


def test_server_on_ipv6_loopback() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    started = MetricsServer(build_registry(Results()), "[::1]:0", [])
    started.start()
    try:
        with OPENER.open(f"http://[::1]:{started.port}/-/healthy", timeout=5) as response:
            assert response.status == 200
    finally:
        started.stop()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (":9877", ("0.0.0.0", 9877)),
        ("127.0.0.1:9877", ("127.0.0.1", 9877)),
        ("[::1]:9877", ("::1", 9877)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_parse_listen_address(address: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(address) == expected


@pytest.mark.parametrize("address", ["9877", "localhost", "127.0.0.1:", "127.0.0.1:http", "", ":70000", ":-1"])
def test_parse_listen_address_refuses(address: str) -> None:
    with pytest.raises(ValueError, match="listen-address"):
        parse_listen_address(address)


def test_the_exporter_registry_adds_process_and_python_metrics() -> None:
    body, _ = render(build_registry(Results(), runtime=True), None)
    text = body.decode()
    assert "\npython_info{" in text
    assert "\nprocess_cpu_seconds_total " in text
    assert "process_" not in render(build_registry(Results()), None)[0].decode()


def test_exporter_wide_figures_carry_no_model_label_and_model_families_are_refused_there() -> None:
    text = exposition(
        exporter_wide=(Figure("mlmon_config_last_reload_successful", 1.0), Figure("mlmon_accuracy_ratio", 0.5))
    )
    assert "\nmlmon_config_last_reload_successful 1.0\n" in text
    assert "mlmon_accuracy_ratio" not in text
