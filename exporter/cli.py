"""The `mlmon` command: serve, run-once, check-config, demo, reference build, history, report and backfill."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from exporter import __version__
from exporter.allocator import keep_freed_memory
from exporter.checks import check_config
from exporter.config import Config, ConfigError, load_config
from exporter.logs import FORMATS, LEVELS, GlobalFlagError, setup_logging, take_global_flags
from exporter.sharding import Shard

log = logging.getLogger("mlmon")
DEFAULT_LISTEN = ":9877"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlmon", description="Prometheus exporter for ML models in production.")
    parser.add_argument("--version", action="version", version=f"mlmon {__version__}")
    # taken out of the command line before parsing (see exporter.logs), so they work anywhere on it;
    # declared here so --help shows them
    parser.add_argument("--log.level", dest="log_level", default="info", choices=list(LEVELS))
    parser.add_argument("--log.format", dest="log_format", default="logfmt", choices=list(FORMATS))
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the scheduler and the /metrics server")
    serve.add_argument("--config", "--config.file", dest="config", required=True, type=Path)
    _web_flags(serve)
    serve.add_argument("--shard", type=_shard, default=None, metavar="I/N", help=SHARD_HELP)

    once = sub.add_parser("run-once", help="score whatever is pending once and print a summary")
    once.add_argument("--config", "--config.file", dest="config", required=True, type=Path)
    once.add_argument("--fail-on-alert", action="store_true", help="exit 1 when any threshold is breached")
    once.add_argument("--shard", type=_shard, default=None, metavar="I/N", help=SHARD_HELP)

    check = sub.add_parser("check-config", help="validate a config file and check that every model would run")
    check.add_argument("file", type=Path)

    demo = sub.add_parser("demo", help="the seed's model on drifting simulated days")
    _web_flags(demo)
    demo.add_argument("--day-seconds", type=float, default=5.0, help="seconds per simulated day (default 5)")
    demo.add_argument("--workdir", type=Path, default=None, help="where the demo keeps its files (default: a temp dir)")
    demo.add_argument("--days", type=int, default=None, help="stop feeding after this many days (default: never)")
    demo.add_argument("--start-day", type=int, default=0, help="simulated day to start from (default 0)")

    reference = sub.add_parser("reference", help="reference profile tasks")
    ref_sub = reference.add_subparsers(dest="reference_command", required=True)
    build = ref_sub.add_parser("build", help="fit and cache every model's reference profile ahead of time")
    build.add_argument("--config", "--config.file", dest="config", required=True, type=Path)
    prune = ref_sub.add_parser("prune", help="drop the stored reference profiles of models the config no longer has")
    prune.add_argument("--config", "--config.file", dest="config", required=True, type=Path)
    prune.add_argument("--dry-run", action="store_true", help="list what would be dropped, drop nothing")
    prune.add_argument(
        "--vacuum", action="store_true", help="then rewrite the state file so the disk gets the space back"
    )

    from exporter.history import commands as history

    history.add_parser(sub)
    from exporter.backfill import commands as backfill

    backfill.add_parser(sub)
    from exporter.report import commands as report

    report.add_parser(sub)
    from exporter import replay

    replay.add_parser(sub)
    return parser


def _web_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--web.listen-address", dest="listen", default=DEFAULT_LISTEN)
    parser.add_argument(
        "--web.config.file", dest="web_config", type=Path, default=None, help="TLS and basic auth (exporter-toolkit)"
    )
    parser.add_argument("--web.enable-lifecycle", dest="lifecycle", action="store_true", help="serve POST /-/reload")


def _web(args: argparse.Namespace) -> dict[str, object]:
    from exporter.webconfig import load_web_config

    web = load_web_config(args.web_config) if args.web_config is not None else None
    return {"web": web, "lifecycle": args.lifecycle}


SHARD_HELP = "only the models whose name hashes to shard I of N (counted from 0), for one of N replicas"


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _load(path: Path, shard: Shard | None = None) -> Config:
    config = load_config(path)
    if shard is None:
        return config
    config = shard.select(config)
    logging.getLogger("mlmon").info(
        "shard %s: %d model(s): %s", shard, len(config.models), [m.name for m in config.models]
    )
    return config


def cmd_check_config(path: Path) -> int:
    config = _load(path)
    problems = check_config(config)
    verdict = "OK" if not problems else f"{len(problems)} problem(s)"
    print(f"{path}: {verdict}, {len(config.models)} model(s); state in {config.state_path}")
    for model in config.models:
        schedule = model.schedule.cron or f"every {model.schedule.interval_seconds:g} s"
        window = (
            f"last {model.window.rows} rows"
            if model.window.rows
            else f"last {model.window.seconds:g} s"
            if model.window.seconds
            else "latest batch"
        )
        scored_by = model.model_path or f"served elsewhere, outputs logged in {model.prediction_column}"
        print(f"- {model.name} version {model.version} ({model.task}): {scored_by}")
        print(f"  batches from {model.source.describe()}, {schedule}; window: {window}, min_rows {model.min_rows}")
        reference = model.reference.source.describe() if model.reference is not None else model.reference_path
        print(f"  reference: {reference or 'none (no drift or estimation)'}")
        if model.labels is not None:
            print(f"  late labels from {model.labels.source.describe()}, joined on {model.id_column}")
        thresholds = ", ".join(f"{k}={v:g}" for k, v in sorted(model.effective_thresholds.items()))
        print(f"  thresholds: {thresholds}")
    for problem in problems:
        print(f"mlmon: {problem}", file=sys.stderr)
    if problems:
        print(f"{path}: {len(problems)} problem(s); the exporter would not run as configured", file=sys.stderr)
        return 1
    return 0


# run-once exit codes: 0 all well, 1 a threshold breached (with --fail-on-alert), 2 an invalid
# config, 3 a model that could not load or run, or a batch that could not be scored
EXIT_BREACH, EXIT_FAILED = 1, 3


def cmd_run_once(path: Path, fail_on_alert: bool, shard: Shard | None = None) -> int:
    from exporter.app import build_app
    from exporter.summary import breaches, table

    config = _load(path, shard)
    app = build_app(config)
    failures: list[str] = []
    try:
        for job in app.jobs:
            report = job.run()
            up = [f.value for f in report.figures if f.name == "mlmon_model_up" and hasattr(f, "value")]
            if up and up[0] == 0:
                failures.append(f"{job.key}: the model could not load or its run failed (see the log)")
            if report.failed:
                failures.append(f"{job.key}: {report.failed} batch(es) could not be scored (quarantined, see the log)")
        snapshots = app.results.snapshots()
        print(table(snapshots))
        found = [
            b
            for job in app.jobs
            for s in snapshots
            if (s.model, s.version) == (job.model.name, job.model.version)
            for b in breaches(s, job.model)
        ]
    finally:
        app.state.close()
    for breach in found:
        print(f"ALERT {breach}")
    for failure in failures:
        print(f"mlmon: FAILED {failure}", file=sys.stderr)
    if failures:
        return EXIT_FAILED
    return EXIT_BREACH if fail_on_alert and found else 0


def cmd_reference_build(path: Path) -> int:
    from exporter.app import build_app

    config = _load(path)
    app = build_app(config)
    try:
        for job in app.jobs:
            if not job.model.has_reference:
                print(f"{job.key}: no reference_path, nothing to build")
                continue
            loaded = job.ensure_model()
            profile = job.reference.load_or_fit(loaded)
            print(f"{job.key}: reference {profile.fingerprint} ({profile.rows} rows, {len(profile.features)} features)")
    finally:
        app.state.close()
    return 0


def cmd_reference_prune(path: Path, dry_run: bool = False, vacuum: bool = False) -> int:
    """Forget the profiles of models (name:version) not in the config; a profile or array another
    model still uses stays."""
    from exporter.state import StateStore

    config = _load(path)
    if not Path(config.state_path).exists():
        print(f"no state file at {config.state_path}: nothing to prune")
        return 0
    configured = {f"{model.name}:{model.version}" for model in config.models}
    state = StateStore(config.state_path)
    try:
        before = state.reference_bytes()
        unused = [model for model in state.reference_models() if model not in configured]
        for model in unused:
            print(f"{model}: not in the config, {'would drop' if dry_run else 'dropped'} its reference profile")
            if not dry_run:
                state.forget_reference(model)
        after = state.reference_bytes()
        if not unused:
            print("nothing to prune: every stored reference profile belongs to a configured model")
        elif dry_run:
            print(f"dry run: {len(unused)} model(s); profiles hold {before / 1e6:.1f} MB")
        else:
            print(f"{len(unused)} model(s): profiles went from {before / 1e6:.1f} MB to {after / 1e6:.1f} MB")
        if vacuum and not dry_run:
            state.vacuum()
            print(f"state file rewritten: {_file_size(config.state_path) / 1e6:.1f} MB")
    finally:
        state.close()
    return 0


def _file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (Path(path), Path(f"{path}-wal")) if p.exists())


def cmd_serve(path: Path, listen: str, web: dict[str, object], shard: Shard | None = None) -> int:
    from exporter.app import serve

    return serve(_load(path, shard), listen, config_path=path, shard=shard, **web)  # type: ignore[arg-type]


def cmd_demo(
    listen: str,
    day_seconds: float,
    workdir: Path | None,
    days: int | None,
    start_day: int = 0,
    web: dict[str, object] | None = None,
) -> int:
    from exporter.app import serve
    from exporter.demo import Feeder, day_of, format_day, write_workdir

    if day_seconds <= 0:
        raise ConfigError("--day-seconds must be positive")
    workdir = workdir or Path(tempfile.mkdtemp(prefix="mlmon-demo-"))
    # one line per simulated day says what the job logs at info
    logging.getLogger("exporter.job").setLevel(max(logging.WARNING, logging.getLogger().level))
    print(f"mlmon demo: preparing the seed model in {workdir} …", flush=True)
    config_path, data = write_workdir(workdir, day_seconds)
    config = load_config(config_path)
    stop = threading.Event()

    def on_ready(server: object) -> None:
        port = server.port  # type: ignore[attr-defined]
        print(
            f"mlmon demo: metrics at http://127.0.0.1:{port}/metrics  (config {config_path},"
            f" one simulated day = {day_seconds:g}s)",
            flush=True,
        )
        Feeder(data, workdir / "incoming", day_seconds, stop, days, start_day).start()

    def on_report(report: object) -> None:
        if getattr(report, "model", "") != "breast-cancer:1":
            return
        names = getattr(report, "batch_names", [])
        day = day_of(names[-1]) if names else None
        if day is not None:
            figures = {f.name: f.value for f in report.figures if not f.labels and hasattr(f, "value")}  # type: ignore[attr-defined]
            print(format_day(day, figures), flush=True)

    return serve(config, listen, stop, on_ready, on_report, **(web or {}))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    try:
        rest, flags = take_global_flags(list(sys.argv[1:] if argv is None else argv))
    except GlobalFlagError as exc:
        print(f"mlmon: {exc}", file=sys.stderr)
        return 2
    args = _parser().parse_args(rest)
    setup_logging(flags.get("--log.level", "info"), flags.get("--log.format", "logfmt"))
    keep_freed_memory()
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"mlmon: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"mlmon: {exc}", file=sys.stderr)
        return 2


# one entry per subcommand: a new command adds its parser above and its line here
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "check-config": lambda args: cmd_check_config(args.file),
    "run-once": lambda args: cmd_run_once(args.config, args.fail_on_alert, args.shard),
    "serve": lambda args: cmd_serve(args.config, args.listen, _web(args), args.shard),
    "demo": lambda args: cmd_demo(args.listen, args.day_seconds, args.workdir, args.days, args.start_day, _web(args)),
    "reference": lambda args: (
        cmd_reference_prune(args.config, args.dry_run, args.vacuum)
        if args.reference_command == "prune"
        else cmd_reference_build(args.config)
    ),
    "history": lambda args: _history(args),
    "backfill": lambda args: _backfill(args),
    "report": lambda args: _report(args),
    "replay": lambda args: _replay(args),
}


def _replay(args: argparse.Namespace) -> int:
    from exporter import replay

    return replay.run(args)


def _history(args: argparse.Namespace) -> int:
    from exporter.history import commands as history

    return history.run(args)


def _backfill(args: argparse.Namespace) -> int:
    from exporter.backfill import commands as backfill

    return backfill.run(args)


def _report(args: argparse.Namespace) -> int:
    from exporter.report import commands as report

    return report.run(args)
