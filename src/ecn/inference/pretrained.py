"""Pretrained models shipped in the package, picked by name (``ecn models``, issue 13).

Each model is a model file (``ecn.inference.model_file``) under ``ecn/resources/pretrained/``
with a model card (``<name>.md``) and an entry in ``registry.json``: the file, its SHA-256 and
size, the target, the test metrics of its card and the slice metric the test suite checks. The
files are in the wheel, so names work offline; a name is checked against its checksum before it
loads. `package_model` writes all of it from a finished run directory (cards are generated,
never typed).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ecn._version import __version__
from ecn.io import atomic_write_text

__all__ = [
    "PRETRAINED_DIR",
    "list_models",
    "package_model",
    "pretrained_path",
    "slice_metric",
]

#: Where the shipped models live (package data).
PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "resources" / "pretrained"
REGISTRY = "registry.json"


def _registry(root: Path | None = None) -> dict[str, dict[str, Any]]:
    path = (root or PRETRAINED_DIR) / REGISTRY
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def list_models(root: Path | None = None) -> list[dict[str, Any]]:
    """Registry entries (name, target, unit, metrics, bytes, ...) sorted by name."""
    return [{"name": k, **v} for k, v in sorted(_registry(root).items())]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pretrained_path(name: str, root: Path | None = None) -> Path:
    """The verified model file of pretrained model `name` (ValueError naming the known ones)."""
    root = root or PRETRAINED_DIR
    reg = _registry(root)
    if name not in reg:
        known = ", ".join(sorted(reg)) or "none installed"
        raise ValueError(f"no pretrained model {name!r}; known: {known}")
    path = root / reg[name]["file"]
    if not path.is_file():
        raise ValueError(f"pretrained model {name!r}: file {path.name} is missing")
    if _sha256(path) != reg[name]["sha256"]:
        raise ValueError(f"pretrained model {name!r}: checksum mismatch for {path.name}")
    return path


def slice_metric(
    predictor: Any,
    dataset: str,
    split: str,
    target: str,
    task: str,
    n: int,
    ids: list[str] | None = None,
) -> dict[str, Any]:
    """The metric a card promises on the first `n` structures of `split` (MAE, or accuracy at
    probability 0.5 for classification), recomputed by the test suite.

    With `ids` (recorded at packaging) Materials Project structures are read by id, skipping
    the curation of the whole file (minutes on a fresh machine).
    """
    if ids is not None and dataset == "mp":
        from ecn.data.mp.loader import records_by_id

        rows = records_by_id(ids)
        structures = [s for _, s, _ in rows]
        y = np.array([t[target] for _, _, t in rows], dtype=float)
    else:
        from ecn.data import load_split

        loaded = load_split(dataset, split, limit=n, required=(target,))
        structures = [r.structure for r in loaded.records]
        y = np.array([r.targets[target] for r in loaded.records], dtype=float)
        ids = [r.id for r in loaded.records]
    pred = np.asarray(predictor.predict(structures)).reshape(-1)
    if task == "classification":
        value = float(np.mean((pred >= 0.5) == (y >= 0.5)))
        name = "accuracy"
    else:
        value = float(np.mean(np.abs(pred - y)))
        name = "mae"
    return {"split": split, "n": len(y), "metric": name, "value": value, "ids": list(ids)}


def _card(name: str, entry: dict[str, Any], results: dict[str, Any], cfg: dict[str, Any]) -> str:
    """Model card text (markdown) from the run's results.json and config.yaml."""
    from ecn.data import get_spec

    spec = get_spec(entry["dataset"])
    test, val = results["metrics"]["test"], results["metrics"]["val"]
    m = cfg["model"]
    stopped = results.get("stopped_by", "?")
    fmt = ", ".join(f"{k} {v:.4g}" for k, v in test.items() if isinstance(v, float))
    vfmt = ", ".join(f"{k} {v:.4g}" for k, v in val.items() if isinstance(v, float))
    sl = entry["slice"]
    lines = [
        f"# Model card: `{name}`",
        "",
        f"- **Predicts:** `{entry['target']}` ({entry['unit'] or 'no unit'}), {entry['task']}: "
        f"{spec.target(entry['target']).description}.",
        f"- **Model:** {m['name']} {m['options']}",
        f"- **Data:** {results.get('source_note', '')}",
        f"- **Splits:** train `{cfg['data']['train_split']}`, early stopping on "
        f"`{cfg['data']['val_split']}`, test `{cfg['data']['test_split']}`; sizes "
        f"{results.get('split_sizes', {})}.",
        f"- **Test metrics:** {fmt}.",
        f"- **Validation metrics:** {vfmt}.",
        f"- **Slice check (test suite):** {sl['metric']} {sl['value']:.5f} on the first "
        f"{sl['n']} structures of `{sl['split']}`.",
        f"- **Training budget:** {results.get('epochs_run', '?')} epochs, best epoch "
        f"{results.get('best_epoch', '?')}, {results.get('train_time_s', 0) / 60:.1f} min of "
        f"training, stopped by {stopped}; {cfg['run'].get('threads')} torch thread(s) on "
        f"{results.get('device', {}).get('name', '?')}, "
        f"precision {cfg['run'].get('precision')}, seed {cfg['run'].get('seed')}; "
        f"lr {cfg['optim']['lr']}, weight decay {cfg['optim']['weight_decay']}, batch "
        f"{cfg['optim']['batch_size']}.",
        "- **Converged:** "
        + (
            "yes (early stopping)"
            if stopped == "early_stopping"
            else "no - the run was stopped by its budget; more training would lower the error"
        )
        + ".",
        f"- **Graph:** {entry['graph']}",
        f"- **ecn version:** trained with {results.get('ecn_version', '?')}, packaged with "
        f"{__version__}.",
        f"- **Data licence:** {spec.licence or 'not stated by the source'}.",
        f"- **File:** `{entry['file']}`, {entry['bytes']} bytes, sha256 `{entry['sha256']}`.",
        "",
        "Generated by `ecn models package`; do not edit by hand.",
        "",
    ]
    return "\n".join(lines)


def package_model(
    run: str | Path, name: str, root: Path | None = None, slice_n: int = 200
) -> dict[str, Any]:
    """Copy a finished run's ``model.pt`` into the package as `name`, with card and registry
    entry (the slice metric is computed now, from the packaged file)."""
    import yaml

    from ecn.inference.predictor import load_model

    run, root = Path(run), root or PRETRAINED_DIR
    results = json.loads((run / "results.json").read_text())
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    root.mkdir(parents=True, exist_ok=True)
    dest = root / f"{name}.pt"
    shutil.copyfile(run / "model.pt", dest)
    pred = load_model(dest)
    target = results["targets"][0]
    entry: dict[str, Any] = {
        "file": dest.name,
        "card": f"{name}.md",
        "sha256": _sha256(dest),
        "bytes": dest.stat().st_size,
        "dataset": results["dataset"],
        "target": target,
        "unit": results["units"][0],
        "task": results["task"],
        "model": f"{cfg['model']['name']} {cfg['model']['options'].get('group', '')}".strip(),
        "test": {k: v for k, v in results["metrics"]["test"].items() if not isinstance(v, dict)},
        "graph": {
            k: cfg["graph"][k]
            for k in ("strategy", "canonical", "supercell", "cell_onehot", "cutoff")
        },
        "ecn_version": results.get("ecn_version", ""),
        "epochs": results.get("epochs_run"),
        "best_epoch": results.get("best_epoch"),
        "stopped_by": results.get("stopped_by"),
        "train_minutes": round(results.get("train_time_s", 0.0) / 60, 1),
    }
    entry["slice"] = slice_metric(
        pred, results["dataset"], cfg["data"]["test_split"], target, results["task"], slice_n
    )
    atomic_write_text(root / entry["card"], _card(name, entry, results, cfg))
    reg = _registry(root)
    reg[name] = entry
    atomic_write_text(root / REGISTRY, json.dumps(reg, indent=1, sort_keys=True) + "\n")
    return {"name": name, **entry}
