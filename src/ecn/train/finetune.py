"""Fine-tuning: start a training run from a trained model (``ecn train --init-from``).

Why a module of its own: starting from pretrained weights touches three moments of a run, and
each must agree with the others across ``--resume``. Before the config is resolved, the source's
architecture and graph settings become the run's defaults (``source_defaults``); when the model
is built, the weights are copied in after a compatibility check, the head is kept (rescaled to
the new target standardisation) or re-initialised (``initialise``); and the optimiser sees
frozen parts as fixed and the loaded weights at their own learning rate (``param_groups``).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ecn.data.checksums import sha256_file
from ecn.graphs import GraphSettings
from ecn.inference import PropertyModel, resolve_model_path
from ecn.inference.ensemble import EnsembleModel
from ecn.inference.model_file import load_any_model_file
from ecn.inference.pretrained import PRETRAINED_DIR
from ecn.nn import SMOOTHING_OPTIONS, finetune_parts

__all__ = ["frozen_names", "initialise", "param_groups", "portable_path", "source_defaults"]

logger = logging.getLogger(__name__)


def _source_model(
    init_from: str | Path, member: int = 0
) -> tuple[PropertyModel, GraphSettings, dict, int | None]:
    """The model fine-tuning starts from: a single model as is, an ensemble's member `member`
    (shipped ensembles such as ``mp-e_form`` hold seed 0 first; the members share the
    architecture and graph) -> (model, settings, meta, member index or None).

    Raises:
        ValueError: `member` is not a member of the ensemble, or > 0 for a single model.
    """
    model, settings, meta = load_any_model_file(init_from)
    if isinstance(model, EnsembleModel):
        if not 0 <= member < model.n_members:
            raise ValueError(
                f"finetune.member={member}: {init_from} has members 0..{model.n_members - 1}"
            )
        logger.info("%s is an ensemble of %d: fine-tuning starts from its member %d",
                    meta.get("path", init_from), model.n_members, member)  # fmt: skip
        return model.members[member], settings, meta, member
    if member:
        raise ValueError(
            f"finetune.member={member}: {init_from} is a single model, not an ensemble"
        )
    return model, settings, meta, None


def source_defaults(init_from: str) -> dict[str, Any]:
    """Config entries (``model``, ``graph``) that make a run the same architecture on the same
    graph as the model `init_from` (name, run directory or file); a config overlays them.

    Raises:
        ValueError: `init_from` is not a readable model (the message says what was tried).
    """
    model, settings, _, _ = _source_model(init_from)
    cfg = model.model.config
    return {
        "model": {"name": cfg.name, "node_level": cfg.node_level, "options": dict(cfg.options)},
        "graph": dataclasses.asdict(settings),
    }


def _head_reset(mode: str, src: PropertyModel, dst: PropertyModel) -> bool:
    a, b = src.targets, dst.targets
    differs = (a.names, a.units, a.task, a.out_dim) != (b.names, b.units, b.task, b.out_dim)
    if mode == "keep" and a.out_dim != b.out_dim:
        raise ValueError(
            f"finetune.head=keep: the source has {a.out_dim} outputs ({list(a.names)}), this run "
            f"needs {b.out_dim} ({list(b.names)}); use head=auto or reset"
        )
    return mode == "reset" or (mode == "auto" and differs)


def _check_compatible(
    src: PropertyModel, src_settings: GraphSettings, dst: PropertyModel, settings: GraphSettings
) -> None:
    """Same architecture (name, widths, options) and graph settings, or a ValueError naming
    every difference and the settings that would match. The smoothing options
    (``ecn.nn.SMOOTHING_OPTIONS``: envelope, face weight, soft cell colours) may differ: they
    reweight edges without touching a parameter, so a paper-faithful model can be fine-tuned
    into a continuous one (issue 26)."""
    a, b = src.model.config, dst.model.config
    diffs = [
        f"{k}: source {getattr(a, k)!r}, this run {getattr(b, k)!r}"
        for k in ("name", "in_dim", "edge_dim", "node_level")
        if getattr(a, k) != getattr(b, k)
    ]
    diffs += [
        f"option {k}: source {a.options.get(k)!r}, this run {b.options.get(k)!r}"
        for k in sorted(set(a.options) | set(b.options))
        if a.options.get(k) != b.options.get(k) and k not in SMOOTHING_OPTIONS
    ]
    sa, sb = dataclasses.asdict(src_settings), dataclasses.asdict(settings)
    diffs += [f"graph {k}: source {sa[k]!r}, this run {sb[k]!r}" for k in sa if sa[k] != sb[k]]
    if diffs:
        raise ValueError(
            "cannot start from this model, it differs from the run: "
            + "; ".join(diffs)
            + " (drop the conflicting options: --init-from takes the source's by default)"
        )


def _last_linear(module: nn.Module) -> nn.Linear:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"head {type(module).__name__} has no Linear layer")
    return linears[-1]


@torch.no_grad()
def _rescale_head(src: PropertyModel, dst: PropertyModel) -> None:
    """Make the kept head predict, under the new standardisation (mean m', std s'), what the
    source predicts under its own (m, s): out' = out * s/s' + (m - m')/s' on the last Linear."""
    if dst.task != "regression":
        return
    head = getattr(dst.model, type(dst.model).PARTS["head"])
    last = _last_linear(head)
    s, m = src.target_std.to(last.weight), src.target_mean.to(last.weight)
    s2, m2 = dst.target_std.to(last.weight), dst.target_mean.to(last.weight)
    last.weight.mul_((s / s2)[:, None])
    if last.bias is not None:
        last.bias.mul_(s / s2).add_((m - m2) / s2)


def portable_path(path: str | Path) -> str:
    """How a run records where its weights came from without naming this machine: a shipped
    model as ``ecn:pretrained/<file>``, a file below the working directory relative to it, any
    other file as given."""
    path = Path(path).resolve()
    shipped = PRETRAINED_DIR.parent
    for base, prefix in ((shipped, "ecn:"), (Path.cwd(), "")):
        if path.is_relative_to(base.resolve()):
            return prefix + path.relative_to(base.resolve()).as_posix()
    return str(path)


def initialise(
    net: PropertyModel, settings: GraphSettings, init_from: str, head: str, member: int = 0
) -> dict:
    """Copy the weights of `init_from` into the freshly built `net` (its targets' statistics
    already fitted on the new data) and return the record of it for ``finetune.source``.

    The head is copied and rescaled, or left at its fresh initialisation (``head_reset``).

    Raises:
        ValueError: incompatible architecture or graph settings (every difference named).
    """
    path = resolve_model_path(init_from)
    src, src_settings, meta, member = _source_model(path, member)
    _check_compatible(src, src_settings, net, settings)
    reset = _head_reset(head, src, net)
    parts = finetune_parts(net.model)
    skip = set(parts["head"]) if reset else set()
    state = {k: v for k, v in src.model.state_dict().items() if k not in skip}
    missing, unexpected = net.model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - skip:
        raise ValueError(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    if not reset:
        _rescale_head(src, net)
    record = {
        "path": portable_path(path),
        "name": str(init_from),
        "sha256": sha256_file(path),
        "dataset": meta.get("dataset", ""),
        "targets": list(src.targets.names),
        "units": list(src.targets.units),
        "head_reset": reset,
    }
    if member is not None:
        record["member"] = member
    a, b = src.model.config.options, net.model.config.options
    changed = {k: [a.get(k), b.get(k)] for k in SMOOTHING_OPTIONS if a.get(k) != b.get(k)}
    if changed:
        record["changed_options"] = changed  # {option: [source, this run]}
        logger.info("smoothing options changed from the source: %s", changed)
    logger.info(
        "fine-tuning from %s (%s): head %s", record["name"], record["sha256"][:12],
        "re-initialised" if reset else "kept",
    )  # fmt: skip
    return record


def frozen_names(model: nn.Module, freeze_embedding: bool, freeze_layers: int) -> set[str]:
    """Parameter names fine-tuning keeps fixed: the embedding and the first k layers.

    Raises:
        ValueError: more layers to freeze than the model has.
    """
    parts = finetune_parts(model)
    if freeze_layers > len(parts["layers"]):
        raise ValueError(
            f"finetune.freeze_layers={freeze_layers}, but the model has {len(parts['layers'])}"
        )
    names = set(parts["embedding"]) if freeze_embedding else set()
    for layer in parts["layers"][:freeze_layers]:
        names.update(layer)
    return names


def param_groups(model: nn.Module, finetune: dict[str, Any], lr: float) -> list[dict[str, Any]]:
    """AdamW parameter groups of a fine-tuning run: frozen parameters left out (and their
    ``requires_grad`` turned off), loaded ones at ``pretrained_lr``, a re-initialised head at
    `lr`. Deterministic from the config, so a resumed run gets the groups its checkpoint has."""
    frozen = frozen_names(model, finetune["freeze_embedding"], finetune["freeze_layers"])
    new = set(finetune_parts(model)["head"]) if finetune["source"].get("head_reset") else set()
    p_lr = finetune["pretrained_lr"]
    loaded: list[nn.Parameter] = []
    fresh: list[nn.Parameter] = []
    for name, p in model.named_parameters():
        if name in frozen:
            p.requires_grad_(False)
        else:
            (fresh if name in new else loaded).append(p)
    groups = [{"params": loaded, "lr": lr if p_lr is None else p_lr}]
    if fresh:
        groups.append({"params": fresh, "lr": lr})
    return [g for g in groups if g["params"]]
