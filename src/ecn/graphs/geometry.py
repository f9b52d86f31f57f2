"""A graph batch whose geometry is a differentiable function of atom moves and cell strains.

Why: a model's slope with respect to the atomic positions and the cell is what
``ecn check continuity`` measures at finite sizes (issue 26): every atom moved by ε along a
unit vector changes a prediction by about ``ε Σ_a ∂y/∂u_a · n_a``, a strain ``ε S`` by
``ε S : ∂y/∂ε``. DFT-relaxed crystals (Materials Project, Perov-5) have zero forces and zero
stress, so the true energy is flat there to first order; a training penalty on these slopes
(``optim.slope_penalty``, ``ecn.nn.slope``) asks the model for the same, which the records
alone (one point per crystal) never do.

:func:`differentiable_geometry` returns a copy of an expanded batch in which the edge vectors,
lengths and Gaussian features and the lattices are functions of two zero tensors, a
displacement ``u`` (A, 3) of each unit-cell atom (Å) and a strain ``eps`` (G, 3, 3) of each
crystal, so that autograd gives ∂y/∂u and ∂y/∂ε at the crystal as stored. The values are
exactly those of the batch (the derivative is added with a zero-valued ``f - f.detach()``
term), so the same forward pass serves the loss and the penalty.

What stays fixed: the graph itself (which edges exist), the Voronoi face areas (a face weight is
1 for most edges, and a face's area moves with every atom around it, not with one edge vector)
and the soft cell colours (``ecn.graphs.gauge`` computes them without gradients; they are 0 or 1
for most edges).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from ecn.graphs.features import gaussian_features
from ecn.graphs.graph import CrystalGraph
from ecn.graphs.settings import GraphSettings

__all__ = ["differentiable_geometry", "unit_atom_index"]


def unit_atom_index(graph: CrystalGraph) -> Tensor:
    """(N,) index of each node's unit-cell atom in the batch (0 .. sum(n_atoms) - 1): the 8
    copies of an atom in a supercell graph share it, so they move together."""
    start = torch.cumsum(graph.n_atoms, 0) - graph.n_atoms
    return start[graph.batch] + graph.atom


def _with_grad(value: Tensor, differentiable: Tensor) -> Tensor:
    """`value` exactly, with the derivative of `differentiable` (same shape)."""
    return value + (differentiable - differentiable.detach()).to(value.dtype)


def differentiable_geometry(
    graph: CrystalGraph, settings: GraphSettings
) -> tuple[CrystalGraph, Tensor, Tensor]:
    """(graph', u, eps): `graph` with its geometry a function of zero tensors `u` (A, 3) in Å,
    one row per unit-cell atom (:func:`unit_atom_index`), and `eps` (G, 3, 3), one strain per
    crystal; edge vector ``v' = (v + u[src] - u[dst]) (1 + eps)``, lattice ``L (1 + eps)``.

    Raises:
        ValueError: the graph has no ``edge_vec`` (it was not built by ``ecn.graphs.expand``).
    """
    if graph.edge_vec is None:
        raise ValueError(
            "differentiable_geometry needs graph.edge_vec (set by ecn.graphs.expand from the "
            "records' fractional coordinates)"
        )
    dt = torch.float64
    n_unit = int(graph.n_atoms.sum())
    u = torch.zeros(n_unit, 3, dtype=dt, device=graph.edge_vec.device, requires_grad=True)
    eps = torch.zeros(graph.num_graphs, 3, 3, dtype=dt, device=u.device, requires_grad=True)
    atom = unit_atom_index(graph)
    src, dst = graph.edge_index[0], graph.edge_index[1]
    eye = torch.eye(3, dtype=dt, device=u.device)
    deform = eye + eps  # (G, 3, 3)
    v = graph.edge_vec.detach().to(dt) + u[atom[src]] - u[atom[dst]]
    v = torch.bmm(v[:, None, :], deform[graph.edge_batch])[:, 0]  # (E, 3)
    d = torch.linalg.vector_norm(v, dim=1)
    lattice = torch.bmm(graph.lattice.detach().to(dt), deform)
    geo = replace(
        graph,
        edge_vec=_with_grad(graph.edge_vec, v),
        edge_dist=_with_grad(graph.edge_dist, d),
        edge_attr=_with_grad(graph.edge_attr, gaussian_features(d, settings)),
        lattice=_with_grad(graph.lattice, lattice),
    )
    return geo, u, eps
