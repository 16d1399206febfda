"""The README stays true: its metric table is the catalogue's, and its quick start is two commands."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.docs import BEGIN, END, metric_table

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_the_metric_table_is_generated_from_the_catalogue() -> None:
    assert README[README.index(BEGIN) : README.index(END) + len(END)] == metric_table()


def test_the_quick_start_is_exactly_make_demo_and_make_test() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    assert block.group(1).split("\n")[:-1] == ["make demo", "make test"]


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (REPO / "Makefile").read_text()
    for target in set(re.findall(r"`make (\w+)`", README)):
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_the_readme_pictures_exist() -> None:
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert (REPO / image).is_file(), image
