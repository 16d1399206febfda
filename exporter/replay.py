"""`mlmon replay FILE...`: read batches again that mlmon already processed.

A batch file is known by its content, so a file copied back into a watched folder is not read
again; replay forgets the content of each file given (for every model, or one), so the next run
reads it again wherever it lies in a watched folder. Its rows are then scored, and counted, again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from exporter.config import load_config
from exporter.sources.files import content_key, legacy_content_key
from exporter.state import StateStore


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    replay = sub.add_parser("replay", help="read already processed batch files again on the next run")
    replay.add_argument("--config", "--config.file", dest="config", required=True, type=Path)
    replay.add_argument("--model", default=None, help="only this model (every version); default: all")
    replay.add_argument("files", nargs="+", type=Path, help="the batch or label files to read again")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    models = [m for m in config.models if args.model is None or m.name == args.model]
    if not models:
        print(f"mlmon: no model named {args.model}")
        return 2
    state = StateStore(config.state_path)
    try:
        for path in args.files:
            # recorded under the key this version makes, or under the one earlier versions made
            keys = (content_key(path), legacy_content_key(path))
            for model in models:
                forgotten = sum(state.forget_batches(f"{model.name}:{model.version}", key + "|") for key in keys)
                if forgotten:
                    print(f"{model.name} {model.version}: {path.name} is read again on the next run")
    finally:
        state.close()
    return 0
