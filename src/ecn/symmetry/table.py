"""Generate the table "Bravais type -> |P_Lambda| -> G_Lambda cell-pair orbits -> edge colours".

Every number is computed, by brute force on the representative lattices of
:mod:`ecn.symmetry.bravais` (spglib point group -> explicit closure of ``G_Lambda`` on the 8 cells
-> orbits of cell pairs; union-find orbits of ``G_Lambda x S_2`` on node pairs), and checked
against the closed-form colouring. Usage::

    python -m ecn.symmetry.table            # print the markdown table
    python -m ecn.symmetry.table --write    # regenerate docs/symmetry_table.md and the docstring
    python -m ecn.symmetry.table --check    # exit 1 if those are out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecn.symmetry.actions import N_CELLS, cell_group, glambda_group, supercell_group
from ecn.symmetry.bravais import BRAVAIS_TYPES, representative_lattice
from ecn.symmetry.colorings import (
    GROUPS,
    cell_pair_color,
    compress_colors,
    edge_colors,
    glambda_orbit_map,
)
from ecn.symmetry.groups import n_blocks, same_partition
from ecn.symmetry.lattice import lattice_point_group

BEGIN = "<!-- BEGIN GENERATED: python -m ecn.symmetry.table --write -->"
END = "<!-- END GENERATED -->"


@dataclass(frozen=True)
class BravaisRow:
    """One row of the table (all counts computed, none typed)."""

    symbol: str
    name: str
    space_group: int
    point_group_order: int
    cell_group_order: int
    n_cell_pair_orbits: int
    orbit_sizes: tuple[int, ...]
    n_edge_colors: int


def _node_pairs(n_atoms: int) -> tuple[np.ndarray, ...]:
    """``(a_src, i_src, a_dst, i_dst)`` over all ordered node pairs ``(k, m)``, ``k`` major."""
    nodes = np.arange(N_CELLS * n_atoms)
    k, m = np.meshgrid(nodes, nodes, indexing="ij")
    k, m = k.reshape(-1), m.reshape(-1)
    return k // n_atoms, k % n_atoms, m // n_atoms, m % n_atoms


def bravais_row(symbol: str, name: str, space_group: int, lattice: np.ndarray) -> BravaisRow:
    """Compute one row by brute force and check it against the closed forms.

    Raises:
        RuntimeError: if the closed-form colouring disagrees with the brute-force orbits.
    """
    rotations = lattice_point_group(lattice)
    group = glambda_group(rotations)
    pair_orbits = group.pair_orbits_by_closure()
    orbit_map = glambda_orbit_map(rotations)
    a, b = np.meshgrid(np.arange(N_CELLS), np.arange(N_CELLS), indexing="ij")
    closed = cell_pair_color("glambda", a, b, orbit_map)
    if not same_partition(pair_orbits, closed):
        raise RuntimeError(f"{symbol}: closed-form G_Lambda colouring != brute-force orbits")
    n_atoms = 2
    node_orbits = supercell_group("glambda", n_atoms, rotations).pair_orbits()
    colors, _ = edge_colors("glambda", *_node_pairs(n_atoms), orbit_map=orbit_map)
    if not same_partition(node_orbits.reshape(-1), colors):
        raise RuntimeError(f"{symbol}: closed-form G_Lambda x S_C colouring != orbits")
    sizes = tuple(sorted(Counter(orbit_map.tolist()).values()))
    return BravaisRow(
        symbol=symbol,
        name=name,
        space_group=space_group,
        point_group_order=len(rotations),
        cell_group_order=group.order(),
        n_cell_pair_orbits=n_blocks(pair_orbits),
        orbit_sizes=sizes,
        n_edge_colors=n_blocks(node_orbits),
    )


def bravais_orbit_table() -> list[BravaisRow]:
    """Rows for the 14 Bravais types, from their representative lattices."""
    return [
        bravais_row(bt.symbol, bt.name, bt.space_group, representative_lattice(bt.symbol))
        for bt in BRAVAIS_TYPES
    ]


@dataclass(frozen=True)
class ModelGroupRow:
    """Orbit counts of a model group next to the colours ecn uses for it (n_atoms = 2)."""

    group: str
    n_cell_pair_orbits: int
    n_node_pair_orbits: int
    n_edge_colors_used: int


def model_group_table(n_atoms: int = 2) -> list[ModelGroupRow]:
    """Brute-force pair orbits of ``sn``, ``p1``, ``slambda`` vs. the colours that occur."""
    pairs = _node_pairs(n_atoms)
    rows = []
    for group in GROUPS:
        if group == "glambda":
            continue
        node_orbits = supercell_group(group, n_atoms).pair_orbits()
        if group == "sn":
            n_cell = 1
        else:
            n_cell = n_blocks(cell_group(group).pair_orbits())
        colors, _ = edge_colors(group, *pairs)
        rows.append(ModelGroupRow(group, n_cell, n_blocks(node_orbits), compress_colors(colors)[1]))
    return rows


def format_bravais_table() -> str:
    """The generated markdown (both tables and a short legend)."""
    header = (
        "| Bravais type | symbol | spglib SG | #P_Λ | #G_Λ on cells | G_Λ cell-pair orbits "
        "| orbit sizes (P-1 colours) | G_Λ × S_C edge colours (n ≥ 2) |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for r in bravais_orbit_table():
        sizes = "+".join(str(s) for s in r.orbit_sizes)
        lines.append(
            f"| {r.name} | {r.symbol} | {r.space_group} | {r.point_group_order} "
            f"| {r.cell_group_order} | {r.n_cell_pair_orbits} | {sizes} | {r.n_edge_colors} |"
        )
    lines += [
        "",
        "| model group | cell-pair orbits | node-pair orbits (n = 2) | edge colours used (n = 2) |",
        "|---|---|---|---|",
    ]
    for m in model_group_table():
        lines.append(
            f"| {m.group} | {m.n_cell_pair_orbits} | {m.n_node_pair_orbits} "
            f"| {m.n_edge_colors_used} |"
        )
    lines += [
        "",
        "#G_Λ on cells counts distinct permutations of the 8 cells (P_Λ acts mod 2, not",
        "faithfully). Orbit sizes count P-1 colours c = a XOR b per orbit; each orbit holds",
        "8 × size ordered cell pairs. `sn` (plain MPNN) uses one colour although S_N has two",
        "node-pair orbits (x = y and x ≠ y).",
    ]
    return "\n".join(lines)


def _docs_text(table: str) -> str:
    return (
        "# G_Λ cell-pair orbits of the 14 Bravais types\n\n"
        "Generated by `python -m ecn.symmetry.table --write`; do not edit by hand.\n\n"
        f"{BEGIN}\n{table}\n{END}\n"
    )


def _paths() -> tuple[Path, Path]:
    here = Path(__file__).resolve()
    return here.parents[3] / "docs" / "symmetry_table.md", here.with_name("__init__.py")


def _with_block(text: str, table: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError("generated-table markers not found")
    return pattern.sub(lambda _: f"{BEGIN}\n{table}\n{END}", text)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table, or ``--write``/``--check`` the docs file and package docstring."""
    parser = argparse.ArgumentParser(prog="python -m ecn.symmetry.table", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="regenerate docs and docstring")
    mode.add_argument("--check", action="store_true", help="exit 1 if they are out of date")
    args = parser.parse_args(argv)
    table = format_bravais_table()
    if not (args.write or args.check):
        print(table)
        return 0
    docs, init = _paths()
    if not (docs.parents[1] / "pyproject.toml").exists():
        print("--write/--check need a source checkout of ecn", file=sys.stderr)
        return 2
    targets = {docs: _docs_text(table), init: _with_block(init.read_text("utf-8"), table)}
    stale = [p for p, text in targets.items() if not p.exists() or p.read_text("utf-8") != text]
    if args.check:
        for p in stale:
            print(f"out of date: {p}", file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(targets[p], "utf-8")
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
