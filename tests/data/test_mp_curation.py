"""Curation steps of paper §8 on real crystals built in code and on real MP rows."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from ecn.data import curation, mp
from ecn.elements import COVALENT_RADIUS
from ecn.settings import data_dir

# the data directory as ecn resolves it (ECN_DATA_DIR, else ../shared/data beside the repo)
MP_CSV = data_dir() / mp.MP_CSV
needs_csv = pytest.mark.skipif(not MP_CSV.is_file(), reason=f"MP CSV not available ({MP_CSV})")


# --- real crystals built in code (experimental lattice constants) ----------------------------


# Positions are written out (Wyckoff orbits expanded by hand) because
# Structure.from_spacegroup costs ~10 s per call here.

_FCC = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]


def graphite() -> Structure:
    """AB graphite (P6_3/mmc): honeycomb layers 3.35 Å apart (2D)."""
    return Structure(
        Lattice.hexagonal(2.464, 6.711),
        ["C"] * 4,
        [[0, 0, 0.25], [0, 0, 0.75], [1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]],
    )


def mos2(z: float = 0.621) -> Structure:
    """2H-MoS2 (P6_3/mmc): S-Mo-S sheets separated by a van der Waals gap (2D)."""
    return Structure(
        Lattice.hexagonal(3.160, 12.294),
        ["Mo", "Mo", "S", "S", "S", "S"],
        [
            [1 / 3, 2 / 3, 0.25],
            [2 / 3, 1 / 3, 0.75],
            [1 / 3, 2 / 3, z],
            [2 / 3, 1 / 3, z + 0.5],
            [2 / 3, 1 / 3, 1 - z],
            [1 / 3, 2 / 3, 0.5 - z],
        ],
    )


def trigonal_selenium(x: float = 0.2254) -> Structure:
    """Trigonal Se (P3_121): helical chains along c, 2.37 Å in-chain, 3.44 Å between (1D)."""
    return Structure(
        Lattice.hexagonal(4.366, 4.954),
        ["Se"] * 3,
        [[x, 0, 1 / 3], [0, x, 2 / 3], [1 - x, 1 - x, 0]],
    )


def rocksalt_nacl(a: float = 5.64) -> Structure:
    """Rock-salt NaCl (Fm-3m), conventional 8-atom cell (3D)."""
    return Structure(
        Lattice.cubic(a),
        ["Na"] * 4 + ["Cl"] * 4,
        _FCC + [[(u + 0.5) % 1, v, w] for u, v, w in _FCC],
    )


def cscl_type_nacl() -> Structure:
    """NaCl in the CsCl structure (Pm-3m): same formula, another space group."""
    return Structure(Lattice.cubic(3.3), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def silicon() -> Structure:
    """Diamond Si (Fd-3m), conventional 8-atom cell (3D)."""
    return Structure(
        Lattice.cubic(5.431),
        ["Si"] * 8,
        _FCC + [[u + 0.25, v + 0.25, w + 0.25] for u, v, w in _FCC],
    )


def iodine(y: float = 0.1543, z: float = 0.1174) -> Structure:
    """Solid I2 (Cmca): I2 molecules, 2.72 Å bond, >= 3.5 Å between molecules (0D)."""
    base = [[0, y, z], [0, -y, -z], [0, 0.5 - y, 0.5 + z], [0, 0.5 + y, 0.5 - z]]
    coords = base + [[u + 0.5, v + 0.5, w] for u, v, w in base]
    return Structure(Lattice.orthorhombic(7.18, 4.71, 9.81), ["I"] * 8, coords)


@pytest.mark.parametrize(
    "make, expected",
    [
        (graphite, 2),
        (mos2, 2),
        (trigonal_selenium, 1),
        (iodine, 0),
        (rocksalt_nacl, 3),
        (silicon, 3),
        (cscl_type_nacl, 3),
    ],
)
@pytest.mark.parametrize("method", ["radii", "crystalnn"])
def test_dimensionality_of_known_crystals(make, expected, method):
    assert curation.dimensionality(make(), method) == expected


def test_keep_3d_drops_layered_and_chain_keeps_bulk():
    items = [
        ("graphite", graphite()),
        ("MoS2", mos2()),
        ("Se-chain", trigonal_selenium()),
        ("NaCl", rocksalt_nacl()),
        ("Si", silicon()),
    ]
    facts = curation.compute_facts(items, processes=1)
    kept, step = curation.keep_3d(facts)
    assert kept["id"].tolist() == ["NaCl", "Si"]
    assert (step.rows_in, step.rows_out, step.dropped) == (5, 2, 3)
    assert set(step.dropped_ids) == {"graphite", "MoS2", "Se-chain"}
    assert "0D/1D/2D: 0/1/2" in step.note


def test_supercell_does_not_change_dimensionality():
    for s, d in [(graphite(), 2), (trigonal_selenium(), 1), (rocksalt_nacl(), 3)]:
        assert curation.dimensionality(s * (2, 1, 2)) == d


def _real_structures(n: int) -> list[tuple[str, Structure]]:
    df = pd.read_csv(MP_CSV, nrows=n, dtype={"material_id": str, "cif": str})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            (m, Structure.from_str(c, fmt="cif"))
            for m, c in zip(df.material_id, df.cif, strict=False)
        ]


@needs_csv
def test_rank_algorithm_matches_pymatgen_larsen_on_real_rows():
    """Our vectorised Larsen rank == pymatgen's get_dimensionality_larsen on the same bonds."""
    from pymatgen.analysis.dimensionality import get_dimensionality_larsen
    from pymatgen.analysis.local_env import CutOffDictNN

    for mid, s in _real_structures(30):
        els = sorted({e.symbol for e in s.composition.elements})
        cut = {
            (a, b): COVALENT_RADIUS[_z(a)] + COVALENT_RADIUS[_z(b)] + curation.BOND_TOLERANCE - 1e-9
            for a in els
            for b in els
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bonded = CutOffDictNN(cut_off_dict=cut).get_bonded_structure(s)
            ref = int(get_dimensionality_larsen(bonded))
        assert curation.dimensionality(s, "radii") == ref, mid


def _z(symbol: str) -> int:
    from ecn.elements import Z_OF

    return Z_OF[symbol]


def test_structure_facts_real_and_broken():
    f = curation.structure_facts(("nacl", rocksalt_nacl().to(fmt="cif")))
    assert (
        f["reduced_formula"],
        f["spacegroup"],
        f["nsites"],
        f["dimensionality"],
        f["error"],
    ) == ("NaCl", 225, 8, 3, "")
    bad = curation.structure_facts(("junk", "data_x\nnot a cif"))
    assert bad["error"] and bad["dimensionality"] == -1
    kept, step = curation.drop_unparsable(pd.DataFrame([f, bad]))
    assert kept["id"].tolist() == ["nacl"] and step.dropped_ids == ("junk",)


# --- duplicates, size, outliers ---------------------------------------------------------------


def _table(structs: list[tuple[str, Structure, float]]) -> pd.DataFrame:
    facts = curation.compute_facts([(i, s) for i, s, _ in structs], processes=1)
    return facts.assign(formation_energy_per_atom=[e for _, _, e in structs])


def test_duplicates_resolved_by_lowest_energy():
    df = _table(
        [
            ("rs-a", rocksalt_nacl(5.64), -2.0),
            ("rs-b", rocksalt_nacl(5.70), -2.1),  # same formula + Fm-3m: duplicate, lower E
            ("rs-nan", rocksalt_nacl(5.60), np.nan),  # missing energy never wins
            ("cscl", cscl_type_nacl(), -1.5),  # same formula, Pm-3m: a different material
            ("si", silicon(), 0.0),
        ]
    )
    kept, step = curation.drop_duplicates(df)
    assert kept["id"].tolist() == ["rs-b", "cscl", "si"]  # source order preserved
    assert step.dropped == 2 and set(step.dropped_ids) == {"rs-a", "rs-nan"}


def test_reduced_formula_key_merges_cell_sizes():
    """With the coarser 'reduced' key (mp --dedupe-key reduced) a conventional cell (Na4Cl4) and a
    primitive cell (NaCl) of rock salt are one material."""
    prim = rocksalt_nacl().get_primitive_structure()
    df = _table([("conv", rocksalt_nacl(), -2.0), ("prim", prim, -2.2)])
    kept, _ = curation.drop_duplicates(df, key=("reduced_formula", "spacegroup"))
    assert kept["id"].tolist() == ["prim"]


def test_drop_large_cells_boundary_and_real_supercell():
    big = rocksalt_nacl() * (2, 2, 2)  # 64 atoms
    small = rocksalt_nacl() * (1, 1, 6)  # 48 atoms
    df = _table([("64", big, -1.0), ("48", small, -1.0), ("8", rocksalt_nacl(), -1.0)])
    df = pd.concat([df, pd.DataFrame({"id": ["50", "51"], "nsites": [50, 51]})], ignore_index=True)
    kept, step = curation.drop_large_cells(df, max_sites=50)
    assert kept["id"].tolist() == ["48", "8", "50"]
    assert set(step.dropped_ids) == {"64", "51"}


def test_outliers_flagged_and_dropped_by_default():
    df = pd.DataFrame(
        {"id": ["a", "b", "c", "d"], "formation_energy_per_atom": [-1.0, -13.57, 5.2, np.nan]}
    )
    kept, step = curation.drop_energy_outliers(df)
    assert kept["id"].tolist() == ["a", "d"] and step.dropped == 2
    flagged, step2 = curation.drop_energy_outliers(df, drop=False)
    assert len(flagged) == 4 and flagged["outlier"].tolist() == [False, True, True, False]
    assert step2.dropped == 0 and "2 flagged" in step2.note


def test_target_counts_are_per_target():
    df = pd.DataFrame({"x": [1.0, np.nan, 3.0], "y": [np.nan, np.nan, 1.0]})
    assert curation.target_counts(df, ["x", "y"]) == {"x": 2, "y": 1}


# --- facts cache -----------------------------------------------------------------------------


def test_facts_cache_is_reused_and_resumable(tmp_path, monkeypatch):
    items = [("nacl", rocksalt_nacl()), ("si", silicon())]
    path = tmp_path / "facts.csv.gz"
    first = curation.compute_facts(items[:1], processes=1, cache_path=path)
    assert path.exists() and len(first) == 1
    calls: list[str] = []
    real = curation.structure_facts
    monkeypatch.setattr(
        curation,
        "structure_facts",
        lambda item, *a, **k: calls.append(item[0]) or real(item, *a, **k),
    )
    both = curation.compute_facts(items, processes=1, cache_path=path)
    assert calls == ["si"]  # only the missing id was computed
    assert both["id"].tolist() == ["nacl", "si"] and both["spacegroup"].tolist() == [225, 227]
    calls.clear()
    again = curation.compute_facts(items[::-1], processes=1, cache_path=path)
    assert calls == [] and again["id"].tolist() == ["si", "nacl"]


@needs_csv
def test_facts_with_two_processes_equal_serial():
    items = [(m, s.to(fmt="cif")) for m, s in _real_structures(12)]
    serial = curation.compute_facts(items, processes=1)
    parallel = curation.compute_facts(items, processes=2)
    pd.testing.assert_frame_equal(serial, parallel)


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="unknown dimensionality"):
        curation.dimensionality(silicon(), "gorai")
    with pytest.raises(ValueError, match="unique"):
        curation.compute_facts([("a", silicon()), ("a", silicon())], processes=1)


def test_funnel_markdown_and_json(tmp_path):
    fun = curation.Funnel(
        "mp",
        "test source",
        10,
        [curation.Step("deduplicate", 10, 8, "rule"), curation.Step("3D only", 8, 7, "rule")],
        targets={"e_form": 7},
        splits={"paper": {"train": 5}},
    )
    md, js = fun.write(tmp_path)
    text = md.read_text()
    assert "| deduplicate | 10 | 8 | 2 | rule |" in text and "| e_form | 7 |" in text
    import json

    d = json.loads(js.read_text())
    assert d["rows_out"] == 7 and d["steps"][1]["dropped"] == 1


def test_cell_formula_key_keeps_different_cell_sizes():
    """The paper's literal key (unit-cell formula, space group): a 2-atom and an 8-atom rock-salt
    cell are different entries; with the reduced-formula key they are one material."""
    prim = rocksalt_nacl().get_primitive_structure()
    df = _table([("conv", rocksalt_nacl(), -2.0), ("prim", prim, -2.2)])
    kept, _ = curation.drop_duplicates(df, key=("reduced_formula", "spacegroup", "nsites"))
    assert kept["id"].tolist() == ["conv", "prim"]
