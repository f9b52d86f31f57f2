"""Equivariance checks for models on crystal graphs, shipped so users can test their own models.

The claim checked (paper Claim 6.1) is ``f(g . H) = g . f(H)``: the permutation ``g`` moves the
ROWS of the node features (and re-indexes the edges), while the colouring ``alpha`` stays a fixed
function of the node POSITIONS in the index set. So :func:`permute_graph` moves ``x`` and ``z``
with the nodes but leaves ``cell``, ``atom`` and ``batch`` attached to the index positions: the
permuted graph's edge ``(g i, g j)`` is coloured ``alpha(g i, g j)``, which equals
``alpha(i, j)`` exactly when ``g`` is in the model's group. (The cell one-hot inside ``x`` is a
symmetry-breaking *input*, paper §5; it travels with the rows like any other feature.) For a
permutation outside the group the colours of corresponding edges differ and the check fails,
which is what negative controls show.

Convention: ``node_perm[k]`` is the NEW index of node ``k`` (as ``ecn.symmetry.node_permutation``
returns it: ``(a, i) -> (g(a), h(i))``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor, nn

from ecn.graphs.graph import CrystalGraph

Model = nn.Module | Callable[[CrystalGraph], Tensor]


def _as_perm(
    node_perm: Sequence[int] | np.ndarray | Tensor, n: int, device: torch.device
) -> Tensor:
    p = torch.as_tensor(np.asarray(node_perm), dtype=torch.long, device=device).reshape(-1)
    if p.shape[0] != n or not torch.equal(torch.sort(p).values, torch.arange(n, device=device)):
        raise ValueError(f"node_perm must be a permutation of range({n})")
    return p


def permute_graph(
    graph: CrystalGraph, node_perm: Sequence[int] | np.ndarray | Tensor
) -> CrystalGraph:
    """Apply a node permutation to the features and edges of `graph` (see module docstring).

    Args:
        graph: a graph or batch with N nodes.
        node_perm: (N,) ``node_perm[k]`` = new index of node k.

    Returns:
        A graph whose row ``node_perm[k]`` holds node k's features; edges re-indexed, edge order
        and edge features unchanged; ``cell``, ``atom``, ``batch`` unchanged (position labels).
    """
    p = _as_perm(node_perm, graph.num_nodes, graph.x.device)
    inv = torch.empty_like(p)
    inv[p] = torch.arange(p.shape[0], device=p.device)
    return replace(graph, x=graph.x[inv], z=graph.z[inv], edge_index=p[graph.edge_index])


def _outputs(model: Model, graph: CrystalGraph) -> tuple[list[Tensor], Tensor | None]:
    """(node-level tensors, graph-level output or None)."""
    if hasattr(model, "node_embeddings"):
        return list(model.node_embeddings(graph)), model(graph)
    out = model(graph)
    return (list(out) if isinstance(out, list | tuple) else [out]), None


@torch.no_grad()
def equivariance_errors(
    model: Model, graph: CrystalGraph, node_perm: Sequence[int] | np.ndarray | Tensor
) -> list[float]:
    """Max abs errors of ``f(g . G)[g] - f(G)`` for each node-level output, then the pooled one.

    `model` is either a module with ``node_embeddings(graph) -> list[(N, d)]`` and
    ``forward(graph) -> (G, T)`` (both checked: node embeddings equivariant, pooled output
    invariant), or a callable ``graph -> (N, d)`` / list of such (equivariance only).
    """
    p = _as_perm(node_perm, graph.num_nodes, graph.x.device)
    nodes, pooled = _outputs(model, graph)
    nodes_p, pooled_p = _outputs(model, permute_graph(graph, p))
    errs = [
        float((b[p] - a).abs().max()) if a.numel() else 0.0
        for a, b in zip(nodes, nodes_p, strict=False)
    ]
    if pooled is not None and pooled_p is not None:
        errs.append(float((pooled_p - pooled).abs().max()))
    return errs


@torch.no_grad()
def max_equivariance_error(
    model: Model, graph: CrystalGraph, node_perms: Sequence[Sequence[int]] | np.ndarray
) -> float:
    """Largest error of :func:`equivariance_errors` over many permutations (reference run once).

    Args:
        node_perms: (P, N) permutations, one per row.
    """
    nodes, pooled = _outputs(model, graph)
    worst = 0.0
    for row in np.asarray(node_perms):
        p = _as_perm(row, graph.num_nodes, graph.x.device)
        nodes_p, pooled_p = _outputs(model, permute_graph(graph, p))
        for a, b in zip(nodes, nodes_p, strict=False):
            worst = max(worst, float((b[p] - a).abs().max()) if a.numel() else 0.0)
        if pooled is not None and pooled_p is not None:
            worst = max(worst, float((pooled_p - pooled).abs().max()))
    return worst


def assert_equivariant(
    model: Model,
    graph: CrystalGraph,
    node_perm: Sequence[int] | np.ndarray | Tensor,
    atol: float = 1e-5,
) -> list[float]:
    """Assert that `model` commutes with `node_perm` on `graph` (every layer, pooled output).

    Use float64 (``model.double()``, ``graph.x.double()``) for a tight `atol`.

    Returns:
        The errors of :func:`equivariance_errors`.

    Raises:
        AssertionError: if any error exceeds `atol`.
    """
    errs = equivariance_errors(model, graph, node_perm)
    if max(errs) > atol:
        raise AssertionError(f"not equivariant: max errors per output {errs} > atol={atol}")
    return errs


def assert_not_equivariant(
    model: Model,
    graph: CrystalGraph,
    node_perm: Sequence[int] | np.ndarray | Tensor,
    min_error: float = 1e-3,
) -> list[float]:
    """Negative control: assert that `node_perm` does NOT commute (some error > `min_error`)."""
    errs = equivariance_errors(model, graph, node_perm)
    if max(errs) <= min_error:
        raise AssertionError(f"unexpectedly equivariant: errors {errs} <= {min_error}")
    return errs
