"""docs/reliability.md names, for each guarantee, the test that proves it: every one must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"


def _references() -> list[tuple[str, str]]:
    """(file, test) for every reference; ``::test`` alone means the file named last in the same line."""
    found = []
    for line in DOC.read_text().splitlines():
        current = None
        for path, test in re.findall(r"`((?:tests|prometheus)/[^`:]+)?(?:::(test_\w+))?`", line):
            current = path or current
            if test:
                assert current is not None, line
                found.append((current, test))
            elif path:
                found.append((path, ""))
    return found


def test_every_test_the_reliability_doc_names_exists() -> None:
    references = _references()
    assert len(references) > 40
    for path, test in references:
        source = ROOT / path
        assert source.exists(), path
        if test:
            assert re.search(rf"^def {test}\(", source.read_text(), re.MULTILINE), f"{path}::{test}"
