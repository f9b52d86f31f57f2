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

Two more checks every model must pass (the model contract, ``tests/nn/test_model_contract.py``):

* :func:`relabel_nodes` / :func:`relabelling_error`: storing the nodes in another order (ALL
  node tensors, labels included, and ``edge_index`` re-indexed) is the same graph, so the
  pooled output is unchanged and node-level outputs move with the rows. :func:`random_cycle`
  gives a permutation that is guaranteed not to be the identity (it moves every node).
* :func:`rotated_structure` / :func:`shifted_origin`: the same crystal in a rotated Cartesian
  frame or with another unit-cell origin (for models that claim Euclidean invariance).

Same crystal, same prediction (issue 14, DESIGN.md "The description gauge"):

* :func:`equivalent_descriptions`: one crystal written down in many ways (conventional and
  primitive cells, supercells 2x1x1 / 1x2x3 / 2x2x2, unimodular basis changes, origin shifts,
  atom permutations, rotations and reflections of the Cartesian frame), each tagged with its
  :data:`DESCRIPTION_KINDS` family.
* :func:`representation_errors` / :func:`assert_representation_invariant`: the change of a
  prediction across those descriptions, for a ``Predictor`` (``ecn.load_model``), a
  ``PropertyModel`` or bare ``ecn.nn`` model (with its graph settings), or any callable
  ``list[Structure] -> array``.

Nearby crystal, nearby prediction (issue 26):

* :func:`perturbations`: the crystal with every atom moved by a vector of length ε (directions
  fixed by a seed, the same for every ε, so the sizes lie on one line) and under small random
  strains, over a range of sizes (:data:`DEFAULT_EPSILONS`, 1e-5 .. 1e-2 Å).
* :func:`continuity_errors` / :func:`assert_continuous`: the change of a prediction under them,
  asserted against ``atol + lipschitz * ε`` (a function continuous in the positions moves by
  O(ε); a hard neighbour threshold, colour or canonical choice crossed by the move jumps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from pymatgen.core import Structure
from torch import Tensor, nn

from ecn.graphs.descriptions import (
    DESCRIPTION_KINDS,
    Description,
    equivalent_descriptions,
    rotated_structure,
    shifted_origin,
)
from ecn.graphs.graph import CrystalGraph
from ecn.graphs.settings import GraphSettings

__all__ = [
    "DESCRIPTION_KINDS",
    "Description",
    "assert_equivariant",
    "assert_representation_invariant",
    "equivalent_descriptions",
    "representation_errors",
    "assert_not_equivariant",
    "DEFAULT_EPSILONS",
    "PERTURBATION_KINDS",
    "Perturbation",
    "assert_continuous",
    "continuity_errors",
    "perturbations",
    "equivariance_errors",
    "max_equivariance_error",
    "permute_graph",
    "random_cycle",
    "relabel_nodes",
    "relabelling_error",
    "rotated_structure",
    "shifted_origin",
]

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


def _node_level(model: Model) -> bool:
    return bool(getattr(getattr(model, "config", None), "node_level", False))


def _outputs(model: Model, graph: CrystalGraph) -> tuple[list[Tensor], Tensor | None]:
    """(node-level tensors, graph-level output or None)."""
    if hasattr(model, "node_embeddings"):
        nodes = list(model.node_embeddings(graph))
        if _node_level(model):  # forward returns (N, out_dim): equivariant, not invariant
            return [*nodes, model(graph)], None
        return nodes, model(graph)
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


# --- relabelling: the same graph stored in another node order ---------------------------------


def random_cycle(n: int, seed: int = 0) -> Tensor:
    """A seeded random n-cycle of ``range(n)``: moves EVERY node, so never the identity (n >= 2).

    ``perm[sigma[k]] = sigma[k + 1 mod n]`` for a random ordering ``sigma``.
    """
    if n < 2:
        raise ValueError(f"a permutation that moves nodes needs n >= 2, got {n}")
    sigma = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    perm = torch.empty(n, dtype=torch.long)
    perm[sigma] = torch.roll(sigma, -1)
    return perm


def relabel_nodes(
    graph: CrystalGraph, node_perm: Sequence[int] | np.ndarray | Tensor
) -> CrystalGraph:
    """The same graph with its nodes stored in another order.

    Unlike :func:`permute_graph` EVERY node tensor moves (``x``, ``z``, ``cell``, ``atom``,
    ``batch``) and ``edge_index`` is re-indexed; edges keep their order. Every model must give
    the same pooled output (and node outputs in the new order).

    Args:
        graph: a graph or batch with N nodes.
        node_perm: (N,) ``node_perm[k]`` = new index of node k.
    """
    p = _as_perm(node_perm, graph.num_nodes, graph.x.device)
    inv = torch.empty_like(p)
    inv[p] = torch.arange(p.shape[0], device=p.device)
    return replace(
        graph,
        x=graph.x[inv],
        z=graph.z[inv],
        cell=graph.cell[inv],
        atom=graph.atom[inv],
        batch=graph.batch[inv],
        edge_index=p[graph.edge_index],
    )


@torch.no_grad()
def relabelling_error(
    model: Model, graph: CrystalGraph, node_perm: Sequence[int] | np.ndarray | Tensor
) -> float:
    """Max abs change of ``model``'s output when the nodes are stored in another order.

    Graph-level outputs are compared as they are; node-level outputs (a model built with
    ``node_level=True``, i.e. ``config.node_level``) row by row after moving the rows.
    """
    p = _as_perm(node_perm, graph.num_nodes, graph.x.device)
    out, out_p = model(graph), model(relabel_nodes(graph, p))
    if _node_level(model):
        out_p = out_p[p]
    return float((out_p - out).abs().max())


def _predict_fn(
    predictor_or_model: Any, settings: GraphSettings | None
) -> Callable[[list[Structure]], np.ndarray]:
    """A function ``structures -> (n,)`` first-target predictions for the supported inputs."""
    if hasattr(predictor_or_model, "predict") and hasattr(predictor_or_model, "settings"):
        return lambda ss: np.asarray(predictor_or_model.predict(ss), dtype=float).reshape(
            len(ss), -1
        )[:, 0]
    if isinstance(predictor_or_model, nn.Module):
        from ecn.graphs.build import build_graph
        from ecn.graphs.graph import collate
        from ecn.nn.inputs import with_model_inputs

        model = predictor_or_model
        inner = getattr(model, "model", model)
        config = getattr(inner, "config", None)
        if settings is None:
            if config is None:
                raise ValueError("pass settings= for a model without a ModelConfig")
            from ecn.nn.graph_settings import resolve_graph_settings

            settings = resolve_graph_settings(config.name)
        dtype = next(model.parameters()).dtype

        @torch.no_grad()
        def run(ss: list[Structure]) -> np.ndarray:
            graphs = [build_graph(s, settings, id=str(k)) for k, s in enumerate(ss)]
            if config is not None:
                graphs = with_model_inputs(graphs, config)
            b = collate(graphs)
            b = replace(b, x=b.x.to(dtype), edge_attr=b.edge_attr.to(dtype))
            out = model.predict_batch(b) if hasattr(model, "predict_batch") else model(b)
            return out.double().reshape(len(ss), -1)[:, 0].cpu().numpy()

        model.eval()
        return run
    if callable(predictor_or_model):
        return lambda ss: np.asarray(predictor_or_model(ss), dtype=float).reshape(len(ss), -1)[:, 0]
    raise ValueError(
        "expected an ecn Predictor, a PropertyModel / ecn.nn model or a callable, got "
        f"{type(predictor_or_model).__name__}"
    )


def representation_errors(
    predictor_or_model: Any,
    structure: Structure,
    settings: GraphSettings | None = None,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
) -> dict[str, float]:
    """Absolute change of the prediction per description (see :func:`equivalent_descriptions`).

    Args:
        predictor_or_model: an ``ecn.inference.Predictor``, a ``PropertyModel`` or ``ecn.nn``
            model (graphs built with `settings`, default the model's resolved settings), or a
            callable ``list[Structure] -> (n,) or (n, T)`` (first target used).
        structure: the crystal.
        settings: graph settings for a bare model.
        seed, kinds: passed to :func:`equivalent_descriptions`.

    Returns:
        ``{description name: |f(description) - f(as given)|}`` (first target), in model units.
    """
    fn = _predict_fn(predictor_or_model, settings)
    descs = equivalent_descriptions(structure, seed=seed, kinds=kinds)
    pred = fn([d.structure for d in descs])
    return {d.name: float(abs(p - pred[0])) for d, p in zip(descs[1:], pred[1:], strict=True)}


def assert_representation_invariant(
    predictor_or_model: Any,
    structure: Structure,
    atol: float = 1e-4,
    settings: GraphSettings | None = None,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
) -> dict[str, float]:
    """Assert the same prediction for every equivalent description of `structure`.

    Returns:
        The errors of :func:`representation_errors`.

    Raises:
        AssertionError: naming every description whose change exceeds `atol`.
    """
    errs = representation_errors(predictor_or_model, structure, settings, seed, kinds)
    bad = {k: v for k, v in errs.items() if not v <= atol}
    if bad:
        worst = ", ".join(f"{k}: {v:.3g}" for k, v in sorted(bad.items(), key=lambda kv: -kv[1]))
        raise AssertionError(
            f"prediction depends on the description of {structure.composition.reduced_formula} "
            f"(atol={atol}): {worst}"
        )
    return errs


# --- continuity: nearby crystals (issue 26) ----------------------------------------------------

#: Perturbation sizes in Å (largest displacement of an atom).
DEFAULT_EPSILONS: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2)
#: ``displace``: every atom moved by ε along its own fixed random unit vector. ``strain``: the
#: lattice times ``(1 + ε/V^(1/3) S)`` with S a fixed random symmetric matrix of unit Frobenius
#: norm (fractional coordinates kept), so points across the cell move by about ε.
PERTURBATION_KINDS: tuple[str, ...] = ("displace", "strain")


@dataclass(frozen=True)
class Perturbation:
    """One perturbed copy of a crystal: its ``kind``, size ``eps`` (Å) and ``structure``."""

    kind: str
    eps: float
    structure: Structure


def perturbations(
    structure: Structure,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    kinds: Sequence[str] = PERTURBATION_KINDS,
    seed: int = 0,
    wrap: bool = True,
) -> list[Perturbation]:
    """Small perturbations of `structure`, kind by kind, sizes in the order given.

    Directions depend only on `seed` and the number of atoms, never on ε, so for one kind the
    perturbed crystals lie on one line through `structure`: a continuous model's change grows
    smoothly with ε along it.

    Args:
        structure: the crystal (pymatgen Structure).
        epsilons: sizes in Å, each > 0.
        kinds: members of :data:`PERTURBATION_KINDS`.
        seed: seed of the directions.
        wrap: put fractional coordinates back into [0, 1) as a CIF writer would (an atom on a
            cell face then jumps to the opposite face: part of what users meet).

    Raises:
        ValueError: unknown kind or a size <= 0.
    """
    bad = [k for k in kinds if k not in PERTURBATION_KINDS]
    if bad:
        raise ValueError(f"unknown perturbation kind(s) {bad}; expected {PERTURBATION_KINDS}")
    if any(not float(e) > 0 for e in epsilons):
        raise ValueError(f"perturbation sizes must be > 0 Å, got {list(epsilons)}")
    rng = np.random.default_rng(seed)
    n = len(structure)
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    sym = rng.normal(size=(3, 3))
    sym = (sym + sym.T) / 2
    sym /= np.linalg.norm(sym)
    lattice = structure.lattice.matrix
    length = abs(np.linalg.det(lattice)) ** (1 / 3)
    cart = structure.cart_coords
    out = []
    for kind in kinds:
        for eps in epsilons:
            eps = float(eps)
            if kind == "displace":
                s = Structure(
                    lattice,
                    structure.species,
                    cart + eps * u,
                    coords_are_cartesian=True,
                    to_unit_cell=wrap,
                )
            else:
                new_lat = lattice @ (np.eye(3) + (eps / length) * sym)
                s = Structure(new_lat, structure.species, structure.frac_coords, to_unit_cell=wrap)
            out.append(Perturbation(kind, eps, s))
    return out


def continuity_errors(
    predictor_or_model: Any,
    structure: Structure,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    kinds: Sequence[str] = PERTURBATION_KINDS,
    seed: int = 0,
    settings: GraphSettings | None = None,
) -> dict[tuple[str, float], float]:
    """``{(kind, eps): |f(perturbed) - f(structure)|}`` (first target, model units).

    Args:
        predictor_or_model: as for :func:`representation_errors` (a ``Predictor``, an
            ``ecn.nn`` / ``PropertyModel`` with `settings`, or a callable).
        structure, epsilons, kinds, seed: see :func:`perturbations`.
        settings: graph settings for a bare model.
    """
    fn = _predict_fn(predictor_or_model, settings)
    perts = perturbations(structure, epsilons, kinds, seed)
    pred = fn([structure] + [p.structure for p in perts])
    return {(p.kind, p.eps): float(abs(v - pred[0])) for p, v in zip(perts, pred[1:], strict=True)}


def assert_continuous(
    predictor_or_model: Any,
    structure: Structure,
    lipschitz: float = 10.0,
    atol: float = 1e-9,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    kinds: Sequence[str] = PERTURBATION_KINDS,
    seed: int = 0,
    settings: GraphSettings | None = None,
) -> dict[tuple[str, float], float]:
    """Assert ``|f(perturbed) - f(structure)| <= atol + lipschitz * eps`` for every perturbation.

    `lipschitz` is in model units per Å; `atol` covers rounding (use a float64 model for a
    tight one). A jump (an edge switching on at full weight, a colour or canonical choice
    flipping) breaks the bound at the smallest sizes, where ``lipschitz * eps`` is tiny.

    Returns:
        The errors of :func:`continuity_errors`.

    Raises:
        AssertionError: naming every (kind, ε) over the bound.
    """
    errs = continuity_errors(predictor_or_model, structure, epsilons, kinds, seed, settings)
    bad = {k: v for k, v in errs.items() if not v <= atol + lipschitz * k[1]}
    if bad:
        worst = ", ".join(f"{kind} eps={eps:g}: {v:.3g}" for (kind, eps), v in bad.items())
        raise AssertionError(
            f"prediction jumps under small perturbations of "
            f"{structure.composition.reduced_formula} (bound {atol:g} + {lipschitz:g} * eps): "
            f"{worst}"
        )
    return errs
