"""The Lightning training module: trains any ``PropertyModel`` (ECN or a baseline).

Loss on standardised targets, metrics in original units, AdamW + plateau LR. The module holds a
``ecn.inference.PropertyModel`` as ``self.net`` and nothing else that inference needs, so the
model file written after training (``model.pt``) is ``net``'s state plus the hyperparameters
saved here (all plain Python/tensors: ``torch.load(weights_only=True)`` reads a checkpoint).
"""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor

from ecn._version import __version__
from ecn.graphs.cover import UnitBatch
from ecn.graphs.geometry import differentiable_geometry
from ecn.graphs.graph import CrystalGraph
from ecn.graphs.settings import GraphSettings
from ecn.inference import PropertyModel, TargetInfo
from ecn.nn import ModelConfig
from ecn.nn.layers import twice_differentiable
from ecn.nn.slope import squared_slopes
from ecn.train.data import NODE_TARGETS
from ecn.train.finetune import frozen_names, param_groups

logger = logging.getLogger(__name__)

__all__ = ["TrainingModule"]


def adamw(params: Any, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW, fused into one kernel per step where torch has it (CPU and CUDA): 3x faster than
    the per-tensor loop on a 1.6M-parameter ECN on one CPU core, the same update rule."""
    params = list(params)
    flat = (
        [p for g in params for p in g["params"]]
        if params and isinstance(params[0], dict)
        else params
    )
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in flat)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


class TrainingModule(pl.LightningModule):
    """Trains ``PropertyModel.build(ModelConfig.from_dict(model), TargetInfo.from_dict(targets))``.

    Args:
        model: ``ecn.nn.ModelConfig`` as a dict (name, in/out widths, node_level, options).
        targets: ``ecn.inference.TargetInfo`` as a dict (names, units, task, mean, std).
        graph_settings: the resolved ``GraphSettings`` as a dict (written into the model file).
        optim: optimiser settings (``OptimConfig`` as a dict).
        dataset: dataset name (recorded in the model file).
        ecn_version: the ecn version that trained it.
        finetune: ``FinetuneConfig`` as a dict when the run starts from a trained model: the
            optimiser then leaves frozen parts out and gives loaded weights their own learning
            rate (``ecn.train.finetune.param_groups``); None for a run from scratch.
    """

    def __init__(
        self,
        model: dict[str, Any],
        targets: dict[str, Any],
        graph_settings: dict[str, Any],
        optim: dict[str, Any] | None = None,
        dataset: str = "",
        ecn_version: str = __version__,
        finetune: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = PropertyModel.build(ModelConfig.from_dict(model), TargetInfo.from_dict(targets))
        if finetune:  # frozen before any wrapper (DDP) registers the parameters to reduce
            frozen = frozen_names(
                self.net.model, finetune["freeze_embedding"], finetune["freeze_layers"]
            )
            for name, p in self.net.model.named_parameters():
                p.requires_grad_(name not in frozen)
        self.node_target = self.net.targets.node_target
        self._val_sums: dict[str, Tensor] = {}
        self._settings = GraphSettings(**graph_settings)
        # ``run.compile``: a compiled forward of ``net``, kept as a function (not a submodule),
        # so checkpoints and the model file hold the same keys as without it
        self._compiled: Any = None

    def compile_forward(self) -> None:
        """Run ``net`` through ``torch.compile`` (dynamic shapes) in training and validation
        steps (``run.compile``); the slope penalty's double backward stays eager."""
        self._compiled = torch.compile(self.net.forward, dynamic=True)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """A compact `UnitBatch` (``run.expand_on: device``) becomes the graph here, on the
        training device; an already expanded `CrystalGraph` passes through."""
        if isinstance(batch, UnitBatch):
            return batch.expand(self._settings)
        return batch

    # --- inference ------------------------------------------------------------------------------
    def forward(self, graph: CrystalGraph) -> Tensor:
        """Raw model output: (G, out_dim), or (N, out_dim) when node-level; float32 even under
        mixed precision (losses and metrics are computed in float32)."""
        return (self._compiled or self.net)(graph).float()

    @property
    def task(self) -> str:
        return self.net.task

    def targets_of(self, graph: CrystalGraph) -> Tensor:
        """(G, T) graph targets, or (N, T) per-node targets for node-level training."""
        if self.node_target is not None:
            return NODE_TARGETS[self.node_target](graph).to(graph.x.device)
        return graph.y.to(graph.x.device).float()

    # --- training -------------------------------------------------------------------------------
    def _loss(self, out: Tensor, y: Tensor) -> Tensor:
        if self.task == "classification":
            return F.cross_entropy(out, y[:, 0].long())
        y_std = self.net.standardise(y)
        mask = ~torch.isnan(y_std)
        return F.mse_loss(out[mask], y_std[mask])

    def _slope_quantity(self, out: Tensor) -> Tensor:
        """(G, T) what the slope penalty differentiates: the standardised outputs, or the
        probabilities of every class after the first."""
        return F.softmax(out, dim=-1)[:, 1:] if self.task == "classification" else out

    def training_step(self, batch: CrystalGraph, batch_idx: int) -> Tensor:
        y = self.targets_of(batch)
        lam = float((self.hparams["optim"] or {}).get("slope_penalty") or 0.0)
        if lam > 0:  # optim.slope_penalty: flat in atom moves and strain (ecn.nn.slope)
            if self.node_target is not None:
                raise ValueError("optim.slope_penalty is for per-crystal targets")
            with twice_differentiable():
                geo, u, eps = differentiable_geometry(batch, self._settings)
                out = self.net(geo).float()  # eager: compiled graphs have no double backward
                slope = squared_slopes(self._slope_quantity(out), u, eps, geo).mean()
            loss = self._loss(out, y) + lam * slope.to(out.dtype)
            self.log(
                "train_slope",
                slope.detach(),
                on_step=False,
                on_epoch=True,
                batch_size=int(y.shape[0]),
                sync_dist=True,
            )
        else:
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
        # float32 even under bf16/fp16 mixed-precision training, as the final evaluation: the
        # number early stopping and the best checkpoint go by is the one results.json reports
        with torch.autocast(device_type=batch.x.device.type, enabled=False):
            out = self(batch)
        n = float(y.shape[0])
        self._accumulate("loss", self._loss(out, y) * n)
        self._accumulate("n", torch.tensor(n, device=out.device))
        if self.task == "classification":
            self._accumulate("correct", (out.argmax(-1) == y[:, 0].long()).sum())
        else:
            pred = self.net.to_units(out)
            self._accumulate("abs", (pred - y).abs().sum(0))  # (T,) original units
            self._accumulate("abs_std", ((pred - y).abs() / self.net.target_std).sum(0))

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
            return
        mae = sums["abs"] / n
        names = self.net.targets.names
        if len(names) == 1:
            self.log("val_mae", mae[0].float(), prog_bar=True)
        else:  # units differ: the monitored value is the mean standardised MAE
            self.log("val_mae", (sums["abs_std"] / n).mean().float(), prog_bar=True)
            for t, m in zip(names, mae, strict=True):
                self.log(f"val_mae_{t}", m.float())

    def configure_optimizers(self) -> dict[str, Any]:
        o = self.hparams["optim"] or {}
        lr = o.get("lr", 1e-3)
        ft = self.hparams.get("finetune")
        params = param_groups(self.net.model, ft, lr) if ft else self.parameters()
        opt = adamw(params, lr, o.get("weight_decay", 1e-2))
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
