"""Headless Chromium (Debian's `chromium`) opening a page, with what its console said."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from support.binaries import require_binary

# with --enable-logging=stderr, every console message (log, warning, error, uncaught exception)
# is one line like:  [..:INFO:CONSOLE:1] "message", source: file:///page.html (1)
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]\s*(.*)")


@dataclass
class Opened:
    dom: str
    console: list[str]


def open_page(page: Path, workdir: Path) -> Opened:
    binary = require_binary("chromium", "chromium-browser")
    profile = workdir / "chromium-profile"
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    return Opened(done.stdout, [m.group(1) for m in map(CONSOLE.search, done.stderr.splitlines()) if m])
