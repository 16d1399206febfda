"""The shipped Alertmanager config with every channel replaced by one local webhook.

The route tree, grouping and inhibition stay as shipped, so what reaches the webhook is what the
project's routing would deliver; only the channels and the waits change. The demo uses it to print
notifications in the terminal, and the live tests to count them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

SHIPPED = Path(__file__).resolve().parents[2] / "prometheus" / "alertmanager"


def local_config(webhook_url: str, wait: str = "1s", interval: str = "1s", repeat: str = "1h") -> dict[str, Any]:
    """``alertmanager.yml`` delivering every routed notification, firing and resolved, to ``webhook_url``.

    ``wait`` and ``interval`` replace every ``group_wait`` and ``group_interval``: the demo's day lasts
    seconds, so minutes of batching would merge a whole episode into one message.
    """
    config = yaml.safe_load((SHIPPED / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        channels = [key for key in receiver if key.endswith("_configs")]
        for key in channels:
            del receiver[key]
        if channels:
            receiver["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
    config["templates"] = [str(SHIPPED / "templates" / "*.tmpl")]
    for key in [k for k in config.get("global", {}) if k.startswith("smtp_")]:
        del config["global"][key]

    def speed_up(route: dict[str, Any]) -> None:
        route["group_wait"], route["group_interval"], route["repeat_interval"] = wait, interval, repeat
        for child in route.get("routes", []):
            speed_up(child)

    speed_up(config["route"])
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exporter.mixin.alertmanager",
        description="Write the shipped Alertmanager config with every channel sent to one local webhook.",
    )
    parser.add_argument("--webhook", required=True, help="URL every notification is posted to")
    parser.add_argument("--out", type=Path, required=True, help="the alertmanager.yml to write")
    parser.add_argument("--group-wait", default="1s", help="every group_wait (default %(default)s)")
    parser.add_argument("--group-interval", default="1s", help="every group_interval (default %(default)s)")
    args = parser.parse_args(argv)
    config = local_config(args.webhook, wait=args.group_wait, interval=args.group_interval)
    args.out.write_text(yaml.safe_dump(config, sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
