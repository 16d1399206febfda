"""Building TSDB blocks with promtool, when it is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class PromtoolError(ValueError):
    """promtool ran and failed; the message carries what it said."""


def find_promtool() -> str | None:
    return shutil.which("promtool")


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise PromtoolError(f"{' '.join(command[:4])} failed ({done.returncode}): {' | '.join(said)}")
    return done.stdout


def openmetrics_command(promtool: str, source: Path, blocks: Path, max_block_duration: str) -> list[str]:
    return [
        promtool,
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        f"--max-block-duration={max_block_duration}",
        str(source),
        str(blocks),
    ]


def blocks_from_openmetrics(promtool: str, source: Path, blocks: Path, max_block_duration: str = "24h") -> list[Path]:
    """Blocks built from an OpenMetrics file; returns the new block folders."""
    blocks.mkdir(parents=True, exist_ok=True)
    before = set(blocks.iterdir())
    _run(openmetrics_command(promtool, source, blocks, max_block_duration))
    return sorted(set(blocks.iterdir()) - before)


def rules_command(
    promtool: str, rules: Path, url: str, start: float, end: float, blocks: Path, eval_interval: str
) -> list[str]:
    return [
        promtool,
        "tsdb",
        "create-blocks-from",
        "rules",
        f"--start={int(start)}",
        f"--end={int(end)}",
        f"--url={url}",
        f"--output-dir={blocks}",
        f"--eval-interval={eval_interval}",
        str(rules),
    ]


def blocks_from_rules(
    promtool: str, rules: Path, url: str, start: float, end: float, blocks: Path, eval_interval: str = "60s"
) -> list[Path]:
    blocks.mkdir(parents=True, exist_ok=True)
    before = set(blocks.iterdir())
    _run(rules_command(promtool, rules, url, start, end, blocks, eval_interval))
    return sorted(p for p in set(blocks.iterdir()) - before if p.is_dir())
