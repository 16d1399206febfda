"""APScheduler wiring: one job per model, never two runs of one model at once."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from exporter.job import ModelJob

log = logging.getLogger(__name__)


def _safe_run(job: ModelJob) -> None:
    try:
        job.run()
    except Exception:  # noqa: BLE001  (a crashing run must not take the scheduler thread down)
        log.exception("model %s: run failed", job.key)


def build_scheduler(jobs: list[ModelJob]) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    for job in jobs:
        schedule = job.model.schedule
        if schedule.cron is not None:
            trigger = CronTrigger.from_crontab(schedule.cron, timezone=timezone.utc)
        else:
            trigger = IntervalTrigger(seconds=schedule.interval_seconds or 60, timezone=timezone.utc)
        scheduler.add_job(
            _safe_run,
            trigger,
            args=[job],
            id=job.key,
            name=f"score {job.key}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=datetime.now(timezone.utc),
        )
    return scheduler
