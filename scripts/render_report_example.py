"""Renders docs/images/report-accuracy.png, the README's example of `mlmon report`.

Thirty simulated days of the demo are scored by the real jobs, one run a day under a clock that
moves a day at a time, so the history is the demo's own; then `mlmon report` draws it.

    .venv/bin/python scripts/render_report_example.py
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

from exporter.app import build_app
from exporter.cli import main as mlmon
from exporter.config import load_config
from exporter.demo import Feeder, write_workdir

DAYS = 30
START = 1_793_491_200.0  # 2026-11-01 00:00 UTC
TARGET = Path(__file__).resolve().parents[1] / "docs" / "images" / "report-accuracy.png"


class Clock:
    now = START

    def __call__(self) -> float:
        return self.now


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mlmon-report-") as folder:
        workdir = Path(folder)
        config_path, data = write_workdir(workdir, 86400.0)
        feeder = Feeder(data, workdir / "incoming", 0.0, threading.Event())
        clock = Clock()
        app = build_app(load_config(config_path), clock=clock)
        try:
            for day in range(DAYS):
                clock.now = START + day * 86400.0
                feeder.write_day(day)
                for job in app.jobs:
                    job.run()
        finally:
            app.state.close()
        out = workdir / "report"
        mlmon(["report", "--config", str(config_path), "--model", "breast-cancer", "--out", str(out)])
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "breast-cancer-1-accuracy.png", TARGET)
        print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
