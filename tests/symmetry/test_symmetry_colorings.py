"""Closed-form colourings (eqs. 11-14) vs brute-force orbits, equivariance, hierarchy (eq. 6)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecn.symmetry.actions import (
    N_CELLS,
    all_atom_permutations,
    all_product_elements,
    cell_group,
    glambda_elements,
    node_permutation,
    p1_elements,
    sample_node_permutation,
    supercell_group,
    symmetric_group,
    translation_elements,
)
from ecn.symmetry.bravais import BRAVAIS_TYPES, representative_lattice
from ecn.symmetry.colorings import (
    GROUPS,
    atom_pair_color,
    cell_pair_color,
    check_orbit_map,
    compress_colors,
    edge_colors,
    glambda_orbit_map,
    n_edge_colors,
    n_node_colors,
    node_colors,
)
from ecn.symmetry.groups import n_blocks, refines, same_partition
from ecn.symmetry.lattice import lattice_point_group

SYMBOLS = [bt.symbol for bt in BRAVAIS_TYPES]
N_ATOMS = [1, 2, 3, 5]


def node_pairs(n_atoms: int) -> tuple[np.ndarray, ...]:
    """``(a_src, i_src, a_dst, i_dst)`` of all ordered node pairs, pair ``k * N + m``."""
    nodes = np.arange(N_CELLS * n_atoms)
    k, m = np.meshgrid(nodes, nodes, indexing="ij")
    k, m = k.reshape(-1), m.reshape(-1)
    return k // n_atoms, k % n_atoms, m // n_atoms, m % n_atoms


def color_matrix(group: str, n_atoms: int, orbit_map: np.ndarray | None = None) -> np.ndarray:
    """Closed-form edge colour of every ordered node pair, shape ``(N, N)``."""
    colors, n_colors = edge_colors(group, *node_pairs(n_atoms), orbit_map=orbit_map)
    assert colors.min() >= 0 and colors.max() < n_colors
    n = N_CELLS * n_atoms
    return colors.reshape(n, n)


def invariant_under(colors: np.ndarray, perms: np.ndarray, chunk: int = 2048) -> bool:
    """Eq. 11 (=>): ``alpha(g.(x, y)) == alpha(x, y)`` for every node permutation in ``perms``."""
    perms = np.atleast_2d(np.asarray(perms))
    for s in range(0, len(perms), chunk):
        p = perms[s : s + chunk]
        if not np.all(colors[p[:, :, None], p[:, None, :]] == colors[None]):
            return False
    return True


def brute_force(group: str, n_atoms: int, rotations: np.ndarray | None = None) -> np.ndarray:
    """Orbits ``(N, N)`` of the model group on ordered node pairs (union-find on generators)."""
    return supercell_group(group, n_atoms, rotations).pair_orbits()


@pytest.fixture(scope="module")
def orbit_maps(bravais_rotations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {s: glambda_orbit_map(r) for s, r in bravais_rotations.items()}


# --- closed form == brute-force orbits ---------------------------------------------------------


@pytest.mark.parametrize("group", ["t", "p1", "slambda"])
def test_cell_colouring_is_cell_pair_orbits(group: str) -> None:
    a, b = np.meshgrid(np.arange(N_CELLS), np.arange(N_CELLS), indexing="ij")
    closed = cell_pair_color("p1" if group == "t" else group, a, b)
    assert same_partition(closed, cell_group(group).pair_orbits())
    if group != "slambda":
        assert same_partition(closed, cell_group(group).pair_orbits_by_closure())
    assert n_blocks(closed) == {"t": 8, "p1": 8, "slambda": 2}[group]


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_glambda_cell_pair_orbits_are_orbit_map_of_xor(
    symbol: str, bravais_rotations: dict[str, np.ndarray], orbit_maps: dict[str, np.ndarray]
) -> None:
    """Claim: (a, b) ~ (a', b') under a -> R a + t iff a ^ b and a' ^ b' share an R-orbit."""
    a, b = np.meshgrid(np.arange(N_CELLS), np.arange(N_CELLS), indexing="ij")
    closed = cell_pair_color("glambda", a, b, orbit_maps[symbol])
    by_closure = cell_group("glambda", bravais_rotations[symbol]).pair_orbits_by_closure()
    assert same_partition(closed, by_closure)


@pytest.mark.parametrize("n_atoms", N_ATOMS)
def test_atom_colouring_is_sc_pair_orbits(n_atoms: int) -> None:
    i, j = np.meshgrid(np.arange(n_atoms), np.arange(n_atoms), indexing="ij")
    orbits = symmetric_group(n_atoms).pair_orbits_by_closure()
    assert same_partition(atom_pair_color(i, j), orbits)
    assert n_blocks(orbits) == min(n_atoms, 2)


@pytest.mark.parametrize("n_atoms", N_ATOMS)
@pytest.mark.parametrize("group", ["p1", "slambda"])
def test_product_colouring_is_node_pair_orbits(group: str, n_atoms: int) -> None:
    colors = color_matrix(group, n_atoms)
    orbits = brute_force(group, n_atoms)
    assert same_partition(colors, orbits)
    assert compress_colors(colors)[1] == n_blocks(orbits)
    if group == "p1":
        # T x S_C has the same orbits (inversion is trivial on cells)
        t_orbits = supercell_group("t", n_atoms).pair_orbits()
        assert same_partition(t_orbits, orbits)
        if n_atoms <= 3:  # second reference: explicit closure of the product group
            assert same_partition(colors, supercell_group("t", n_atoms).pair_orbits_by_closure())


@pytest.mark.parametrize("n_atoms", N_ATOMS)
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_glambda_product_colouring_is_node_pair_orbits(
    symbol: str,
    n_atoms: int,
    bravais_rotations: dict[str, np.ndarray],
    orbit_maps: dict[str, np.ndarray],
) -> None:
    rots = bravais_rotations[symbol]
    colors = color_matrix("glambda", n_atoms, orbit_maps[symbol])
    orbits = brute_force("glambda", n_atoms, rots)
    assert same_partition(colors, orbits)
    n_cell_orbits = len(set(orbit_maps[symbol].tolist()))
    assert n_blocks(orbits) == n_cell_orbits * min(n_atoms, 2)
    if n_atoms == 2 and symbol in ("aP", "tI", "cF"):
        by_closure = supercell_group("glambda", n_atoms, rots).pair_orbits_by_closure()
        assert same_partition(colors, by_closure)


@pytest.mark.parametrize("n_atoms", N_ATOMS)
def test_sn_colouring_is_the_mpnn_coarsening_of_sn_orbits(n_atoms: int) -> None:
    colors = color_matrix("sn", n_atoms)
    orbits = brute_force("sn", n_atoms)
    n = N_CELLS * n_atoms
    assert same_partition(orbits, np.eye(n, dtype=bool))  # S_N: x = y or not
    assert n_blocks(colors) == 1 == n_edge_colors("sn")
    assert refines(orbits, colors)


@pytest.mark.parametrize("n_atoms", N_ATOMS)
@pytest.mark.parametrize("group", GROUPS)
def test_node_colours_are_node_orbits(
    group: str, n_atoms: int, bravais_rotations: dict[str, np.ndarray]
) -> None:
    rots = bravais_rotations["aP"] if group == "glambda" else None
    nodes = np.arange(N_CELLS * n_atoms)
    colors, n_colors = node_colors(group, nodes // n_atoms, nodes % n_atoms)
    orbits = supercell_group(group, n_atoms, rots).point_orbits()
    assert same_partition(colors, orbits)
    assert n_colors == n_node_colors(group) == n_blocks(orbits) == 1


# --- equivariance condition, directly ---------------------------------------------------------


@pytest.mark.parametrize("n_atoms", N_ATOMS)
def test_t_and_p1_colours_invariant_under_every_element(n_atoms: int) -> None:
    colors = color_matrix("p1", n_atoms)
    atoms = all_atom_permutations(n_atoms)
    assert invariant_under(colors, all_product_elements(translation_elements(), atoms))
    assert invariant_under(colors, all_product_elements(p1_elements(), atoms))


@pytest.mark.parametrize("n_atoms", N_ATOMS)
def test_sc_colour_invariant_under_every_element(n_atoms: int) -> None:
    i, j = np.meshgrid(np.arange(n_atoms), np.arange(n_atoms), indexing="ij")
    c = atom_pair_color(i, j)
    assert invariant_under(c, all_atom_permutations(n_atoms))


@pytest.mark.parametrize("n_atoms", N_ATOMS)
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_glambda_colours_invariant_under_every_element(
    symbol: str,
    n_atoms: int,
    bravais_rotations: dict[str, np.ndarray],
    orbit_maps: dict[str, np.ndarray],
) -> None:
    colors = color_matrix("glambda", n_atoms, orbit_maps[symbol])
    cells = np.unique(glambda_elements(bravais_rotations[symbol]), axis=0)
    atoms = all_atom_permutations(n_atoms)
    if n_atoms <= 3:
        assert invariant_under(colors, all_product_elements(cells, atoms))
    else:  # each factor completely, plus a seeded sample of products
        ident_cells, ident_atoms = np.arange(N_CELLS)[None], np.arange(n_atoms)[None]
        assert invariant_under(colors, all_product_elements(cells, ident_atoms))
        assert invariant_under(colors, all_product_elements(ident_cells, atoms))
        rng = np.random.default_rng(4)
        sample = [
            node_permutation(cells[rng.integers(len(cells))], rng.permutation(n_atoms), n_atoms)
            for _ in range(200)
        ]
        assert invariant_under(colors, np.array(sample))


@pytest.mark.parametrize("n_atoms", N_ATOMS)
@pytest.mark.parametrize("group", GROUPS)
def test_colours_invariant_under_generators_and_random_elements(
    group: str, n_atoms: int, bravais_rotations: dict[str, np.ndarray]
) -> None:
    rots = bravais_rotations["hP"]
    orbit_map = glambda_orbit_map(rots)
    colors = color_matrix(group, n_atoms, orbit_map)
    gens = supercell_group(group, n_atoms, rots).generators
    assert gens and invariant_under(colors, np.array(gens))
    rng = np.random.default_rng(1234)
    sample = [sample_node_permutation(group, n_atoms, rng, rots) for _ in range(300)]
    assert invariant_under(colors, np.array(sample))


def test_equivariance_check_bites(bravais_rotations: dict[str, np.ndarray]) -> None:
    n_atoms = 2
    a_src, _, a_dst, _ = node_pairs(n_atoms)
    n = N_CELLS * n_atoms
    atoms = all_atom_permutations(n_atoms)
    # colouring by the ordered cell pair itself is not translation invariant
    by_cells = (a_src * 8 + a_dst).reshape(n, n)
    assert not invariant_under(by_cells, all_product_elements(translation_elements(), atoms))
    # the P-1 colouring is not invariant under the cubic lattice group (it is finer)
    p1 = color_matrix("p1", n_atoms)
    cubic = glambda_elements(bravais_rotations["cP"])
    assert not invariant_under(p1, all_product_elements(cubic, atoms))
    # a too-coarse orbit map is invariant but is not the orbit partition
    coarse = color_matrix("glambda", n_atoms, glambda_orbit_map(bravais_rotations["cF"]))
    assert not same_partition(coarse, brute_force("glambda", n_atoms, bravais_rotations["aP"]))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 6),
    st.sampled_from(GROUPS),
    st.sampled_from(SYMBOLS),
    st.integers(0, 2**32 - 1),
)
def test_random_elements_preserve_colours(n_atoms: int, group: str, symbol: str, seed: int) -> None:
    rots = lattice_point_group(representative_lattice(symbol))
    rng = np.random.default_rng(seed)
    perm = sample_node_permutation(group, n_atoms, rng, rots)
    colors = color_matrix(group, n_atoms, glambda_orbit_map(rots))
    assert invariant_under(colors, perm)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 6), st.sampled_from(["p1", "glambda", "slambda"]), st.sampled_from(SYMBOLS))
def test_random_n_atoms_colouring_is_orbit_partition(n_atoms: int, group: str, symbol: str) -> None:
    rots = lattice_point_group(representative_lattice(symbol))
    colors = color_matrix(group, n_atoms, glambda_orbit_map(rots))
    assert same_partition(colors, brute_force(group, n_atoms, rots))


# --- hierarchy (eq. 6) ------------------------------------------------------------------------


@pytest.mark.parametrize("n_atoms", N_ATOMS)
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_hierarchy_of_partitions(
    symbol: str,
    n_atoms: int,
    bravais_rotations: dict[str, np.ndarray],
    orbit_maps: dict[str, np.ndarray],
) -> None:
    """P-1 x S_C <= G_Lambda x S_C <= S_Lambda x S_C <= S_N, as orbit partitions and colours."""
    rots = bravais_rotations[symbol]
    orbits = [
        brute_force("p1", n_atoms),
        brute_force("glambda", n_atoms, rots),
        brute_force("slambda", n_atoms),
        brute_force("sn", n_atoms),
    ]
    colors = [
        color_matrix("p1", n_atoms),
        color_matrix("glambda", n_atoms, orbit_maps[symbol]),
        color_matrix("slambda", n_atoms),
        color_matrix("sn", n_atoms),
    ]
    for chain in (orbits, colors):
        for fine, coarse in itertools.pairwise(chain):
            assert refines(fine, coarse)
    # strict where the lattice has more than P-1 symmetry mod 2
    strict = len(set(orbit_maps[symbol].tolist())) < 8
    assert refines(orbits[1], orbits[0]) != strict
    assert not refines(orbits[2], orbits[1])


# --- API details --------------------------------------------------------------------------------


def test_closed_forms_match_the_published_rules() -> None:
    a = np.array([0, 3, 5, 7, 2])
    b = np.array([0, 6, 5, 1, 2])
    assert np.array_equal(cell_pair_color("p1", a, b), a ^ b)
    assert np.array_equal(cell_pair_color("slambda", a, b), [0, 1, 0, 1, 0])
    assert np.array_equal(cell_pair_color("sn", a, b), np.zeros(5))
    i, j = np.array([0, 1, 2, 2, 0]), np.array([0, 0, 2, 1, 0])
    colors, n = edge_colors("p1", a, i, b, j)
    assert n == 16 and np.array_equal(colors, (a ^ b) * 2 + (i != j))
    colors, n = edge_colors("slambda", a, i, b, j)
    assert n == 4 and np.array_equal(colors, (a != b) * 2 + (i != j))
    om = np.array([0, 1, 1, 3, 1, 3, 3, 7])
    colors, n = edge_colors("glambda", a, i, b, j, orbit_map=om)
    assert n == 16 and np.array_equal(colors, om[a ^ b] * 2 + (i != j))
    assert [n_edge_colors(g) for g in GROUPS] == [1, 16, 16, 4]


def test_per_edge_orbit_maps_for_batches(orbit_maps: dict[str, np.ndarray]) -> None:
    a = np.array([1, 2, 4, 1, 2, 4])
    b = np.zeros(6, dtype=int)
    rows = np.stack([orbit_maps["oP"]] * 3 + [orbit_maps["cP"]] * 3)
    got = cell_pair_color("glambda", a, b, rows)
    assert list(got) == [1, 2, 4, 1, 1, 1]
    with pytest.raises(ValueError):
        cell_pair_color("glambda", a[:3], b[:3], rows)


def test_compress_colors_keeps_only_occurring() -> None:
    colors, n = compress_colors(np.array([[14, 2], [2, 7]]))
    assert n == 3 and colors.tolist() == [[2, 0], [0, 1]]
    single = edge_colors("p1", np.zeros(4, int), np.zeros(4, int), np.arange(4), np.zeros(4, int))
    assert compress_colors(single[0])[1] == 4


def test_validation_raises_value_error() -> None:
    z = np.zeros(3, dtype=int)
    with pytest.raises(ValueError, match="unknown group"):
        cell_pair_color("p6m", z, z)
    with pytest.raises(ValueError, match="orbit_map"):
        cell_pair_color("glambda", z, z)
    with pytest.raises(ValueError):
        cell_pair_color("p1", z + 8, z)
    with pytest.raises(ValueError):
        cell_pair_color("p1", z - 1, z)
    with pytest.raises(ValueError):
        cell_pair_color("p1", z.astype(float), z)
    with pytest.raises(ValueError):
        atom_pair_color(z - 1, z)
    with pytest.raises(ValueError):
        n_edge_colors("S8")
    with pytest.raises(ValueError):
        glambda_orbit_map(np.eye(3))
    for bad in ([0, 2, 1, 3, 4, 5, 6, 7], [1] * 8, [0] * 7, [0, 1, 1, 2, 4, 5, 6, 7]):
        with pytest.raises(ValueError):
            check_orbit_map(np.array(bad))


def test_torch_tensors_give_the_same_colours(orbit_maps: dict[str, np.ndarray]) -> None:
    torch = pytest.importorskip("torch")
    n_atoms = 3
    pairs = node_pairs(n_atoms)
    tpairs = [torch.as_tensor(x, dtype=torch.long) for x in pairs]
    om = orbit_maps["tI"]
    for group in GROUPS:
        ref, n_ref = edge_colors(group, *pairs, orbit_map=om)
        for omap in (om, torch.as_tensor(om)):
            got, n_got = edge_colors(group, *tpairs, orbit_map=omap)
            assert isinstance(got, torch.Tensor) and got.dtype == torch.long
            assert n_got == n_ref and np.array_equal(got.numpy(), ref)
        node, n_node = node_colors(group, tpairs[0], tpairs[1])
        assert isinstance(node, torch.Tensor) and n_node == 1 and int(node.abs().sum()) == 0
    rows = torch.as_tensor(np.stack([om] * len(pairs[0])))
    got = cell_pair_color("glambda", tpairs[0], tpairs[2], rows)
    assert np.array_equal(got.numpy(), om[pairs[0] ^ pairs[2]])
    dense, count = compress_colors(torch.tensor([9, 3, 9, 4]))
    assert dense.tolist() == [2, 0, 2, 1] and count == 3
    with pytest.raises(ValueError):
        cell_pair_color("p1", torch.zeros(2), torch.zeros(2))
