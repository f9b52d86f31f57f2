"""Symmetry of the 2x2x2 supercell: permutation groups, orbits and parameter-sharing colourings.

Paper §3 and §6 (eqs. 5, 6, 11-14). A supercell node is ``k = a * n_atoms + i`` with cell
``a = 4*a0 + 2*a1 + a2`` for ``(a0, a1, a2)`` in ``{0,1}^3`` and atom ``i < n_atoms``.

* :mod:`~ecn.symmetry.groups`: explicit permutation groups (closure, union-find orbits); the
  slow reference.
* :mod:`~ecn.symmetry.actions`: ``T``, ``P-1``, ``G_Lambda``, ``S_Lambda``, ``S_C``, ``S_N`` and
  products as permutations of cells/nodes; node permutations; graph invariance checks.
* :mod:`~ecn.symmetry.colorings`: fast closed-form edge/node colours (numpy or torch), tested
  equal, as partitions, to the reference orbits.
* :mod:`~ecn.symmetry.lattice`: lattice point group (holohedry) from spglib.
* :mod:`~ecn.symmetry.orbit_maps`: :func:`attach_orbit_maps`, the G_Lambda orbit map of each
  crystal graph (``graph.cell_orbit_map``, needed by ``glambda`` models).
* :mod:`~ecn.symmetry.table`: the table below (``python -m ecn.symmetry.table``).

On a 2x2x2 torus inversion is trivial (``-a = a mod 2``), so ``P-1`` moves cells exactly like
the translations ``T``. ``G_Lambda`` cell-pair orbits are the orbits of ``a XOR b`` under the
lattice point group reduced mod 2. Generated table (also in ``docs/symmetry_table.md``):

<!-- BEGIN GENERATED: python -m ecn.symmetry.table --write -->
| Bravais type | symbol | spglib SG | #P_Λ | #G_Λ on cells | G_Λ cell-pair orbits | orbit sizes (P-1 colours) | G_Λ × S_C edge colours (n ≥ 2) |
|---|---|---|---|---|---|---|---|
| triclinic primitive | aP | 2 | 2 | 8 | 8 | 1+1+1+1+1+1+1+1 | 16 |
| monoclinic primitive | mP | 10 | 4 | 8 | 8 | 1+1+1+1+1+1+1+1 | 16 |
| monoclinic base-centred | mC | 12 | 4 | 16 | 6 | 1+1+1+1+2+2 | 12 |
| orthorhombic primitive | oP | 47 | 8 | 8 | 8 | 1+1+1+1+1+1+1+1 | 16 |
| orthorhombic base-centred | oS | 65 | 8 | 16 | 6 | 1+1+1+1+2+2 | 12 |
| orthorhombic body-centred | oI | 71 | 8 | 32 | 5 | 1+1+1+1+4 | 10 |
| orthorhombic face-centred | oF | 69 | 8 | 32 | 5 | 1+1+2+2+2 | 10 |
| tetragonal primitive | tP | 123 | 16 | 16 | 6 | 1+1+1+1+2+2 | 12 |
| tetragonal body-centred | tI | 139 | 16 | 64 | 4 | 1+1+2+4 | 8 |
| rhombohedral (primitive cell) | hR | 166 | 12 | 48 | 4 | 1+1+3+3 | 8 |
| hexagonal primitive | hP | 191 | 24 | 48 | 4 | 1+1+3+3 | 8 |
| cubic primitive | cP | 221 | 48 | 48 | 4 | 1+1+3+3 | 8 |
| cubic body-centred | cI | 229 | 48 | 192 | 3 | 1+3+4 | 6 |
| cubic face-centred | cF | 225 | 48 | 192 | 3 | 1+1+6 | 6 |

| model group | cell-pair orbits | node-pair orbits (n = 2) | edge colours used (n = 2) |
|---|---|---|---|
| sn | 1 | 2 | 1 |
| p1 | 8 | 16 | 16 |
| slambda | 2 | 4 | 4 |

#G_Λ on cells counts distinct permutations of the 8 cells (P_Λ acts mod 2, not
faithfully). Orbit sizes count P-1 colours c = a XOR b per orbit; each orbit holds
8 × size ordered cell pairs. `sn` (plain MPNN) uses one colour although S_N has two
node-pair orbits (x = y and x ≠ y).
<!-- END GENERATED -->
"""

from ecn.symmetry.actions import (
    CELL_BITS,
    N_CELLS,
    cell_group,
    cell_index,
    glambda_elements,
    graph_is_invariant,
    node_permutation,
    p1_elements,
    sample_node_permutation,
    supercell_group,
    translation_elements,
)
from ecn.symmetry.colorings import (
    GROUPS,
    atom_pair_color,
    cell_pair_color,
    compress_colors,
    edge_colors,
    glambda_orbit_map,
    glambda_orbit_map_for_lattice,
    n_edge_colors,
    n_node_colors,
    node_colors,
)
from ecn.symmetry.groups import PermutationGroup
from ecn.symmetry.lattice import lattice_point_group
from ecn.symmetry.orbit_maps import attach_orbit_maps, lattice_orbit_maps, with_orbit_maps

_TABLE_NAMES = ("bravais_orbit_table", "format_bravais_table", "main")


def __getattr__(name: str) -> object:
    """Import the table lazily so ``python -m ecn.symmetry.table`` runs it only once."""
    if name in _TABLE_NAMES:
        from ecn.symmetry import table

        return getattr(table, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CELL_BITS",
    "GROUPS",
    "N_CELLS",
    "PermutationGroup",
    "atom_pair_color",
    "attach_orbit_maps",
    "bravais_orbit_table",
    "cell_group",
    "cell_index",
    "cell_pair_color",
    "compress_colors",
    "edge_colors",
    "format_bravais_table",
    "glambda_elements",
    "glambda_orbit_map",
    "glambda_orbit_map_for_lattice",
    "graph_is_invariant",
    "lattice_orbit_maps",
    "lattice_point_group",
    "main",
    "n_edge_colors",
    "n_node_colors",
    "node_colors",
    "node_permutation",
    "p1_elements",
    "sample_node_permutation",
    "supercell_group",
    "translation_elements",
    "with_orbit_maps",
]
