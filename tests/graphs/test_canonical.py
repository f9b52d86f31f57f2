"""The canonical crystal step (issue 14): one description per crystal before the graph."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from ecn.graphs import GraphSettings, build_graph
from ecn.graphs.cache import cache_key
from ecn.graphs.canonical import (
    basis_descriptions,
    canonical_structure,
    lattice_point_group,
    origin_descriptions,
    tolerant_wrap,
)
from ecn.testing import equivalent_descriptions

# one per crystal system (the fixture `diverse_structures` holds them all)
SYSTEMS = {
    "cubic": "NaCl",
    "tetragonal": "TiO2_anatase",
    "orthorhombic": "CaTiO3_Pnma",
}


def _edge_multiset(structure: Structure, settings: GraphSettings) -> list:
    """Basis-free summary of a supercell graph: sorted (z_dst, z_src, rounded distance)."""
    g = build_graph(structure, settings)
    z = g.z.numpy()
    src, dst = g.edge_index.numpy()
    d = np.round(g.edge_dist.numpy(), 4)
    return sorted(zip(z[dst].tolist(), z[src].tolist(), d.tolist(), strict=True))


def _frac_key(structure: Structure) -> list:
    """(Z, frac rounded) sorted: the description as the graph builder sees it."""
    f = np.round(structure.frac_coords, 6) + 0.0
    return sorted(zip(structure.atomic_numbers, map(tuple, f.tolist()), strict=True))


def test_conventional_and_primitive_nacl_give_one_graph(NaCl):
    prim = NaCl.get_primitive_structure()
    assert len(NaCl) == 8 and len(prim) == 2
    st = GraphSettings()
    g_conv, g_prim = build_graph(NaCl, st), build_graph(prim, st)
    assert int(g_conv.n_atoms) == int(g_prim.n_atoms) == 2
    assert _edge_multiset(NaCl, st) == _edge_multiset(prim, st)
    # the paper's behaviour (canonical off): 4x the nodes for the conventional cell
    assert build_graph(NaCl, GraphSettings(canonical="off")).num_nodes == 4 * g_prim.num_nodes


@pytest.mark.parametrize("name", sorted(SYSTEMS.values()))
def test_equivalent_descriptions_reach_the_same_canonical_cell(diverse_structures, name):
    s = diverse_structures[name]
    ref = canonical_structure(s)
    ref_key = _frac_key(ref)
    for d in equivalent_descriptions(s, kinds=("supercell", "atom_order", "basis")):
        c = canonical_structure(d.structure)
        assert _frac_key(c) == ref_key, d.name
        np.testing.assert_allclose(
            c.lattice.matrix @ c.lattice.matrix.T,
            ref.lattice.matrix @ ref.lattice.matrix.T,
            atol=1e-6,
        )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_crystal_system_is_reduced_to_its_primitive_cell(diverse_structures):
    import spglib

    for name, s in diverse_structures.items():
        c = canonical_structure(s)
        cell = (s.lattice.matrix, s.frac_coords, s.atomic_numbers)
        prim = spglib.find_primitive(cell, symprec=1e-3)
        assert len(c) == len(prim[2]), name
        assert np.all(c.frac_coords >= -0.25) and np.all(c.frac_coords < 1.0), name
        assert c.composition.reduced_formula == s.composition.reduced_formula


def test_tolerant_wrap_keeps_face_atoms_on_the_lower_face():
    lat = np.eye(3) * 4.0
    frac = np.array([[1 - 1e-12, 0.5, -1e-12], [0.9999, 1.0, 0.25], [0.999, 2.5, -0.5]])
    out = tolerant_wrap(frac, lat, tol=1e-3)  # 1e-3 Å = 2.5e-4 of the 4 Å cell
    np.testing.assert_allclose(out[0], [0.0, 0.5, 0.0], atol=0)
    np.testing.assert_allclose(out[1], [-1e-4, 0.0, 0.25], atol=1e-12)
    np.testing.assert_allclose(out[2], [0.999, 0.5, 0.5], atol=1e-12)


def test_float_noise_on_a_cell_face_does_not_change_the_graph(diverse_structures):
    s = diverse_structures["BaTiO3_cubic"]
    st = GraphSettings()
    noisy = Structure(s.lattice, s.species, np.mod(s.frac_coords - 1e-11, 1.0))
    assert noisy.frac_coords.max() > 0.999  # the raw file has atoms at 1 - 1e-11
    assert _edge_multiset(noisy, st) == _edge_multiset(s, st)
    g_a, g_b = build_graph(s, st), build_graph(noisy, st)
    assert g_a.edge_offset.tolist() == g_b.edge_offset.tolist()


def test_origin_and_basis_description_sets():
    s = Structure(
        Lattice.cubic(4.0),
        ["Ba", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )
    origins = origin_descriptions(s)
    assert len(origins) == 5
    for k, d in enumerate(origins):
        assert np.allclose(d.frac_coords[k], 0.0)
    pg = lattice_point_group(s.lattice.matrix)
    assert pg.shape == (48, 3, 3) and np.array_equal(pg[0], np.eye(3))
    bases = basis_descriptions(s)
    assert len(bases) == 48
    for b in bases:  # same metric, same Cartesian atoms
        np.testing.assert_allclose(b.lattice.abc, s.lattice.abc, atol=1e-9)
        assert _edge_multiset(b, GraphSettings(canonical="off")) == _edge_multiset(
            s, GraphSettings(canonical="off")
        )


def test_canonical_settings_are_validated_and_hashed():
    on, off = GraphSettings(), GraphSettings(canonical="off")
    assert cache_key("x", on) != cache_key("x", GraphSettings(canonical="primitive"))
    assert on.canonical == "unique" and on.symprec == 1e-3
    assert GraphSettings(canonical=False).canonical == "off"  # YAML 1.1 reads `off` as false
    assert cache_key("x", on) != cache_key("x", off)
    assert cache_key("x", on) != cache_key("x", dataclasses.replace(on, symprec=1e-2))
    with pytest.raises(ValueError, match="canonical"):
        GraphSettings(canonical="niggli-ish")
    with pytest.raises(ValueError, match="symprec"):
        GraphSettings(symprec=0.0)
    with pytest.raises(ValueError, match="canonical"):
        canonical_structure(Structure(Lattice.cubic(3), ["Cu"], [[0, 0, 0]]), mode="bad")


def test_off_returns_the_structure_unchanged(NaCl):
    assert canonical_structure(NaCl, mode="off") is NaCl


@pytest.mark.parametrize("name", ["BaTiO3_cubic", "TiO2_rutile", "CaTiO3_Pnma"])
def test_unique_mode_removes_origin_and_basis(diverse_structures, name):
    s = diverse_structures[name]
    ref = _frac_key(canonical_structure(s, "unique"))
    for d in equivalent_descriptions(s, kinds=("origin", "basis", "rotation_reflection")):
        assert _frac_key(canonical_structure(d.structure, "unique")) == ref, d.name


def _dense_unique_description(lattice, frac, numbers, symprec):
    """The unique-description rule written plainly (all P x K candidates at once, one lexsort):
    the reference the chunked, packed-key search must agree with exactly."""
    species, counts = np.unique(numbers, return_counts=True)
    rare = species[np.lexsort((species, counts))[0]]
    origins = np.nonzero(numbers == rare)[0]
    m = np.transpose(lattice_point_group(lattice, symprec), (0, 2, 1)).astype(float)
    new_lat = m @ lattice
    f = frac[None] @ np.linalg.inv(m)
    t = np.minimum(
        symprec * np.linalg.norm(np.linalg.inv(new_lat).transpose(0, 2, 1), axis=2), 0.25
    )
    fk = f[:, None, :, :] - f[:, origins, None, :]
    fk = fk - np.floor(fk + t[:, None, None, :])
    fk[np.abs(fk) <= 1e-10] = 0.0
    p, k, n = fk.shape[:3]
    q = np.rint(fk * 1e4).astype(np.int64).reshape(p * k, n, 3)
    z = np.broadcast_to(numbers, (p * k, n))
    order = np.lexsort((q[..., 2], q[..., 1], q[..., 0], z), axis=-1)
    rows = np.arange(p * k)[:, None]
    keys = np.concatenate([z[rows, order][..., None], q[rows, order]], axis=2).reshape(p * k, -1)
    best = int(np.lexsort(keys.T[::-1])[0])
    return new_lat[best // k], fk.reshape(p * k, n, 3)[best]


_FCC = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
#: Rock salt's 8-atom conventional cell (Fm-3m), written out.
_ROCK_SALT = Structure(
    Lattice.cubic(5.64),
    ["Na"] * 4 + ["Cl"] * 4,
    _FCC + [[(x + 0.5) % 1 for x in f] for f in _FCC],
)


def _rattled_supercell(seed: int) -> Structure:
    """A 64-atom rock-salt supercell with every atom moved a little (P1, cubic metric: 48
    bases x 32 origins); unmoved (`_ROCK_SALT`) it has ties between equivalent candidates."""
    s = _ROCK_SALT * (2, 2, 2)
    rng = np.random.default_rng(seed)
    return Structure(
        s.lattice,
        s.species,
        s.cart_coords + rng.normal(scale=0.05, size=(len(s), 3)),
        coords_are_cartesian=True,
    )


@pytest.mark.parametrize("chunk", [1, 7 * 64])
def test_unique_description_search_matches_the_dense_rule(diverse_structures, monkeypatch, chunk):
    """Chunked scoring with packed integer keys picks exactly the candidate the dense lexsort
    picks, whatever the chunk (one candidate per chunk, chunk edges mid-way)."""
    from ecn.graphs import canonical as canon

    monkeypatch.setattr(canon, "_KEY_CHUNK", chunk)
    crystals = [
        _rattled_supercell(0),
        _ROCK_SALT,
        diverse_structures["CaTiO3_Pnma"],
        diverse_structures["TiO2_anatase"],
    ]
    for s in crystals:
        prim = canonical_structure(s, "primitive")
        args = (prim.lattice.matrix, prim.frac_coords, np.asarray(prim.atomic_numbers), 1e-3)
        lat, frac = canon._unique_description(*args)
        ref_lat, ref_frac = _dense_unique_description(*args)
        assert np.array_equal(lat, ref_lat) and np.array_equal(frac, ref_frac)
    # negative control: the rule is not trivially satisfied (another candidate differs)
    s = _rattled_supercell(1)
    prim = canonical_structure(s, "primitive")
    lat, frac = canon._unique_description(
        prim.lattice.matrix, prim.frac_coords, np.asarray(prim.atomic_numbers), 1e-3
    )
    assert not np.array_equal(frac, tolerant_wrap(prim.frac_coords, prim.lattice.matrix, 1e-3))


def test_unique_description_of_a_large_rattled_cell_is_invariant():
    """A 512-atom P1 cell (cubic metric: 48 x 256 candidates): origin, atom order and basis
    changes give the same canonical description (the chunked search stays exact at size)."""
    s = _rattled_supercell(2) * (2, 2, 2)
    ref = _frac_key(canonical_structure(s))
    descs = equivalent_descriptions(s, kinds=("origin", "atom_order", "basis"))
    one_per_kind = {d.kind: d for d in reversed(descs[1:])}
    assert len(one_per_kind) == 3
    for d in one_per_kind.values():
        assert _frac_key(canonical_structure(d.structure)) == ref, d.name
