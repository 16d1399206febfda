"""`mlmon history export` and `mlmon history show`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from exporter.config import Config, load_config
from exporter.history.frame import write_csv, write_parquet
from exporter.history.load import history_frame, parse_time
from exporter.history.show import show
from exporter.state import StateStore


def time_argument(text: str) -> float:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_range_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "--config.file", dest="config", required=True, type=Path)
    parser.add_argument("--from", dest="since", type=time_argument, help="first run time, UTC (ISO 8601)")
    parser.add_argument("--to", dest="until", type=time_argument, help="last run time, UTC (ISO 8601)")
    parser.add_argument("--model", default=None, help="only this model (every version); default: all")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    history = sub.add_parser("history", help="the run history: export it or show it")
    commands = history.add_subparsers(dest="history_command", required=True)
    export = commands.add_parser("export", help="one row per run, the seed's columns first, as CSV or Parquet")
    add_range_arguments(export)
    out = export.add_mutually_exclusive_group(required=True)
    out.add_argument("--csv", type=Path, help="write a CSV here")
    out.add_argument("--parquet", type=Path, help="write a Parquet file here")
    shown = commands.add_parser("show", help="the recent runs and the seed's summary")
    add_range_arguments(shown)
    shown.add_argument("--last", type=int, default=10, help="how many recent runs to list (default 10)")


def open_state(config: Config) -> StateStore:
    if str(config.state_path) != ":memory:" and not Path(config.state_path).exists():
        raise ValueError(f"no state store at {config.state_path}: nothing has run with this config yet")
    return StateStore(config.state_path)


def selected_frame(args: argparse.Namespace) -> pd.DataFrame:
    config = load_config(args.config)
    if args.model is not None and args.model not in {m.name for m in config.models}:
        known = ", ".join(sorted({m.name for m in config.models}))
        raise ValueError(f"--model {args.model}: not a model of {args.config} (models: {known})")
    state = open_state(config)
    try:
        return history_frame(state, args.model, args.since, args.until)
    finally:
        state.close()


def run(args: argparse.Namespace) -> int:
    frame = selected_frame(args)
    if args.history_command == "export":
        if args.csv is not None:
            write_csv(frame, args.csv)
            target = args.csv
        else:
            write_parquet(frame, args.parquet)
            target = args.parquet
        print(f"{len(frame)} run(s), {len(frame.columns)} column(s) written to {target}")
        return 0
    if args.last < 1:
        raise ValueError("--last must be at least 1")
    print(show(frame, args.last, tty=sys.stdout.isatty()))
    return 0
