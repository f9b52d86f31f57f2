"""The package's layers import one way and no module takes part in an import cycle.

Read from the source with ``ast`` (every ``import``, module-level or inside a function, since a
lazy import is still a dependency), so the check costs no imports and sees what a run of the
code might never reach. The layer order is the one the design states:
data -> graphs -> symmetry -> nn -> inference -> train -> experiments -> cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: Layer of each top-level part of ``ecn`` (a higher number may import a lower one, never the
#: reverse). ``bench`` (benchmarks over models and training steps) sits where its imports put it;
#: ``testing`` (the checks shipped for users) sits above ``inference`` because its crystal-level
#: checks predict through ``ecn.inference.Predictor``, the path users take (the perturbations
#: ``inference.check`` needs live in ``graphs.perturb``, so nothing below imports ``testing``).
LAYERS: dict[str, float] = {
    "_version": 0,
    "_spglib": 0,
    "_moyo": 0,
    "io": 0,
    "settings": 0,
    "elements": 0,
    "data": 1,
    "graphs": 2,
    "symmetry": 3,
    "nn": 4,
    "inference": 5,
    "testing": 5.5,
    "train": 6,
    "experiments": 7,
    "bench": 7,
    "cli": 8,
}


#: Cycles that exist and are waiting for their fix, each with why; the test fails when a new
#: one appears and when one listed here is gone (then delete its entry).
KNOWN_CYCLES: dict[tuple[str, ...], str] = {}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "ecn").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """ecn modules `name` imports (``from pkg import sub`` counts as the submodule ``pkg.sub``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def _layer(module: str) -> float:
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else LAYERS["_version"]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {m.split(".")[1] for m in _modules() if m != "ecn"}
    assert parts <= set(LAYERS), f"give these a layer: {sorted(parts - set(LAYERS))}"


def test_no_import_cycle() -> None:
    found = {tuple(c) for c in _cycles(_graph())}
    assert found - set(KNOWN_CYCLES) == set(), "new import cycle"
    assert set(KNOWN_CYCLES) - found == set(), "fixed: remove it from KNOWN_CYCLES"


def test_lower_layers_do_not_import_higher_ones() -> None:
    upward = [
        f"{m} -> {d}"
        for m, deps in _graph().items()
        if m != "ecn"  # the package root re-exports load_model (a lazy import)
        for d in deps
        if _layer(d) > _layer(m)
    ]
    assert upward == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_cycle_finder_finds_a_cycle(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    """Negative control: the finder reports a three-module cycle and nothing in a chain."""
    assert _cycles(graph) == expected


def test_import_reader_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """Negative control: an import inside a function and a relative one are both edges."""
    pkg = tmp_path / "ecn" / "inference"
    pkg.mkdir(parents=True)
    path = pkg / "x.py"
    path.write_text("def f():\n    from ecn.train import record\n\nfrom . import y\n")
    known = {"ecn.inference.x", "ecn.inference.y", "ecn.train", "ecn.train.record"}
    assert _imports("ecn.inference.x", path, known) == {"ecn.train.record", "ecn.inference.y"}
