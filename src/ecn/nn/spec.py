"""A model variant in one string: ``<model>[-<group>][@<W>x<L>][:<graph>+<graph>...]``.

One encoding for every place that names a variant: ``ecn bench train`` takes these names
(``ecn-slambda:cutoff+cover``, ``ecn-slambda@64x4:r8n12``, ``cgcnn``) and the paper tables'
rows (``ecn.experiments.variants.Variant``) are built from them, so a row and a benchmark
entry of the same model are the same value, and a run directory's slug (``ecn_slambda``)
comes from it too.

The part after ``:`` picks the graph (a neighbour strategy, or a variant of
:data:`GRAPH_VARIANTS`); it changes the graph, not the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecn.graphs.settings import NAMED_GRAPHS, STRATEGIES
from ecn.nn.models import MODELS
from ecn.symmetry.colorings import GROUPS

__all__ = ["GRAPH_VARIANTS", "ModelSpec"]

#: Graph variants a name may ask for after ``:`` besides a neighbour strategy: ``cover`` = the
#: paper's model, with the cell one-hot on the 8-fold cover; ``quotient`` = no cell one-hot, so
#: ECN runs on the unit cell (the exact quotient of its cover, ``ecn.nn.plan.edge_cells``;
#: ECN's default); and the named graphs of ``ecn.graphs.settings.NAMED_GRAPHS``.
GRAPH_VARIANTS: dict[str, dict[str, Any]] = {
    "cover": {"cell_onehot": True},
    "quotient": {"cell_onehot": False},
    **NAMED_GRAPHS,
}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed variant name: ``MODELS`` key, model options (ECN: group, and width/layers when
    the name sets a size), graph tokens (the ``:`` suffix, see :attr:`graph`)."""

    model: str
    options: dict[str, Any] = field(default_factory=dict)
    graph_tokens: tuple[str, ...] = ()

    @classmethod
    def parse(cls, name: str) -> ModelSpec:
        """``"ecn-p1"`` -> ecn with ``{"group": "p1"}``; ``"ecn-slambda@64x4:r5"`` also sets
        width 64 and 4 layers (default: the paper's 128x6) and the ``r5`` graph;
        ``"ecn_egnn-slambda@64x4:r5"``: the same for the E(n)-equivariant ECN.

        Raises:
            ValueError: an unknown model, group, size or graph token (the message lists them).
        """
        head, _, suffix = name.partition(":")
        base_name, _, size_text = head.partition("@")
        tokens = tuple(filter(None, suffix.split("+")))
        for token in tokens:
            if token not in STRATEGIES and token not in GRAPH_VARIANTS:
                raise ValueError(
                    f"unknown graph suffix {token!r} in {name!r}; use a strategy {STRATEGIES} "
                    f"or a variant {sorted(GRAPH_VARIANTS)}, joined by '+'"
                )
        base, _, group = base_name.partition("-")
        if base in ("ecn", "ecn_egnn") and group in GROUPS:  # ECN or its E(n) version
            opts: dict[str, Any] = {"group": group}
            if size_text:
                try:
                    opts["width"], opts["layers"] = (int(v) for v in size_text.split("x"))
                except ValueError as err:
                    msg = f"bad ECN size {size_text!r} in {name!r}; expected WxL"
                    raise ValueError(msg) from err
            return cls(base, opts, tokens)
        if not group and not size_text and base_name in MODELS:
            return cls(base_name, {}, tokens)
        ecns = [f"{m}-{g}" for m in ("ecn", "ecn_egnn") for g in GROUPS]
        raise ValueError(
            f"unknown model {name!r}; choose from {[*ecns, *sorted(MODELS)]}, optionally with "
            "'@WxL' (ECN size) and ':<graph strategy or variant>'"
        )

    @property
    def group(self) -> str | None:
        """ECN's symmetry group (None for the baselines)."""
        return self.options.get("group")

    @property
    def graph(self) -> dict[str, Any]:
        """Graph-setting overrides of the ``:`` suffix (later tokens win)."""
        out: dict[str, Any] = {}
        for token in self.graph_tokens:
            out.update({"strategy": token} if token in STRATEGIES else GRAPH_VARIANTS[token])
        return out

    @property
    def slug(self) -> str:
        """``ecn_slambda`` / ``cgcnn``: run-directory names and per-row keys (seeds, recipes)."""
        return f"{self.model}_{self.group}" if self.group else self.model

    def __str__(self) -> str:
        name = f"{self.model}-{self.group}" if self.group else self.model
        if "width" in self.options and "layers" in self.options:
            name += f"@{self.options['width']}x{self.options['layers']}"
        return name + (":" + "+".join(self.graph_tokens) if self.graph_tokens else "")
