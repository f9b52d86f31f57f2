"""CGCNN's 92-number atom features rebuilt from element data (ecn.elements.cgcnn_*)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from ecn import elements as el
from ecn.elements import (
    CGCNN_BINS,
    CGCNN_BLOCKS,
    CGCNN_DIM,
    CGCNN_OFFSETS,
    MAX_Z,
    Z_OF,
    cgcnn_bin,
    cgcnn_feature_table,
    cgcnn_features,
)

# Raw-table column of each continuous block.
_RAW_COLUMN = {
    "electronegativity": 1,
    "covalent_radius": 2,
    "first_ionization_energy": 4,
    "electron_affinity": 5,
    "atomic_volume": 6,
}


def _block(vec: np.ndarray, name: str) -> np.ndarray:
    size = dict(CGCNN_BLOCKS)[name]
    return vec[CGCNN_OFFSETS[name] : CGCNN_OFFSETS[name] + size]


def _hot(symbol: str, name: str) -> int | None:
    hot = np.flatnonzero(_block(cgcnn_features(Z_OF[symbol]), name))
    assert len(hot) <= 1
    return int(hot[0]) if len(hot) else None


def test_shape_dtype_and_layout():
    assert CGCNN_DIM == 92
    assert [n for _, n in CGCNN_BLOCKS] == [19, 7, 10, 10, 12, 10, 10, 4, 10]
    table = cgcnn_feature_table()
    assert table.shape == (MAX_Z + 1, 92) and table.dtype == np.float32
    assert not table.flags.writeable
    assert not table[0].any()  # no element
    v = cgcnn_features(26)
    assert v.shape == (92,) and v.dtype == np.float32 and v.flags.writeable
    np.testing.assert_array_equal(v, table[26])
    v[:] = 5.0  # a copy: the cached table is untouched
    assert table[26].max() == 1.0
    assert set(np.unique(table)) <= {0.0, 1.0}


@pytest.mark.parametrize("z", [0, -1, MAX_Z + 1])
def test_unsupported_element_raises(z):
    with pytest.raises(ValueError):
        cgcnn_features(z)


def test_each_block_is_one_hot_where_defined():
    table = cgcnn_feature_table()
    raw = {row[0]: row for row in el._CGCNN_RAW}
    assert sorted(raw) == list(range(1, MAX_Z + 1))
    for z in range(1, MAX_Z + 1):
        for name, _ in CGCNN_BLOCKS:
            s = _block(table[z], name).sum()
            if name in CGCNN_BINS:
                low, high, log = CGCNN_BINS[name]
                defined = cgcnn_bin(raw[z][_RAW_COLUMN[name]], low, high, log) is not None
                assert s == (1.0 if defined else 0.0), (z, name)
            else:  # group, period, valence, block: always defined
                assert s == 1.0, (z, name)
    # the documented zero fallbacks
    for sym in ("He", "Ne", "Ar", "Kr", "Rn"):
        assert _hot(sym, "electronegativity") is None
    assert _hot("He", "electron_affinity") is None  # -19.7 eV, below the range
    assert _hot("Mg", "electron_affinity") is None  # no value
    assert _hot("At", "atomic_volume") is None


@pytest.mark.parametrize(
    ("symbol", "group", "period", "block", "valence"),
    [
        ("H", 1, 1, "s", 1),
        ("He", 18, 1, "s", 2),
        ("O", 16, 2, "p", 6),
        ("Fe", 8, 4, "d", 8),  # [Ar] 3d6 4s2
        ("Cu", 11, 4, "d", 11),  # [Ar] 3d10 4s1
        ("Pd", 10, 5, "d", 12),  # [Kr] 4d10: 4s2 + 4d10, the reference's count
        ("Ba", 2, 6, "s", 2),
        ("La", 0, 6, "f", 2),  # f-series: group category 0
        ("Lu", 3, 6, "d", 3),
        ("U", 0, 7, "f", 2),
    ],
)
def test_hand_checked_elements(symbol, group, period, block, valence):
    v = cgcnn_features(Z_OF[symbol])
    assert v.sum() >= 4
    assert _hot(symbol, "group") == group
    assert _hot(symbol, "period") == period - 1
    assert _hot(symbol, "block") == "spdf".index(block)
    assert _hot(symbol, "valence_electrons") == valence - 1
    # absolute positions in the 92-vector
    assert v[group] == 1.0 and v[19 + period - 1] == 1.0
    assert v[19 + 7 + 10 + 10 + valence - 1] == 1.0
    assert v[19 + 7 + 10 + 10 + 12 + 10 + 10 + "spdf".index(block)] == 1.0


def test_hand_checked_bins():
    # O: Pauling 3.44 in (3.30, 3.65]; Pyykko 63 pm in (47.5, 70]; 13.62 eV, ln = 2.61 in
    # (2.5, 2.7]; EA 1.46 eV in (1.02, 1.69]; 14.0 cm^3/mol, ln = 2.64 in (2.62, 2.90]
    assert [_hot("O", n) for n in CGCNN_BINS] == [8, 1, 6, 6, 4]
    # Fe: 1.83, 116 pm, 7.90 eV, 0.151 eV, 7.1 cm^3/mol
    assert [_hot("Fe", n) for n in CGCNN_BINS] == [3, 4, 3, 4, 1]
    # Ba: 0.89, 196 pm, 5.21 eV, 0.145 eV, 39.0 cm^3/mol
    assert [_hot("Ba", n) for n in CGCNN_BINS] == [1, 7, 1, 4, 7]


def test_bin_edges_and_range():
    # floor((v - low) / (high - low) * n): left-closed bins, with the reference's float
    # artefacts on nominal edges
    assert cgcnn_bin(1.9, 0.5, 4.0) == 3  # (1.4 / 3.5) * 10 = 3.9999999999999996
    assert cgcnn_bin(1.2, 0.5, 4.0) == 1
    assert cgcnn_bin(2.6, 0.5, 4.0) == 6  # 6.000000000000001
    assert cgcnn_bin(0.35, -3.0, 3.7) == 5  # Ac's electron affinity: exactly 5.0
    assert cgcnn_bin(1.91, 0.5, 4.0) == 4
    assert cgcnn_bin(0.5, 0.5, 4.0) == 0 and cgcnn_bin(0.49, 0.5, 4.0) is None
    assert cgcnn_bin(3.99, 0.5, 4.0) == 9 and cgcnn_bin(4.0, 0.5, 4.0) is None
    assert cgcnn_bin(None, 0.5, 4.0) is None
    assert cgcnn_bin(-1.0, 1.3, 3.3, log=True) is None
    assert cgcnn_bin(np.exp(3.25), 1.3, 3.3, log=True) == 9
    assert cgcnn_bin(np.exp(1.35), 1.3, 3.3, log=True) == 0


def test_binning_is_monotonic():
    assert _hot("F", "electronegativity") > _hot("O", "electronegativity")
    assert _hot("O", "electronegativity") > _hot("Cs", "electronegativity")
    assert (
        _hot("Cs", "covalent_radius") > _hot("C", "covalent_radius") > _hot("H", "covalent_radius")
    )
    assert _hot("He", "first_ionization_energy") > _hot("Cs", "first_ionization_energy")
    assert _hot("Cs", "atomic_volume") > _hot("Fe", "atomic_volume")
    assert _hot("Cl", "electron_affinity") > _hot("N", "electron_affinity")
    table = cgcnn_feature_table()
    for name, col in _RAW_COLUMN.items():
        pairs = sorted(
            (row[col], int(np.flatnonzero(_block(table[row[0]], name))[0]))
            for row in el._CGCNN_RAW
            if _block(table[row[0]], name).any()
        )
        bins = [b for _, b in pairs]
        assert bins == sorted(bins), name
        assert len(set(bins)) >= 6, name  # the bins spread the elements


def test_valence_rule_matches_pymatgen_configurations():
    """The stored valence counts follow the documented rule on pymatgen's configurations."""
    pytest.importorskip("pymatgen")
    from pymatgen.core import Element

    for z, *_rest in el._CGCNN_RAW:
        conf = Element.from_Z(z).full_electronic_structure
        block = el.element_block(z)
        n_max = max(n for n, _, _ in conf)
        if block in "sp":
            want = sum(c for n, orb, c in conf if n == n_max and orb in "sp")
        else:
            s = max((n, c) for n, orb, c in conf if orb == "s")[1]
            want = s if block == "f" else s + max((n, c) for n, orb, c in conf if orb == "d")[1]
        assert _rest[2] == want, (z, _rest[2], want)


def test_blocks_agree_with_pymatgen():
    pytest.importorskip("pymatgen")
    from pymatgen.core import Element

    for z in range(1, MAX_Z + 1):
        e = Element.from_Z(z)
        if not el._is_f_series(z) and z != 2:  # pymatgen puts He in the p-block; CGCNN: s
            assert el.element_block(z) == e.block, z
        assert int(el.PERIOD[z]) == e.row, z


def test_deterministic():
    first = cgcnn_feature_table().copy()
    cgcnn_feature_table.cache_clear()
    again = cgcnn_feature_table()
    np.testing.assert_array_equal(first, again)
    # pins the encoding: a change to data, bins or layout must be deliberate
    digest = hashlib.sha256(np.ascontiguousarray(again).tobytes()).hexdigest()
    assert digest == _TABLE_SHA256


_TABLE_SHA256 = "5d360b3977c516a237a7dab0a1f92946dc7cec5777465cffa7d0d23c3ca7db74"


def _reference_path() -> Path | None:
    p = os.environ.get("ECN_CGCNN_ATOM_INIT")
    return Path(p) if p and Path(p).is_file() else None


@pytest.mark.skipif(
    _reference_path() is None,
    reason="set ECN_CGCNN_ATOM_INIT to a local copy of CGCNN's atom_init.json",
)
def test_agreement_with_reference_file():
    spec = importlib.util.spec_from_file_location(
        "check_cgcnn_atom_init",
        Path(__file__).resolve().parents[1] / "scripts" / "check_cgcnn_atom_init.py",
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    reference = json.loads(_reference_path().read_text(encoding="utf-8"))
    lines, block_bad, compared, identical = module.compare(reference)
    assert compared == MAX_Z
    assert identical == compared, [line for line in lines if "differs" in line]
    assert not any(block_bad.values())
