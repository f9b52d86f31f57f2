"""Graph-test fixtures: Perov-5 structures from the official CSV (skipped when absent) and a
diverse set of real crystals built in code with ``Structure.from_spacegroup``."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure


def read_perov5(path: Path, limit: int) -> list[tuple[str, Structure]]:
    """First `limit` rows of an official Perov-5 CSV as (material_id, Structure)."""
    import pandas as pd

    df = pd.read_csv(path, nrows=limit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [(str(r.material_id), Structure.from_str(r.cif, fmt="cif")) for r in df.itertuples()]


@pytest.fixture(scope="session")
def perov5_test_300(perov5_dir: Path) -> list[tuple[str, Structure]]:
    """300 structures of the official Perov-5 test split."""
    path = perov5_dir / "test.csv"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    return read_perov5(path, 300)


def _sg(sg: str, lattice: Lattice, species: list[str], coords: list[list[float]]) -> Structure:
    return Structure.from_spacegroup(sg, lattice, species, coords)


def _diverse() -> dict[str, Structure]:
    """>= 25 crystals: all 7 crystal systems, a 1-atom cell, a 56-atom cell, a strongly sheared
    triclinic cell, layered hexagonal cells, open and degenerate (cospherical) geometries."""
    s: dict[str, Structure] = {}
    # cubic
    s["W_bcc_1atom"] = _sg(
        "Im-3m", Lattice.cubic(3.165), ["W"], [[0, 0, 0]]
    ).get_primitive_structure()
    s["Cu_fcc_1atom"] = _sg(
        "Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]]
    ).get_primitive_structure()
    s["NaCl"] = _sg("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    s["CsCl"] = _sg("Pm-3m", Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    s["Si_diamond"] = _sg("Fd-3m", Lattice.cubic(5.431), ["Si"], [[0, 0, 0]])
    s["BaTiO3_cubic"] = _sg(
        "Pm-3m", Lattice.cubic(4.00), ["Ba", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]]
    )
    s["CaF2"] = _sg("Fm-3m", Lattice.cubic(5.46), ["Ca", "F"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    s["GaAs_zb"] = _sg("F-43m", Lattice.cubic(5.65), ["Ga", "As"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    s["Cu2O"] = _sg("Pn-3m", Lattice.cubic(4.27), ["Cu", "O"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    s["ReO3_open"] = _sg("Pm-3m", Lattice.cubic(3.75), ["Re", "O"], [[0, 0, 0], [0.5, 0, 0]])
    s["MgAl2O4_spinel_56"] = _sg(
        "Fd-3m",
        Lattice.cubic(8.08),
        ["Mg", "Al", "O"],
        [[0, 0, 0], [0.625, 0.625, 0.625], [0.387, 0.387, 0.387]],
    )
    # tetragonal
    s["TiO2_rutile"] = _sg(
        "P4_2/mnm", Lattice.tetragonal(4.594, 2.959), ["Ti", "O"], [[0, 0, 0], [0.3048, 0.3048, 0]]
    )
    s["TiO2_anatase"] = _sg(
        "I4_1/amd", Lattice.tetragonal(3.785, 9.514), ["Ti", "O"], [[0, 0, 0], [0, 0, 0.2081]]
    )
    s["CuAu_P4mmm"] = _sg(
        "P4/mmm", Lattice.tetragonal(2.80, 3.67), ["Cu", "Au"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    # orthorhombic
    s["CaTiO3_Pnma"] = _sg(
        "Pnma",
        Lattice.orthorhombic(5.44, 7.64, 5.38),
        ["Ca", "Ti", "O", "O"],
        [[0.0065, 0.25, 0.9935], [0, 0, 0.5], [0.5711, 0.25, 0.0161], [0.2897, 0.0373, 0.7103]],
    )
    s["alphaU_Cmcm"] = _sg(
        "Cmcm", Lattice.orthorhombic(2.854, 5.869, 4.955), ["U"], [[0, 0.1025, 0.25]]
    )
    # hexagonal (layered ones included)
    s["Mg_hcp"] = _sg("P6_3/mmc", Lattice.hexagonal(3.21, 5.21), ["Mg"], [[1 / 3, 2 / 3, 0.25]])
    s["ZnO_wurtzite"] = _sg(
        "P6_3mc",
        Lattice.hexagonal(3.25, 5.21),
        ["Zn", "O"],
        [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.382]],
    )
    s["graphite_layered"] = _sg(
        "P6_3/mmc", Lattice.hexagonal(2.46, 6.71), ["C", "C"], [[0, 0, 0.25], [1 / 3, 2 / 3, 0.25]]
    )
    s["MoS2_layered"] = _sg(
        "P6_3/mmc",
        Lattice.hexagonal(3.16, 12.29),
        ["Mo", "S"],
        [[1 / 3, 2 / 3, 0.25], [1 / 3, 2 / 3, 0.621]],
    )
    # trigonal
    s["Al2O3_corundum"] = _sg(
        "R-3c", Lattice.hexagonal(4.759, 12.99), ["Al", "O"], [[0, 0, 0.3522], [0.3064, 0, 0.25]]
    )
    s["SiO2_quartz"] = _sg(
        "P3_221",
        Lattice.hexagonal(4.913, 5.405),
        ["Si", "O"],
        [[0.4697, 0, 0], [0.4135, 0.2669, 0.1191]],
    )
    s["CdI2_layered"] = _sg(
        "P-3m1", Lattice.hexagonal(4.24, 6.84), ["Cd", "I"], [[0, 0, 0], [1 / 3, 2 / 3, 0.25]]
    )
    # monoclinic
    s["ZrO2_baddeleyite"] = _sg(
        "P2_1/c",
        Lattice.monoclinic(5.15, 5.21, 5.31, 99.2),
        ["Zr", "O", "O"],
        [[0.2754, 0.0395, 0.2083], [0.0700, 0.3317, 0.3447], [0.4496, 0.7569, 0.4792]],
    )
    s["monoclinic_C2m"] = _sg(
        "C2/m",
        Lattice.monoclinic(9.0, 3.9, 6.2, 108.0),
        ["Na", "Si", "O"],
        [[0.1, 0, 0.2], [0.35, 0, 0.6], [0.4, 0.5, 0.1]],
    )
    # triclinic
    s["triclinic_P-1"] = _sg(
        "P-1",
        Lattice.from_parameters(5.1, 6.3, 7.2, 81.0, 73.0, 104.0),
        ["K", "Al", "O"],
        [[0.11, 0.23, 0.35], [0.62, 0.18, 0.77], [0.37, 0.61, 0.09]],
    )
    sheared = Lattice(np.array([[4.1, 0, 0], [3.5, 1.4, 0], [2.9, 1.1, 1.3]]))  # angles ~ 20-40 deg
    s["triclinic_sheared"] = Structure(sheared, ["Li", "F"], [[0.1, 0.2, 0.3], [0.6, 0.55, 0.7]])
    # an equivalent but strongly sheared cell of rock salt (same crystal, unreduced basis)
    nacl = s["NaCl"].get_primitive_structure()
    m = nacl.lattice.matrix
    s["NaCl_sheared_cell"] = Structure(
        Lattice(np.array([m[0], m[1] + 2 * m[0], m[2] + m[0] - m[1]])),
        nacl.species,
        nacl.cart_coords,
        coords_are_cartesian=True,
        to_unit_cell=True,
    )
    return s


@pytest.fixture(scope="session")
def diverse_structures(request: pytest.FixtureRequest) -> dict[str, Structure]:
    """Built once with `Structure.from_spacegroup` (pymatgen's SpaceGroup set-up costs ~1 s per
    group), then kept in pytest's cache keyed by this file's content."""
    import hashlib

    key = "ecn/graphs/diverse-" + hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    cache = getattr(request.config, "cache", None)  # absent under `-p no:cacheprovider`
    cached = cache.get(key, None) if cache is not None else None
    if cached is not None:
        return {k: Structure.from_dict(d) for k, d in cached.items()}
    built = _diverse()
    if cache is not None:
        cache.set(key, {k: v.as_dict() for k, v in built.items()})
    return built
