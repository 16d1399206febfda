"""The module graph: no import cycle, one registration pattern, and no file path above the sources."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import exporter.drift
import exporter.monitors
import exporter.sources
from exporter.registry import Registry

PACKAGE = Path(exporter.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Modules of the package imported when ``path`` is imported (not under TYPE_CHECKING, not in functions)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and _is_type_checking(node):
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, set(paths)) for name, path in paths.items()}


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycle = trail[trail.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_registries_are_filled_by_importing_the_package_never_lazily() -> None:
    for path in PACKAGE.rglob("*.py"):
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                lazy = [
                    n for n in names if n.split(".")[:2] in (["exporter", p] for p in ("drift", "monitors", "sources"))
                ]
                assert not lazy, f"{path.name}: {function.name} imports {lazy} lazily"


@pytest.mark.parametrize(
    ("registry", "package"),
    [
        (exporter.drift.METHODS, "drift"),
        (exporter.monitors.MONITORS, "monitors"),
        (exporter.sources.SOURCES, "sources"),
    ],
)
def test_every_pluggable_part_registers_the_same_way(registry: Registry, package: str) -> None:
    """Each package's __init__ imports every member module, and each member registers with the package registry."""
    assert isinstance(registry, Registry)
    folder = PACKAGE / package
    members = {p.stem for p in folder.glob("*.py")} - {"__init__", "registry"}
    imported = _imports(folder / "__init__.py", {f"exporter.{package}.{m}" for m in members})
    registering = {m for m in members if "@register" in (folder / f"{m}.py").read_text()}
    assert {f"exporter.{package}.{m}" for m in registering} <= imported
    assert len(registry) >= len(registering)
    for member in members:
        assert "registry import" in (folder / f"{member}.py").read_text() or member not in registering


def test_nothing_above_the_sources_knows_a_batch_by_its_path() -> None:
    for path in PACKAGE.rglob("*.py"):
        if "sources" in path.parts:
            continue
        text = path.read_text()
        assert "ref.path" not in text and "source.path" not in text, path
