"""The ECN model (paper §7): embedding, L equivariant message-passing layers, pooled head.

The layer is :class:`~ecn.nn.layers.EquivariantMessagePassing`, the per-batch edge colours come
from :mod:`ecn.nn.plan`; which graph the model runs on (the cover or its unit-cell quotient) is
its :meth:`ECN.finish_graph_settings` rule, which the E(n)-equivariant version
(:mod:`ecn.nn.egnn`) shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ecn.graphs.gauge import same_cell_weight
from ecn.graphs.graph import CrystalGraph
from ecn.nn.config import ModelConfig
from ecn.nn.envelope import BAND_WIDTH, ENVELOPES, edge_envelope
from ecn.nn.layers import BACKENDS, EquivariantMessagePassing
from ecn.nn.plan import ColorPlan, build_color_plan, n_base_colors, n_same_atom_colors
from ecn.symmetry.colorings import GROUPS

__all__ = ["CELL_COLORS", "ECN", "SMOOTHING_OPTIONS", "continuous_options"]

#: ``cell_colors`` option values: the offsets' parity colours, or soft colours (issue 26).
CELL_COLORS = ("hard", "soft")

#: Options that change how edges are weighted (continuity, issue 26) but no parameter's shape
#: or meaning: a model trained without them can be fine-tuned into a continuous one.
SMOOTHING_OPTIONS = ("envelope", "envelope_width", "face_area", "cell_colors")

#: The smoothing options that make ECN-SΛ on the unit cell continuous in the atomic positions,
#: per graph strategy (issue 26): on a radius graph the polynomial envelope at the cutoff; on
#: Voronoi + Cordero radii a 0.5 Å fade before the radius limit and a weight of the Voronoi
#: face area (a face opens with zero area); soft cell colours on both. These are the settings
#: of the shipped models (``perov5-heat_all``: cutoff; the ``mp-*`` models: voronoi_radii).
_CONTINUOUS: dict[str, dict[str, Any]] = {
    "cutoff": {"envelope": "poly", "cell_colors": "soft"},
    "voronoi_radii": {
        "envelope": "band",
        "envelope_width": BAND_WIDTH,
        "face_area": 0.5,
        "cell_colors": "soft",
    },
}


def continuous_options(
    group: str,
    strategy: str,
    *,
    supercell: bool = False,
    max_neighbors: int | None = None,
    neighbor_margin: float = 0.0,
) -> dict[str, Any] | None:
    """The smoothing options that make ECN of `group` continuous on a graph built with
    `strategy`, or None where no such setting exists: soft colours need ``slambda`` on the
    unit cell, and the ``min_distance`` rule or a k-neighbour cap (``max_neighbors``) without
    a margin switches edges on and off however messages are weighted. With a margin (radius
    graphs only) every edge leaves at ``min(cutoff, d_k + margin)`` (``graph.edge_cutoff``): a
    ``band`` fade as wide as the margin keeps the k nearest at weight 1 and fades the rest."""
    if group != "slambda" or supercell:
        return None
    if max_neighbors is not None:
        if strategy != "cutoff" or not neighbor_margin > 0:
            return None
        return {"envelope": "band", "envelope_width": float(neighbor_margin), "cell_colors": "soft"}
    found = _CONTINUOUS.get(strategy)
    return None if found is None else dict(found)


def _mlp(width: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, out))


class ECN(nn.Module):
    """Equivariant crystal network: embedding, L equivariant layers, node MLP, mean pool, MLP.

    Args:
        in_dim: node feature width F of ``graph.x``.
        edge_dim: edge feature width K of ``graph.edge_attr``.
        out_dim: number of outputs per graph (or per node with `node_level`).
        node_level: return one output row per node (no pool).
        group: ``"sn"`` (plain MPNN), ``"p1"``, ``"glambda"`` or ``"slambda"``.
        width: hidden width d (paper: 128).
        layers: number of message-passing layers L (paper: 6).
        backend: per-colour matmuls: ``"bmm"`` (chunked colour plan, default), ``"loop"`` or
            ``"grouped_mm"`` (unchunked plan), see :mod:`ecn.nn.plan`.
        same_atom: add the authors' same-atom branch to every layer (default False: off, so
            existing models, files and configs are unchanged): a second gated edge MLP, with
            its own weights, gate and cell-pair colours, over the edges between periodic
            images of one atom, summed into ``m_i`` (``cell_layer_identity`` in the authors'
            ``learn_materials/equivariant/product_first.py``; see
            :class:`~ecn.nn.layers.EquivariantMessagePassing`). Not for ``group="sn"``: which
            nodes are copies of one atom is not preserved by S_N.
        envelope: ``"none"`` (default: the paper's model; trained files unchanged), ``"poly"``
            or ``"cosine"``: every message times a smooth envelope of ``d / r_c`` that reaches
            0 with zero slope at the distance ``r_c`` where the edge would leave the graph
            (``graph.edge_cutoff``, from the graph settings), so radius-cutoff and
            Cordero-limit graphs become continuous in the atomic positions
            (:mod:`ecn.nn.envelope`; issue 26). It changes the function: a model trained
            without it must be retrained to use it.
        cell_colors: ``"hard"`` (default: the paper's parity colours of the image offsets) or
            ``"soft"`` (``slambda`` on the unit cell only): each edge is "same cell" with a
            weight that depends only on the edge vector and the lattice
            (:func:`ecn.graphs.gauge.same_cell_weight`) and sends both colours' messages,
            weighted. With ``envelope`` on, the model is continuous in the positions and
            description-invariant without relying on the canonical step (issue 26); it
            changes the function, so it must be trained with it.
        envelope_width: fade width in Å of ``envelope: band`` (default 0.5).
        face_area: A0 in Å^2 (default 0: off): every message also times a weight of the area
            of the Voronoi face its edge crosses, 0 at zero area and 1 from A0 on, so that a
            face appearing or vanishing does not make the prediction jump (Voronoi graphs;
            :mod:`ecn.nn.envelope`).

    Attributes:
        config: the resolved `ModelConfig`; ``build_model(model.config)`` rebuilds the model.
        layers: the L :class:`EquivariantMessagePassing` modules (``nn.ModuleList``).
    """

    NAME: ClassVar[str] = "ecn"
    #: Parameter-name prefixes of the parts fine-tuning treats apart (``ecn.nn.finetune_parts``).
    PARTS: ClassVar[dict[str, str]] = {"embedding": "embedding", "layers": "layers", "head": "head"}
    #: No cell one-hot by default, so ECN runs on the unit cell: the exact quotient of the
    #: 8-fold cover (``ecn.nn.plan.edge_cells``), chosen by measurement (8x cheaper steps and a
    #: lower Perov-5 test MAE at equal wall-clock, ``results/quotient/``). ``cell_onehot: true``
    #: is the paper's symmetry-broken model on the cover (paper §5).
    GRAPH_SETTINGS: ClassVar[dict[str, Any]] = {"cell_onehot": False}
    #: Equivariant to the node permutations of ``config.options["group"]`` (Claim 6.1).
    SYMMETRY: ClassVar[str] = "supercell_group"

    @staticmethod
    def finish_graph_settings(
        merged: dict[str, Any], user: Mapping[str, Any], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The cover when the cell one-hot is on, else its quotient, the unit cell.

        Without the one-hot the cover's 8 copies of an atom carry the same features at every
        layer, so the unit-cell graph with offset-parity colours is the same function at 1/8 of
        the cost. An explicit ``supercell`` from the user is kept (the cover without the
        one-hot stays available, e.g. to test the equality). The one-hot needs the cover.

        Raises:
            ValueError: ``supercell: false`` with ``cell_onehot: true``.
        """
        out = dict(merged)
        if "supercell" not in user:
            out["supercell"] = bool(out.get("cell_onehot", True))
        if not out.get("supercell", True) and out.get("cell_onehot", True):
            raise ValueError(
                "ECN on the unit cell needs cell_onehot: false (--no-cell-onehot): the cell "
                "one-hot labels the 8 cells of the 2x2x2 cover"
            )
        return out

    def __init__(
        self,
        in_dim: int,
        edge_dim: int,
        out_dim: int = 1,
        node_level: bool = False,
        *,
        group: str = "slambda",
        width: int = 128,
        layers: int = 6,
        backend: str = "bmm",
        same_atom: bool = False,
        envelope: str = "none",
        cell_colors: str = "hard",
        envelope_width: float = BAND_WIDTH,
        face_area: float = 0.0,
    ) -> None:
        super().__init__()
        if cell_colors not in CELL_COLORS:
            raise ValueError(f"cell_colors must be one of {CELL_COLORS}, got {cell_colors!r}")
        if cell_colors == "soft" and group != "slambda":
            raise ValueError(
                f"cell_colors: soft is defined for group slambda (two cell colours), not {group!r}"
            )
        if envelope not in ENVELOPES:
            raise ValueError(f"unknown envelope {envelope!r}; expected one of {ENVELOPES}")
        if not float(envelope_width) > 0 or not float(face_area) >= 0:
            raise ValueError(
                f"envelope_width must be > 0 and face_area >= 0, got {envelope_width}, {face_area}"
            )
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
        if not isinstance(same_atom, bool):
            raise ValueError(f"same_atom must be true or false, got {same_atom!r}")
        if same_atom and group == "sn":
            raise ValueError(
                "same_atom needs a crystal group (p1, glambda, slambda): S_N permutes nodes "
                "across atoms, so the same-atom edges are not an S_N-invariant set"
            )
        if min(in_dim, edge_dim, out_dim, width) < 1 or layers < 0:
            raise ValueError("in_dim, edge_dim, out_dim and width must be >= 1, layers >= 0")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
        self.config = ModelConfig(
            self.NAME,
            in_dim,
            edge_dim,
            out_dim,
            node_level,
            options={
                "group": group,
                "width": width,
                "layers": layers,
                "backend": backend,
                "same_atom": same_atom,
                "envelope": envelope,
                "cell_colors": cell_colors,
                "envelope_width": float(envelope_width),
                "face_area": float(face_area),
            },
        )
        self.group, self.node_level = group, node_level
        self.embedding = nn.Linear(in_dim, width)
        n_same = n_same_atom_colors(group) if same_atom else 0
        self.layers = nn.ModuleList(
            EquivariantMessagePassing(width, edge_dim, n_base_colors(group), 1, backend, n_same)
            for _ in range(layers)
        )
        self.node_mlp = _mlp(width, width)
        self.head = _mlp(width, out_dim)

    def plan(self, graph: CrystalGraph) -> ColorPlan:
        """The colour plan of `graph` for this model's group (computed once per batch); with
        the same-atom branch it also carries the same-atom edges, in the branch's slots; with
        an envelope, every edge's weight (``ColorPlan.mult``)."""
        return build_color_plan(
            graph,
            self.group,
            "auto" if self.config.options["backend"] == "bmm" else None,
            same_atom=self.config.options["same_atom"],
            edge_weight=edge_envelope(
                graph,
                self.config.options["envelope"],
                width=self.config.options.get("envelope_width", BAND_WIDTH),
                face_area=self.config.options.get("face_area", 0.0),
            ),
            same_cell=self._same_cell(graph),
        )

    def _same_cell(self, graph: CrystalGraph) -> Tensor | None:
        """(E,) soft cell colours of `graph` (``cell_colors: soft``), or None (parity colours)."""
        if self.config.options["cell_colors"] == "hard":
            return None
        if graph.edge_vec is None:
            raise ValueError(
                "cell_colors: soft needs graph.edge_vec (set by ecn.graphs.expand from the "
                "records' fractional coordinates)"
            )
        return same_cell_weight(graph.edge_vec, graph.lattice, graph.edge_batch)

    def node_embeddings(self, graph: CrystalGraph, plan: ColorPlan | None = None) -> list[Tensor]:
        """Node features after the embedding and after each layer.

        Returns:
            L + 1 tensors of shape (N, d).
        """
        if graph.x.dim() != 2 or graph.x.shape[1] != self.config.in_dim:
            raise ValueError(
                f"graph.x has shape {tuple(graph.x.shape)}, model expects (N, {self.config.in_dim})"
            )
        plan = self.plan(graph) if plan is None else plan
        h = self.embedding(graph.x)
        out = [h]
        for layer in self.layers:
            h = layer(h, plan)
            out.append(h)
        return out

    def forward(self, graph: CrystalGraph, plan: ColorPlan | None = None) -> Tensor:
        """Predict per graph (mean pool) or, for a `node_level` model, per node.

        Args:
            graph: a (batched) supercell `CrystalGraph`.
            plan: a precomputed colour plan (optional; :meth:`plan`).

        Returns:
            (G, out_dim), or (N, out_dim) when the model was built with ``node_level=True``.
        """
        h = self.node_mlp(self.node_embeddings(graph, plan)[-1])
        if self.node_level:
            return self.head(h)
        g = graph.num_graphs
        pooled = torch.zeros(g, h.shape[1], dtype=h.dtype, device=h.device)
        pooled = pooled.index_add(0, graph.batch, h)
        count = torch.zeros(g, dtype=h.dtype, device=h.device).index_add(
            0, graph.batch, torch.ones_like(graph.batch, dtype=h.dtype)
        )
        return self.head(pooled / count.clamp(min=1)[:, None])
