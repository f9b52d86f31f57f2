"""ECN without the cell one-hot on the unit cell == ECN on the 8-fold cover (``edge_cells``).

The unit-cell graph is the quotient of the cover by its translations; with node features that
do not depend on the cell, the two computations are the same function (same weights), with 8x
fewer nodes and edges. Negative controls: the unit graph coloured as if every edge stayed in its
cell, and the cover with the cell one-hot, both give other answers.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from pymatgen.core import Lattice, Structure

from ecn.graphs import GraphSettings, build_graph
from ecn.graphs.graph import CrystalGraph, collate
from ecn.nn import ECN
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.symmetry import attach_orbit_maps
from ecn.symmetry.colorings import GROUPS

SETTINGS = GraphSettings(strategy="cutoff", cutoff=4.0, cell_onehot=False)


def _triclinic() -> Structure:
    """A low-symmetry 3-atom crystal: every P-1 cell colour occurs within 4 Å."""
    lat = Lattice.from_parameters(3.1, 3.4, 3.7, 81.0, 86.0, 77.0)
    return Structure(lat, ["Sr", "Ti", "O"], [[0, 0, 0], [0.52, 0.47, 0.55], [0.5, 0.05, 0.45]])


def _graphs(structures: list[Structure], settings: GraphSettings) -> CrystalGraph:
    graphs = [build_graph(s, settings, id=str(k)) for k, s in enumerate(structures)]
    attach_orbit_maps(graphs)
    g = collate(graphs)
    g.x, g.edge_attr, g.edge_dist = g.x.double(), g.edge_attr.double(), g.edge_dist.double()
    g.lattice = g.lattice.double()
    return g


@pytest.fixture(scope="module")
def structures(crystals: dict[str, Structure]) -> list[Structure]:
    return [*crystals.values(), _triclinic()]


@pytest.fixture(scope="module")
def pair(structures: list[Structure]) -> tuple[CrystalGraph, CrystalGraph]:
    """(cover, unit) batches of the same crystals, no cell one-hot."""
    return _graphs(structures, SETTINGS), _graphs(structures, replace(SETTINGS, supercell=False))


def _model(group: str, g: CrystalGraph, node_level: bool = False, same_atom: bool = False) -> ECN:
    torch.manual_seed(3)
    return ECN(
        g.x.shape[1],
        g.edge_attr.shape[1],
        2,
        node_level,
        group=group,
        width=16,
        layers=3,
        same_atom=same_atom,
    ).double()


#: (group, same_atom): every group, and the authors' same-atom branch where it applies (not sn).
GROUP_CASES = [(g, False) for g in GROUPS] + [(g, True) for g in GROUPS if g != "sn"]


@pytest.mark.parametrize(("group", "same_atom"), GROUP_CASES)
def test_unit_cell_quotient_equals_the_cover(group, same_atom, pair):
    cover, unit = pair
    assert cover.num_nodes == 8 * unit.num_nodes and cover.num_edges == 8 * unit.num_edges
    model = _model(group, cover, same_atom=same_atom)
    out_cover, out_unit = model(cover), model(unit)
    assert out_cover.shape == out_unit.shape == (cover.num_graphs, 2)
    torch.testing.assert_close(out_unit, out_cover, rtol=1e-10, atol=1e-10)
    # the colours really differ between edges (otherwise the test would be trivial)
    if group != "sn":
        assert model.plan(unit).n_colors > 2
    if same_atom:  # the branch runs on both graphs, on 8x as many edges on the cover
        plan_unit, plan_cover = model.plan(unit), model.plan(cover)
        assert 0 < 8 * plan_unit.n_same_atom == plan_cover.n_same_atom
        slots = plan_unit.base_color[plan_unit.perm >= 0]
        branch = set(slots[slots >= plan_unit.n_base - plan_unit.same_atom_colors].tolist())
        assert len(branch) >= (1 if group == "slambda" else 2)  # its own colours are used


@pytest.mark.parametrize(("group", "same_atom"), GROUP_CASES)
def test_node_level_quotient_gives_each_copy_its_atoms_value(group, same_atom, pair):
    cover, unit = pair
    model = _model(group, cover, node_level=True, same_atom=same_atom)
    out_cover, out_unit = model(cover), model(unit)
    # cover node of (graph g, cell a, atom i) has the value of unit node (g, i)
    start_u = torch.cumsum(unit.n_atoms, 0) - unit.n_atoms
    start_c = 8 * start_u
    local = torch.arange(cover.num_nodes) - start_c[cover.batch]
    unit_index = start_u[cover.batch] + local % unit.n_atoms[cover.batch]
    torch.testing.assert_close(out_cover, out_unit[unit_index], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("group", ["p1", "glambda", "slambda"])
def test_negative_control_unit_graph_without_offset_parity(group, pair):
    """Read as a cover whose edges all stay in their cell, the unit graph is another function."""
    cover, unit = pair
    model = _model(group, cover)
    wrong = replace(unit, supercell=True)  # cells all 0: every edge gets the a = b colour
    assert (model(wrong) - model(cover)).abs().max() > 1e-4


def test_negative_control_cell_onehot_breaks_the_quotient(structures):
    """With the cell one-hot the copies differ: the cover is not its unit-cell quotient."""
    cover = _graphs(structures, replace(SETTINGS, cell_onehot=True))
    unit = _graphs(structures, replace(SETTINGS, supercell=False, cell_onehot=True))
    model = _model("slambda", cover)
    assert (model(unit) - model(cover)).abs().max() > 1e-4


def test_resolver_puts_ecn_on_the_cover_only_with_the_cell_onehot():
    default = resolve_graph_settings("ecn", "perov5")
    assert not default.supercell and not default.cell_onehot  # the quotient, ECN's default
    paper = resolve_graph_settings("ecn", "perov5", {"cell_onehot": True})
    assert paper.supercell and paper.cell_onehot  # the paper's symmetry-broken cover
    explicit = resolve_graph_settings("ecn", "perov5", {"cell_onehot": False, "supercell": True})
    assert explicit.supercell  # the cover without the one-hot stays available
    with pytest.raises(ValueError, match="cell_onehot: false"):
        resolve_graph_settings("ecn", "perov5", {"supercell": False, "cell_onehot": True})
    assert not resolve_graph_settings("cgcnn", "perov5").supercell  # baselines unchanged
