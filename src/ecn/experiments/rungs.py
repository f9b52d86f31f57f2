"""A rung of the Perov-5 ablation ladder (``ecn reproduce ablation``): which model, graph,
schedule, size and cells, and the training config that makes it, so the ladder
(``ecn.experiments.ablation``) and the settled Table 2 (``ecn.experiments.table2_settled``)
name runs the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecn.graphs.settings import NAMED_GRAPHS
from ecn.train.config import TrainConfig, config_from_dict

__all__ = ["ECN_MODELS", "RECIPE", "SCHEDULES", "Rung"]

#: Optimiser settings every rung shares (the recipe tuned on Perov-5, ``configs/table2_recipe``).
RECIPE: dict[str, Any] = {"lr": 2e-3, "weight_decay": 1e-2, "batch_size": 64}

#: Schedules. ``es``: ours so far (plateau x0.5 after 10 stalled epochs, early stopping after
#: 25: runs end after about two halvings). ``plateau``: the authors' spirit, no early stopping,
#: the plateau schedule runs the LR down to 1e-5 (eight halvings) and training stops there.
#: ``authors``: their exact rule (patience 25, down to 1e-6; about 3x the epochs of ``plateau``).
SCHEDULES: dict[str, dict[str, Any]] = {
    "es": {"epochs": 1000, "patience": 25, "lr_patience": 10, "min_lr": 1e-6},
    "plateau": {
        "epochs": 1000,
        "patience": 100_000,
        "lr_patience": 10,
        "min_lr": 1e-5,
        "stop_at_min_lr": True,
    },
    "authors": {
        "epochs": 1000,
        "patience": 100_000,
        "lr_patience": 25,
        "min_lr": 1e-6,
        "stop_at_min_lr": True,
    },
}

#: Models a rung configures as ECN (group, graph, size, cells): ECN and the E(n)-equivariant ECN
#: (``ecn.nn.egnn``, the paper's EGNN extension), which takes the same options but same_atom.
ECN_MODELS: tuple[str, ...] = ("ecn", "ecn_egnn")

#: CGCNN rungs use CGCNN's own defaults, which are the options tuned on Perov-5
#: (``configs/table2_recipe.yaml``: 8 Å, 12 neighbours, 3 convolutions); every resolved option
#: is written to each run's config.yaml.


@dataclass(frozen=True)
class Rung:
    """One row of the ladder: which model, graph, schedule and size; ``seeds`` runs of it."""

    model: str = "ecn"
    group: str = "slambda"
    graph: str = "voronoi"
    schedule: str = "es"
    width: int = 64
    layers: int = 4
    cover: bool = False
    same_atom: bool = False
    seeds: int = 1
    #: ``paper``: the official split; ``big``: training + 3,000 of the official validation
    #: structures, validated on the other 787 (``ecn.data.perov5.EXTRA_SPLITS``; not the
    #: paper's protocol, test untouched).
    split: str = "paper"
    #: train on a seeded nested fraction of the training split (learning curve over size)
    train_fraction: float | None = None
    #: ECN's edge envelope (``ecn.nn.envelope``): ``poly`` takes every edge to zero, with zero
    #: slope, where it would leave the graph (continuity in the positions, issue 26)
    envelope: str = "none"
    #: ECN's cell colours (``ecn.nn.ecn.CELL_COLORS``): ``soft`` weights each edge's S_Λ colour
    #: smoothly from the edge vector (exact description invariance without the canonical
    #: step, continuity across cell faces; issue 26)
    cell_colors: str = "hard"

    @property
    def is_ecn(self) -> bool:
        """ECN or its E(n)-equivariant version (``ecn_egnn``): a group, graph, size, cells."""
        return self.model in ECN_MODELS

    @property
    def name(self) -> str:
        """Run-directory stem, e.g. ``ecn_slambda_r5_64x4_plateau``,
        ``ecn_slambda_r5_64x4_egnn_es`` or ``cgcnn_plateau``."""
        big = "_bigsplit" if self.split == "big" else ""
        if self.train_fraction is not None:
            big += f"_frac{self.train_fraction:g}"
        if not self.is_ecn:
            return f"{self.model}_{self.schedule}{big}"
        extra = ("_cover" if self.cover else "") + ("_sameatom" if self.same_atom else "")
        extra += "_egnn" if self.model == "ecn_egnn" else ""
        extra += f"_env{self.envelope}" if self.envelope != "none" else ""
        extra += "_softcells" if self.cell_colors != "hard" else ""
        size = f"{self.width}x{self.layers}"
        return f"ecn_{self.group}_{self.graph}_{size}{extra}_{self.schedule}{big}"

    @property
    def data(self) -> str:
        """Table cell: the training data (the paper split, a fraction of it, the larger one)."""
        if self.split == "big":
            return "train + 3,000 val"
        if self.train_fraction is not None:
            return f"{self.train_fraction:.0%} of train"
        return "train"

    def describe(self) -> dict[str, str]:
        """Table cells: model, graph, schedule, size, cell (quotient/cover), same-atom branch,
        training data."""
        return {**self._describe(), "data": self.data}

    def _describe(self) -> dict[str, str]:
        if not self.is_ecn:
            return {
                "model": self.model.upper(),
                "graph": "own (8 Å, 12 nn)",
                "schedule": self.schedule,
                "size": "paper",
                "cells": "unit cell",
                "same-atom": "-",
            }
        label = {"slambda": "ECN-SΛ", "sn": "MPNN (S_N)", "p1": "ECN-P-1"}.get(
            self.group, f"ECN-{self.group}"
        )
        return {
            "model": label
            + (" EGNN" if self.model == "ecn_egnn" else "")
            + (f", {self.envelope} envelope" if self.envelope != "none" else "")
            + (", soft cells" if self.cell_colors != "hard" else ""),
            "graph": self.graph,
            "schedule": self.schedule,
            "size": f"{self.width}x{self.layers}",
            "cells": "cover + cell one-hot" if self.cover else "unit cell (quotient)",
            "same-atom": "yes" if self.same_atom else "no",
        }

    def config(
        self,
        seed: int,
        out: Path,
        accelerator: str = "cpu",
        threads: int | None = 1,
        session_cap_min: float | None = None,
        limit: int | None = None,
        data_path: str | None = None,
    ) -> TrainConfig:
        """The training config of seed `seed` written to `out` (`data_path`: another copy of
        the Perov-5 files, for tests)."""
        if self.is_ecn:
            options: dict[str, Any] = {
                "group": self.group,
                "width": self.width,
                "layers": self.layers,
            }
            if self.same_atom:
                options["same_atom"] = True
            if self.envelope != "none":
                options["envelope"] = self.envelope
            if self.cell_colors != "hard":
                options["cell_colors"] = self.cell_colors
            graph = {**NAMED_GRAPHS[self.graph], "cell_onehot": self.cover}
        else:
            options, graph = {}, {}
        raw: dict[str, Any] = {
            "data": {"dataset": "perov5", "targets": ["heat_all"], "path": data_path},
            "graph": graph,
            "model": {"name": self.model, "options": options},
            "optim": {**RECIPE, **SCHEDULES[self.schedule]},
            "run": {
                "seed": seed,
                "out": str(out),
                "threads": threads,
                "precision": "32",
                "accelerator": accelerator,
                "progress_bar": False,
                "session_cap_min": session_cap_min,
            },
        }
        if limit is not None:
            raw["data"]["limit"] = limit
        if self.train_fraction is not None:
            raw["data"]["train_fraction"] = self.train_fraction
        if self.split == "big":
            raw["data"].update(train_split="train_plus_val", val_split="val_holdout")
        elif self.split != "paper":
            raise ValueError(f"unknown split variant {self.split!r}; expected paper or big")
        return config_from_dict(raw)
