"""The `mp` registry entry: name, targets (Table 1), default graph settings, split names, notes.

`ecn.data.registry.DATASETS["mp"]` is built from these constants.
"""

from __future__ import annotations

from typing import Any

from ecn.data.types import Target

NAME = "mp"

# Default graph settings of this dataset (keys of ecn.graphs.GraphSettings).
GRAPH_SETTINGS: dict[str, Any] = {"strategy": "voronoi_radii", "hubbard_u": True}

DESCRIPTION = (
    "Materials Project (36,737-structure CSV or a mp-api summary dump), curated as "
    "paper §8; paper or seeded random split"
)
DEFAULT_TARGET = "e_form"
SPLITS: tuple[str, ...] = ("train", "val", "test", "random:train", "random:val", "random:test")
NOTES = (
    "Splits: train/val/test = the paper's own id lists intersected with our curated rows; "
    "random:<part> = seeded (0) 80/10/10 of the curated rows (other seeds: "
    "ecn.data.mp.load_mp('random<seed>:<part>')). The CSV is an MP release from ~2020, not "
    "v2021.05, so about a third of the paper's training set is available. Hubbard U: "
    "oxides/fluorides with Co, Cr, Fe, Mn, Mo, Ni, V or W (ecn.elements.hubbard_u_flag)."
)


# Table 1 columns; `source` is the raw MP field each is derived from (see `derive_targets`).
TARGETS: tuple[Target, ...] = (
    Target(
        "e_form",
        "eV/atom",
        "regression",
        "formation energy per atom E",
        source="formation_energy_per_atom",
    ),
    Target("e_fermi", "eV", "regression", "Fermi energy E_F", source="efermi"),
    Target(
        "band_gap",
        "eV",
        "regression",
        "band gap E_g of insulators (band_gap > 0; metals are NaN)",
        source="band_gap",
    ),
    Target(
        "is_metal",
        "",
        "classification",
        "1 = metal (band_gap == 0), 0 = non-metal",
        source="band_gap",
    ),
    Target(
        "magmom_per_atom",
        "μB/atom",
        "regression",
        "magnetic moment per atom M = |total_magnetization| / n_sites",
        source="total_magnetization",
    ),
)
TARGET_NAMES: tuple[str, ...] = tuple(t.name for t in TARGETS)
