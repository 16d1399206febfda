"""The embedded default: the seed tutorial's model, fed with drifting daily batches.

The model is the seed's LogisticRegression on scikit-learn's breast-cancer data (70/30 stratified
split, random_state 42). Production rows are the held-out rows, copied many times with a little
log-normal measurement noise. Each simulated day draws a batch from that pool with weights that
depend only on the model's confidence (covariate shift): at first confident rows dominate, then
the mix moves towards the uncertain rows near the decision boundary, so accuracy and confidence
fall because the model is actually scoring harder data, not because a number was set.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io
import yaml

SEED = 42
COPIES = 60
NOISE = 0.05
REFERENCE_ROWS = 8000
DECLINE_DAYS = 10
DEGRADED_DAYS = 30
RECOVERY_DAYS = 4
CYCLE = DECLINE_DAYS + DEGRADED_DAYS + RECOVERY_DAYS
START_TILT = 5.0
END_TILT = -2.5


def progress(day: int) -> float:
    """How far into the drift a day is: 0 on day 0, 1 once degraded, back to 0 after recovery."""
    day = day % CYCLE
    if day <= DECLINE_DAYS:
        return day / DECLINE_DAYS
    if day <= DECLINE_DAYS + DEGRADED_DAYS:
        return 1.0
    return 1.0 - (day - DECLINE_DAYS - DEGRADED_DAYS) / RECOVERY_DAYS


def tilt(day: int) -> float:
    return START_TILT + (END_TILT - START_TILT) * progress(day)


def volume(day: int, rng: np.random.Generator) -> int:
    """About 500 rows on day 0 rising to 620 by day ten, with a little day-to-day noise."""
    return int(round(500 + 120 * min(day % CYCLE, DECLINE_DAYS) / DECLINE_DAYS + rng.normal(0, 4)))


@dataclass
class DemoData:
    model: object
    pool: pd.DataFrame  # features
    labels: np.ndarray
    confidence: np.ndarray
    tickets: TicketData | None = None

    def weights(self, day: int) -> np.ndarray:
        w = np.exp(tilt(day) * (self.confidence - 0.5) * 2)
        return w / w.sum()

    def batch(self, day: int, rng: np.random.Generator, rows: int | None = None) -> pd.DataFrame:
        rows = rows if rows is not None else volume(day, rng)
        index = rng.choice(len(self.pool), size=rows, replace=True, p=self.weights(day))
        frame = self.pool.iloc[index].reset_index(drop=True)
        frame.insert(0, "id", [f"d{day:05d}-{i:05d}" for i in range(rows)])
        frame["target"] = self.labels[index]
        return frame


def seed_model_and_pool() -> DemoData:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    features = pd.DataFrame(data.data, columns=data.feature_names)
    x_train, x_test, y_train, y_test = train_test_split(
        features, data.target, test_size=0.3, random_state=SEED, stratify=data.target
    )
    model = LogisticRegression(max_iter=5000)
    model.fit(x_train, y_train)
    rng = np.random.default_rng(SEED)
    pool = pd.concat([x_test] * COPIES, ignore_index=True)
    pool = pool * rng.lognormal(0.0, NOISE, size=pool.shape)
    labels = np.tile(np.asarray(y_test), COPIES)
    confidence = model.predict_proba(pool).max(axis=1)
    return DemoData(model=model, pool=pool, labels=labels, confidence=confidence)


TICKET_CLASSES = ("billing", "sales", "technical")
TICKET_REGIONS = ("north", "south", "east", "west")
TICKET_REFERENCE_ROWS = 800


class TicketData:
    """A second, multiclass model with a categorical feature, so the fleet has more than one member.

    Support tickets are routed to one of three queues from two numeric features and the customer's
    region. As days pass, the regional mix moves and a region the model never saw ("partner")
    starts to send tickets, so categorical drift and unseen categories have something to show.
    """

    def __init__(self) -> None:
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder

        rng = np.random.default_rng(SEED + 10)
        frame, labels = self.draw(rng, 3000, 0.0)
        encode = ColumnTransformer(
            [("region", OneHotEncoder(handle_unknown="ignore"), ["region"])], remainder="passthrough"
        )
        self.model = make_pipeline(encode, LogisticRegression(max_iter=2000))
        self.model.fit(frame, labels)

    @staticmethod
    def draw(rng: np.random.Generator, rows: int, drift: float) -> tuple[pd.DataFrame, np.ndarray]:
        labels = rng.choice(len(TICKET_CLASSES), size=rows, p=[0.4, 0.25, 0.35])
        centres = np.array([[0.0, 1.0], [2.0, -1.0], [-1.5, -0.5]])
        numeric = centres[labels] + rng.normal(0, 1.0 + 0.6 * drift, size=(rows, 2))
        numeric[:, 0] += 0.8 * drift
        regional = np.array([[0.5, 0.2, 0.2, 0.1], [0.1, 0.5, 0.2, 0.2], [0.2, 0.1, 0.3, 0.4]])
        cumulative = regional.cumsum(axis=1)[labels]
        picks = (rng.random(rows)[:, None] > cumulative).sum(axis=1)
        regions = np.array(TICKET_REGIONS, dtype=object)[np.minimum(picks, len(TICKET_REGIONS) - 1)]
        regions[rng.random(rows) < 0.12 * drift] = "partner"
        frame = pd.DataFrame({"wait_minutes": numeric[:, 0], "words": numeric[:, 1], "region": regions})
        return frame, np.array(TICKET_CLASSES, dtype=object)[labels]

    def batch(self, day: int, rng: np.random.Generator) -> pd.DataFrame:
        rows = int(round(150 + rng.normal(0, 5)))
        frame, labels = self.draw(rng, rows, progress(day))
        frame.insert(0, "ticket_id", [f"t{day:05d}-{i:04d}" for i in range(rows)])
        frame["queue"] = labels
        return frame


def write_workdir(workdir: Path, day_seconds: float) -> tuple[Path, DemoData]:
    """Model, reference, config and folders for the demo; returns the config path."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = seed_model_and_pool()
    # skops, the format that cannot run code on load, so the demo needs no model_sha256 pin
    skops.io.dump(data.model, workdir / "model.skops")
    rng = np.random.default_rng(SEED + 1)
    # The reference is a labelled period drawn evenly from the whole population, hard cases
    # included, so calibration for label-free estimation has seen every confidence level.
    index = rng.choice(len(data.pool), size=REFERENCE_ROWS, replace=True)
    reference = data.pool.iloc[index].reset_index(drop=True)
    reference["target"] = data.labels[index]
    reference.to_parquet(workdir / "reference.parquet", index=False)
    (workdir / "incoming").mkdir(exist_ok=True)
    tickets = TicketData()
    skops.io.dump(tickets.model, workdir / "tickets.skops")
    ticket_reference = tickets.batch(0, np.random.default_rng(SEED + 11))
    ticket_reference = pd.concat(
        [ticket_reference, *(tickets.batch(0, np.random.default_rng(SEED + 12 + i)) for i in range(6))],
        ignore_index=True,
    ).iloc[:TICKET_REFERENCE_ROWS]
    ticket_reference.drop(columns=["ticket_id"]).to_parquet(workdir / "tickets-reference.parquet", index=False)
    (workdir / "tickets").mkdir(exist_ok=True)
    config = {
        "state_path": "state/mlmon.db",
        "models": [
            {
                "name": "breast-cancer",
                "version": "1",
                "model_path": "model.skops",
                "task": "binary_classification",
                # the feeder renames each batch in once written, so there is nothing to wait for
                "source": {"type": "files", "path": "incoming", "settle_seconds": 0},
                "target_column": "target",
                "id_column": "id",
                "reference_path": "reference.parquet",
                "schedule": {"interval_seconds": day_seconds},
                "min_rows": 30,
                "thresholds": {
                    "accuracy": 0.90,
                    "mean_confidence": 0.88,
                    "precision": 0.85,
                    "recall": 0.85,
                    "f1": 0.85,
                    "labelled_rows_ratio": 0.5,
                },
            },
            {
                "name": "ticket-routing",
                "version": "3",
                "model_path": "tickets.skops",
                "task": "multiclass_classification",
                "source": {"type": "files", "path": "tickets", "settle_seconds": 0},
                "target_column": "queue",
                "id_column": "ticket_id",
                "categorical_features": ["region"],
                "reference_path": "tickets-reference.parquet",
                "schedule": {"interval_seconds": day_seconds},
                "min_rows": 30,
                "thresholds": {"accuracy": 0.70, "mean_confidence": 0.60},
            },
        ],
    }
    path = workdir / "mlmon.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    data.tickets = tickets
    return path, data


class Feeder(threading.Thread):
    """Writes one batch file per simulated day into the demo's incoming folder."""

    def __init__(
        self,
        data: DemoData,
        incoming: Path,
        day_seconds: float,
        stop: threading.Event,
        days: int | None = None,
        start_day: int = 0,
    ) -> None:
        super().__init__(name="mlmon-demo-feeder", daemon=True)
        self.data, self.incoming, self.day_seconds, self.stop = data, incoming, day_seconds, stop
        self.days, self.start_day = days, start_day
        self.rng = np.random.default_rng(SEED + 2)

    def write_day(self, day: int) -> Path:
        if self.data.tickets is not None:
            _write_atomically(self.data.tickets.batch(day, self.rng), self.incoming.parent / "tickets", day)
        return _write_atomically(self.data.batch(day, self.rng), self.incoming, day)

    def run(self) -> None:
        day = self.start_day
        while not self.stop.is_set() and (self.days is None or day < self.start_day + self.days):
            self.write_day(day)
            day += 1
            self.stop.wait(self.day_seconds)


def _write_atomically(frame: pd.DataFrame, folder: Path, day: int) -> Path:
    final = folder / f"day-{day:05d}.csv"
    partial = final.with_name(final.name + ".part")
    frame.to_csv(partial, index=False)
    os.replace(partial, final)
    return final


def day_of(name: str) -> int | None:
    stem = Path(name.split("|", 1)[0]).stem
    return int(stem.split("-", 1)[1]) if stem.startswith("day-") else None


def format_day(day: int, figures: dict[str, float]) -> str:
    def show(name: str) -> str:
        value = figures.get(name)
        return "   -  " if value is None or math.isnan(value) else f"{value:6.3f}"

    return (
        f"day {day:4d}  rows {figures.get('mlmon_batch_rows', 0):5.0f}  accuracy {show('mlmon_accuracy_ratio')}"
        f"  estimated {show('mlmon_estimated_accuracy_ratio')}  confidence {show('mlmon_mean_confidence_ratio')}"
        f"  drifted features {show('mlmon_drifted_features_ratio')}"
    )
