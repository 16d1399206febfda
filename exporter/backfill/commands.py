"""`mlmon backfill`: history, a CSV or a replay into OpenMetrics and TSDB blocks; recording rules too."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timezone
from pathlib import Path

from exporter.backfill import openmetrics, promtool, rules
from exporter.backfill.replay import replay
from exporter.backfill.sources import from_csv
from exporter.history.commands import checked_config, stored_runs, time_argument
from exporter.progress import Progress
from exporter.prometheus_api import PrometheusAPI
from exporter.state import StoredRun

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d|w)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DEFAULT_RULES = Path("prometheus/rules/mlmon-recording.yml")


def duration(text: str) -> float:
    match = _DURATION.match(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 30s, 5m, 1h, 1d)")
    return float(match.group(1)) * _UNIT[match.group(2)]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    backfill = sub.add_parser(
        "backfill",
        help="turn history into Prometheus data: OpenMetrics with timestamps and TSDB blocks",
        description="Writes OUT/mlmon.om and, where promtool is installed, TSDB blocks in OUT/blocks. "
        "With --rules and --prometheus-url it backfills recording rules instead.",
    )
    backfill.add_argument("--out", required=True, type=Path, help="output folder")
    backfill.add_argument("--config", "--config.file", dest="config", type=Path, help="the mlmon config")
    source = backfill.add_mutually_exclusive_group()
    source.add_argument("--csv", type=Path, help="a CSV of the seed's shape (date, accuracy, prediction_volume, ...)")
    source.add_argument("--replay", type=Path, help="a folder of archived batches to score again, at their own times")
    source.add_argument("--rules", type=Path, nargs="?", const=DEFAULT_RULES, help="backfill these recording rules")
    backfill.add_argument("--model", help="only this model; names the model of a CSV without a model column")
    backfill.add_argument("--version", dest="model_version", help="version for a CSV without a version column")
    backfill.add_argument("--from", dest="since", type=time_argument, help="start, UTC (ISO 8601)")
    backfill.add_argument("--to", dest="until", type=time_argument, help="end, UTC (ISO 8601)")
    backfill.add_argument("--step", type=duration, default=60.0, help="sample spacing, as a scrape (default 1m)")
    backfill.add_argument(
        "--max-hold", type=duration, help="hold a run's values at most this long (default: twice the usual gap)"
    )
    backfill.add_argument("--max-block-duration", default="24h", help="promtool's block length (default 24h)")
    backfill.add_argument("--prometheus-url", help="with --rules: the Prometheus holding the backfilled series")
    backfill.add_argument("--eval-interval", default="60s", help="with --rules: rule evaluation step (default 60s)")
    backfill.add_argument(
        "--rule", dest="only_rules", action="append", help="with --rules: only this recorded series (repeatable)"
    )


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _copy_step(blocks: Path, first: float, last: float) -> str:
    return (
        f"Next: copy the blocks into Prometheus's data folder (its --storage.tsdb.path), e.g.\n"
        f"  cp -r {blocks}/* <storage.tsdb.path>/\n"
        f"Prometheus loads them at its next block reload, or at a restart. Keep its"
        f" --storage.tsdb.retention.time longer than the backfilled range ({_stamp(first)} to {_stamp(last)}),"
        f" or it deletes them."
    )


def _runs(args: argparse.Namespace) -> list[StoredRun]:
    if args.csv is not None:
        return [
            run
            for run in from_csv(args.csv, args.model, args.model_version)
            if (args.since is None or run.run_at >= args.since) and (args.until is None or run.run_at <= args.until)
        ]
    if args.config is None:
        raise ValueError("--config is needed to backfill the run history or a replay")
    config = checked_config(args.config, args.model)
    if args.replay is not None:
        models = [m for m in config.models if args.model in (None, m.name)]
        if len(models) != 1:
            raise ValueError("--replay scores the batches of one model: name it with --model")
        (model,) = models
        count = len(list(args.replay.iterdir())) if args.replay.is_dir() else 0
        with Progress(count, f"replay {model.name}") as bar:
            replayed = replay(model, args.replay, args.out, bar.advance)
        return [r for r in replayed if (args.since or -1e18) <= r.run_at <= (args.until or 1e18)]
    return stored_runs(config, args.model, args.since, args.until)


def run(args: argparse.Namespace) -> int:
    if args.rules is not None:
        return run_rules(args)
    runs = _runs(args)
    if not runs:
        raise ValueError("nothing to backfill: no runs in that selection")
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "mlmon.om"
    partial = target.with_suffix(".om.tmp")
    total = openmetrics.count_samples(runs, args.step, args.max_hold)
    with Progress(total, "openmetrics") as bar, partial.open("w") as out:
        written = openmetrics.write(runs, out, args.step, args.max_hold, bar.advance)
    partial.replace(target)
    first, last = min(r.run_at for r in runs), max(r.run_at for r in runs)
    models = len({(r.name, r.version) for r in runs})
    print(f"{written} sample(s) of {len(runs)} run(s), {models} model(s), written to {target}")
    binary = promtool.find_promtool()
    blocks = args.out / "blocks"
    if binary is None:
        command = promtool.openmetrics_command("promtool", target, blocks, args.max_block_duration)
        print(f"promtool is not installed; build the blocks with:\n  {' '.join(command)}")
    else:
        built = promtool.blocks_from_openmetrics(binary, target, blocks, args.max_block_duration)
        print(f"{len(built)} TSDB block(s) built in {blocks} with promtool")
    print(_copy_step(blocks, first, last))
    return 0


def run_rules(args: argparse.Namespace) -> int:
    if args.prometheus_url is None or args.since is None or args.until is None:
        raise ValueError("--rules needs --prometheus-url, --from and --to")
    if args.until <= args.since:
        raise ValueError("--to must be after --from")
    binary = promtool.find_promtool()
    if binary is None:
        raise ValueError("backfilling recording rules needs promtool (Debian: apt-get install prometheus)")
    api = PrometheusAPI(args.prometheus_url)
    plan = rules.plan(rules.recording_rules(args.rules), api, args.since, args.until, args.only_rules)
    for name in plan.present:
        print(f"{name}: already in Prometheus, skipped")
    for name in plan.no_input:
        print(f"{name}: Prometheus holds none of its input series in the range, skipped")
    blocks = args.out / "rule-blocks"
    if plan.now:
        chosen = args.out / "rules-now.yml"
        rules.write_rules(plan.now, chosen)
        built = promtool.blocks_from_rules(
            binary, chosen, args.prometheus_url, args.since, args.until, blocks, args.eval_interval
        )
        names = ", ".join(str(rule["record"]) for rule in plan.now)
        print(f"{len(plan.now)} rule(s) backfilled into {len(built)} block(s) in {blocks}: {names}")
        print(_copy_step(blocks, args.since, args.until))
    if plan.later:
        print(
            f"{len(plan.later)} rule(s) read recorded series Prometheus does not hold yet: {', '.join(plan.later)}."
            " Once the blocks above are loaded, run this command again."
        )
    if not plan.now and not plan.later:
        print("every recording rule is in Prometheus already; nothing to do")
    return 0
