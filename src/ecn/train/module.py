"""LightningModule: loss on standardised targets, metrics in original units, AdamW + plateau LR.

The checkpoint is self-describing (matgl style): ``hyper_parameters`` hold the model's init kwargs,
targets, task, graph settings and the ecn version; the train-split mean/std are buffers in the
``state_dict``. Everything is plain Python/tensors, so ``torch.load(weights_only=True)`` reads it.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor

from ecn.graphs.graph import CrystalGraph

logger = logging.getLogger(__name__)

__all__ = ["ECNModule"]


class ECNModule(pl.LightningModule):
    """Wraps ``ecn.nn.build_model(model_name, **model_kwargs)`` for training and inference.

    Args:
        model_name: key of ``ecn.nn.MODELS``.
        model_kwargs: init kwargs of the model (in_dim, edge_dim, group, width, layers, out_dim,
            node_level, ...), stored verbatim so loading rebuilds the same class.
        targets: target names; task: ``regression`` or ``classification``; units: per target.
        target_mean, target_std: (T,) train-split statistics (regression standardisation).
        graph_settings: ``GraphSettings`` as a dict, so prediction builds the same graphs.
        optim: optimiser settings (``OptimConfig`` as a dict).
        node_target: per-site target name (node-level training) or None.
    """

    def __init__(
        self,
        model_name: str,
        model_kwargs: dict[str, Any],
        targets: list[str],
        task: str = "regression",
        units: list[str] | None = None,
        target_mean: list[float] | None = None,
        target_std: list[float] | None = None,
        graph_settings: dict[str, Any] | None = None,
        optim: dict[str, Any] | None = None,
        node_target: str | None = None,
        dataset: str = "",
        ecn_version: str = "",
    ) -> None:
        super().__init__()
        from ecn.nn import build_model

        if task not in ("regression", "classification"):
            raise ValueError(f"unknown task '{task}'")
        n_t = len(targets)
        self.save_hyperparameters(ignore=["target_mean", "target_std"])
        self.model = build_model(model_name, **model_kwargs)
        mean = torch.zeros(n_t) if target_mean is None else torch.as_tensor(target_mean).float()
        std = torch.ones(n_t) if target_std is None else torch.as_tensor(target_std).float()
        self.register_buffer("target_mean", mean.view(n_t))
        self.register_buffer("target_std", std.view(n_t))
        self.task = task
        # Node level is either an init kwarg of the model (baselines) or a forward flag (ECN).
        self.node_level = node_target is not None or bool(model_kwargs.get("node_level", False))
        self._node_flag = self.node_level and "node_level" not in model_kwargs
        self.node_target = node_target
        self._val_sums: dict[str, Tensor] = {}

    # --- inference ------------------------------------------------------------------------------
    def forward(self, graph: CrystalGraph) -> Tensor:
        """Raw model output: (G, out_dim), or (N, out_dim) when node-level."""
        if self._node_flag:
            return self.model(graph, node_level=True)
        return self.model(graph)

    def predict_batch(self, graph: CrystalGraph) -> Tensor:
        """Predictions in original units: (G, T) regression values, or (G, 1) P(class 1)."""
        out = self(graph)
        if self.task == "classification":
            return out.softmax(-1)[:, 1:2]
        return out * self.target_std + self.target_mean

    def targets_of(self, graph: CrystalGraph) -> Tensor:
        """(G, T) graph targets, or (N, T) per-node targets for node-level training."""
        if self.node_target is not None:
            from ecn.train.data import NODE_TARGETS

            return NODE_TARGETS[self.node_target](graph).to(graph.x.device)
        return graph.y.to(graph.x.device).float()

    # --- training -------------------------------------------------------------------------------
    def _loss(self, out: Tensor, y: Tensor) -> Tensor:
        if self.task == "classification":
            return F.cross_entropy(out, y[:, 0].long())
        y_std = (y - self.target_mean) / self.target_std
        mask = ~torch.isnan(y_std)
        return F.mse_loss(out[mask], y_std[mask])

    def training_step(self, batch: CrystalGraph, batch_idx: int) -> Tensor:
        y = self.targets_of(batch)
        loss = self._loss(self(batch), y)
        self.log(
            "train_loss",
            loss,
            on_step=False,
            on_epoch=True,
            batch_size=int(y.shape[0]),
            sync_dist=True,
            prog_bar=True,
        )
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_sums = {}

    def _accumulate(self, name: str, value: Tensor) -> None:
        value = value.detach().double()
        self._val_sums[name] = self._val_sums[name] + value if name in self._val_sums else value

    def validation_step(self, batch: CrystalGraph, batch_idx: int) -> None:
        y = self.targets_of(batch)
        out = self(batch)
        n = float(y.shape[0])
        self._accumulate("loss", self._loss(out, y) * n)
        self._accumulate("n", torch.tensor(n, device=out.device))
        if self.task == "classification":
            self._accumulate("correct", (out.argmax(-1) == y[:, 0].long()).sum())
        else:
            pred = out * self.target_std + self.target_mean
            self._accumulate("abs", (pred - y).abs().sum(0))  # (T,) original units
            self._accumulate("abs_std", ((pred - y).abs() / self.target_std).sum(0))

    def on_validation_epoch_end(self) -> None:
        if not self._val_sums:
            return
        sums = dict(self._val_sums)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # Shards are unpadded (UnpaddedShardSampler): summing error sums over ranks gives
            # exactly the full-split metric, identical on every rank (so callbacks agree).
            for k in sorted(sums):
                torch.distributed.all_reduce(sums[k])
        n = sums["n"]
        self.log("val_loss", (sums["loss"] / n).float(), prog_bar=True)
        if self.task == "classification":
            self.log("val_acc", (sums["correct"] / n).float())
        else:
            mae = sums["abs"] / n
            targets = self.hparams["targets"]
            if len(targets) == 1:
                self.log("val_mae", mae[0].float(), prog_bar=True)
            else:  # units differ: the monitored value is the mean standardised MAE
                self.log("val_mae", (sums["abs_std"] / n).mean().float(), prog_bar=True)
                for t, m in zip(targets, mae, strict=False):
                    self.log(f"val_mae_{t}", m.float())

    def configure_optimizers(self) -> dict[str, Any]:
        o = self.hparams["optim"] or {}
        opt = torch.optim.AdamW(
            self.parameters(), lr=o.get("lr", 1e-3), weight_decay=o.get("weight_decay", 1e-2)
        )
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt,
            mode="min",
            factor=o.get("lr_factor", 0.5),
            patience=o.get("lr_patience", 10),
            min_lr=o.get("min_lr", 1e-6),
        )
        return {
            "optimizer": opt,
            "lr_scheduler": {"scheduler": sched, "monitor": "val_loss", "interval": "epoch"},
        }

    @property
    def monitor(self) -> str:
        """Metric for early stopping / best checkpoint."""
        return "val_loss" if self.task == "classification" else "val_mae"

    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())
