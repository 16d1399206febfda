"""`--shard i/n`: every model on exactly one replica, chosen by a stable hash of its name."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from exporter.app import Runtime
from exporter.cli import main
from exporter.config import load_config
from exporter.sharding import Shard

from helpers import write_project

NAMES = [f"model-{i}" for i in range(300)]


def _expected_shard(name: str, count: int) -> int:
    # the first 8 bytes of the SHA-256 of the name, big-endian, modulo the shard count
    return int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:16], 16) % count


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_every_model_belongs_to_exactly_one_shard(count: int) -> None:
    shards = [Shard(index, count) for index in range(count)]
    for name in NAMES:
        owners = [shard.index for shard in shards if shard.owns(name)]
        assert owners == [_expected_shard(name, count)]
    # spread like a uniform draw: every replica within five standard deviations of an equal share
    sizes = [sum(shard.owns(name) for name in NAMES) for shard in shards]
    spread = 5 * (len(NAMES) * (1 / count) * (1 - 1 / count)) ** 0.5
    assert all(abs(size - len(NAMES) / count) <= spread for size in sizes), sizes


@pytest.mark.parametrize(("text", "shard"), [("0/3", Shard(0, 3)), ("2/3", Shard(2, 3)), (" 0/1 ", Shard(0, 1))])
def test_parse(text: str, shard: Shard) -> None:
    assert Shard.parse(text) == shard


@pytest.mark.parametrize("text", ["3/3", "1/0", "-1/3", "1", "a/b", "1/2/3", ""])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="--shard"):
        Shard.parse(text)


def _fleet(root: Path, names: list[str]) -> Path:
    config = write_project(root, model_overrides={"reference_path": None})
    data = yaml.safe_load(config.read_text())
    template = data["models"][0]
    data["models"] = [{**template, "name": name} for name in names]
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def test_run_once_scores_only_the_shards_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["fraud", "churn", "ranking", "pricing", "search"]
    config = _fleet(tmp_path / "project", names)
    for index in range(2):
        assert main(["run-once", "--config", str(config), "--shard", f"{index}/2"]) == 0
        lines = capsys.readouterr().out.splitlines()[1:]
        shown = {line.split()[0] for line in lines if line and not line.startswith("ALERT ")}
        assert shown == {name for name in names if _expected_shard(name, 2) == index}


def test_a_reload_keeps_the_shard(tmp_path: Path) -> None:
    names = ["fraud", "churn", "ranking", "pricing", "search"]
    path = _fleet(tmp_path / "project", names)
    shard = Shard(1, 2)
    runtime = Runtime(shard.select(load_config(path)), path, shard=shard)
    try:
        owned = sorted(f"{name}:1" for name in names if _expected_shard(name, 2) == 1)
        assert sorted(runtime.models()) == owned
        data = yaml.safe_load(path.read_text())
        data["models"].append({**data["models"][0], "name": "added"})
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        assert runtime.reload() is None
        if _expected_shard("added", 2) == 1:
            owned = sorted([*owned, "added:1"])
        assert sorted(runtime.models()) == owned
    finally:
        runtime.shutdown()


def test_a_bad_shard_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run-once", "--config", str(tmp_path / "c.yml"), "--shard", "2/2"])
    assert exit_.value.code == 2
    assert "between 0 and n - 1" in capsys.readouterr().err


def test_the_readme_remote_write_example_is_a_valid_prometheus_config(tmp_path: Path) -> None:
    import subprocess

    from support.binaries import require_binary

    promtool = require_binary("promtool")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("# prometheus.yml\n")
    example = readme[start : readme.index("```", start)]
    config = yaml.safe_load(example)
    assert config["remote_write"][0]["url"].endswith("/api/v1/receive")
    (tmp_path / "prometheus.yml").write_text(example)
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
