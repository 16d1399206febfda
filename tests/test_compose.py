"""The docker-compose stack and the Dockerfile: valid, private by default, wired to the files in the repo."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.binaries import require_binary

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
SERVICES = ("exporter", "prometheus", "alertmanager", "grafana")
PORTS = {"exporter": 9877, "prometheus": 9090, "alertmanager": 9093, "grafana": 3000}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def bind_mounts(name: str) -> list[tuple[str, str, str]]:
    """(host path, container path, mode) of every bind mount of a service; named volumes are left out."""
    mounts = []
    for volume in service(name).get("volumes", []):
        source, target, *mode = volume.split(":")
        if source.startswith((".", "/")):
            mounts.append((source, target, mode[0] if mode else "rw"))
    return mounts


def run_config(tmp_path: Path, password: str | None) -> subprocess.CompletedProcess[str]:
    binary = require_binary("docker-compose")
    env = {k: v for k, v in os.environ.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    if password is not None:
        env["GRAFANA_ADMIN_PASSWORD"] = password
    # An empty env file, so a developer's .env cannot supply the password behind the test's back.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
        timeout=60,
    )


def test_compose_config_is_valid(tmp_path: Path) -> None:
    result = run_config(tmp_path, "not-a-real-password")
    assert result.returncode == 0, result.stderr
    assert sorted(yaml.safe_load(result.stdout)["services"]) == sorted(SERVICES)


def test_compose_refuses_to_start_without_a_grafana_password(tmp_path: Path) -> None:
    result = run_config(tmp_path, None)
    assert result.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in result.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_bind_mounted_host_paths_exist(name: str) -> None:
    for source, _, _ in bind_mounts(name):
        assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"


@pytest.mark.parametrize("name", ("prometheus", "alertmanager", "grafana"))
def test_configuration_is_mounted_read_only(name: str) -> None:
    mounts = bind_mounts(name)
    assert mounts
    assert all(mode == "ro" for _, _, mode in mounts), mounts


def test_grafana_provisioning_points_at_the_mounted_paths() -> None:
    targets = {source.removeprefix("./"): target for source, target, _ in bind_mounts("grafana")}
    provisioning = targets["grafana/provisioning"]
    assert provisioning == "/etc/grafana/provisioning"
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/mlmon.yml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["allowUiUpdates"] is False
    assert provider["options"]["path"] == targets["grafana/dashboards"]
    datasource = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (prometheus,) = datasource["datasources"]
    assert prometheus["uid"] == "mlmon-prometheus"
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", prometheus["url"]).groups()  # type: ignore[union-attr]
    assert host in compose()["services"] and int(port) == PORTS[host]


def test_prometheus_and_alertmanager_read_their_mounted_config() -> None:
    prometheus = {target for _, target, _ in bind_mounts("prometheus")}
    assert {"/etc/prometheus/prometheus.yml", "/etc/prometheus/rules"} <= prometheus
    alertmanager = {target for _, target, _ in bind_mounts("alertmanager")}
    assert "/etc/alertmanager" in alertmanager
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in service("alertmanager")["command"]
    assert (ROOT / "prometheus/alertmanager/alertmanager.yml").is_file()


@pytest.mark.parametrize("name", SERVICES)
def test_ports_are_bound_to_localhost(name: str) -> None:
    ports = service(name)["ports"]
    assert ports == [f"127.0.0.1:{PORTS[name]}:{PORTS[name]}"]


@pytest.mark.parametrize("name", SERVICES)
def test_images_are_pinned(name: str) -> None:
    image = service(name)["image"]
    repository, _, tag = image.rpartition(":")
    assert repository and tag and tag != "latest", image


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_a_healthcheck(name: str) -> None:
    test = service(name)["healthcheck"]["test"]
    command = " ".join(test)
    assert test[0] == "CMD" and ("/-/healthy" in command or "/api/health" in command), test


@pytest.mark.parametrize(
    ("name", "needs"),
    [("prometheus", {"exporter", "alertmanager"}), ("grafana", {"prometheus"})],
)
def test_services_wait_for_healthy_dependencies(name: str, needs: set[str]) -> None:
    depends_on = service(name)["depends_on"]
    assert set(depends_on) == needs
    assert all(condition == {"condition": "service_healthy"} for condition in depends_on.values())


def test_grafana_is_locked_down() -> None:
    environment = service("grafana")["environment"]
    assert environment["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert environment["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]  # type: ignore[misc]


def test_dockerfile_runs_as_a_non_root_user_with_a_healthcheck() -> None:
    instructions = dockerfile_instructions()
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    healthchecks = [arg for op, arg in instructions if op == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "http://127.0.0.1:9877/-/healthy" in healthchecks[0]
    assert ("EXPOSE", "9877") in instructions
    assert ("ENTRYPOINT", '["mlmon"]') in instructions
    (base,) = [arg for op, arg in instructions if op == "FROM"]
    assert base.startswith("python:3.11") and not base.endswith(":latest")
