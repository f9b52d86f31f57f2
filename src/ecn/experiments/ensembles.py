"""Ensembles with calibrated uncertainty (issue 29 item 3): package K runs, fit the std
recalibration on validation, measure calibration on test (``ecn models package RUN1 RUN2 ...
--name NAME``).

This module packages (:func:`package_ensemble`: the file, the registry entry, the report JSON)
and writes the model card; each step it runs lives in a module named after it, and says why it
is done the way it is:

* :mod:`ecn.experiments.ensemble_members`: the members' predictions on the validation and test
  splits, read from their runs' CSVs and aligned by structure; runs that differ in data, splits
  or targets refused.
* :mod:`ecn.experiments.ensemble_calibration`: the std recalibration sqrt((a sigma)^2 + b^2)
  fitted on validation only (three methods, measured), and the test metrics of an uncertainty
  before and after it.
* :mod:`ecn.experiments.ensemble_spread`: the ensemble std against the description spread of
  ``ecn predict --average`` on the first N test crystals, run through the packaged file.

The names of those modules that callers import from here (the fits, the metrics) are importable
from here too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecn._version import __version__
from ecn.experiments.ensemble_calibration import (
    CONFIDENT_FRACTION,
    DEFAULT_METHOD,
    METHODS,
    ONE_SIGMA,
    calibrate,
    calibration_metrics,
    fit_calibration,
    fit_scale_and_floor,
    fit_std_scale,
    resolve_method,
    uncertainty_metrics,
)
from ecn.experiments.ensemble_members import MemberPredictions, check_records, member_predictions
from ecn.experiments.ensemble_spread import split_structures, spread_comparison
from ecn.experiments.packaging import CARD_GRAPH_KEYS, slice_metric
from ecn.inference import MODEL_FILE, EnsembleModel, pretrained
from ecn.inference.ensemble import check_members
from ecn.inference.model_file import load_model_file, save_model_file
from ecn.inference.predictor import load_model
from ecn.io import atomic_write_text, sha256_file, write_json
from ecn.settings import display_path
from ecn.train.record import RunRecord

__all__ = [
    "CONFIDENT_FRACTION",
    "DEFAULT_METHOD",
    "METHODS",
    "ONE_SIGMA",
    "MemberPredictions",
    "calibrate",
    "calibration_metrics",
    "ensemble_card",
    "fit_calibration",
    "fit_scale_and_floor",
    "fit_std_scale",
    "member_predictions",
    "package_ensemble",
    "resolve_method",
    "spread_comparison",
    "uncertainty_metrics",
]


def _regression_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """``mae``, ``rmse``, ``r2`` and ``n`` of one target (NaN targets left out)."""
    keep = np.isfinite(y)
    y, p = y[keep], p[keep]
    ss = float(np.sum((y - y.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(p - y))),
        "rmse": float(np.sqrt(np.mean((p - y) ** 2))),
        "r2": float(1 - np.sum((p - y) ** 2) / ss) if ss > 0 else None,
        "n": int(len(y)),
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _num(x: float | None, fmt: str = ".4g") -> str:
    return "n/a" if x is None else format(x, fmt)


#: How each method fits, in the card's words.
METHOD_NOTES = {
    "scaled+floor": "a and b >= 0 minimise the Gaussian NLL of the validation errors",
    "coverage": "b = 0, a puts 68.27 % of the validation errors within a σ",
    "nll": "b = 0, a minimises the Gaussian NLL of the validation errors",
}


def _params(a: float, b: float, unit: str = "") -> str:
    return f"a = {a:.4g}" + (f", b = {b:.4g}{' ' + unit if unit else ''}" if b else "")


def _methods_sentence(report: dict, target: str, unit: str = "") -> str:
    """One sentence: the test coverage and NLL of the raw spread and of every method's fit
    (all fitted on validation), the applied one marked, so a reader can compare."""
    cal = report["calibration"]
    before = cal["test"][target]["before"]
    parts = [
        f"members' std as it is {_pct(before['within_1sigma'])} / "
        f"{_pct(before['within_2sigma'])}, NLL {_num(before['nll'], '.3f')}"
    ]
    for m, f in cal["methods"][target].items():
        t = f["test"]
        parts.append(
            f"{m} ({_params(f['std_scale'], f['std_floor'], unit)}) {_pct(t['within_1sigma'])} / "
            f"{_pct(t['within_2sigma'])}, NLL {_num(t['nll'], '.3f')}"
            + (" (applied)" if m == cal["method"] else "")
        )
    return "Test errors within ±1σ / ±2σ by recalibration: " + "; ".join(parts) + "."


def _finetuned_from(recs: Sequence[RunRecord]) -> str:
    """ ", each fine-tuned from ..." when the members were fine-tuned (``results.init_from``):
    the source, its sha256 prefix, the member each started from and the options changed."""
    src = [r.results.init_from for r in recs]
    if not all(src):
        return ""
    first = src[0]
    members = ", ".join(str(s.get("member", 0)) for s in src)
    changed = first.get("changed_options") or {}
    change = (
        "; options changed: " + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items())
        if changed
        else ""
    )
    return (
        f", each fine-tuned from `{first.get('name') or first.get('path')}` (sha256 "
        f"{str(first.get('sha256', ''))[:12]}, members {members}){change}"
    )


def ensemble_card(name: str, entry: dict[str, Any], recs: Sequence[RunRecord], report: dict) -> str:
    """Model card text (markdown) of an ensemble: members, test metrics of the mean, and the
    calibration numbers of `report` (:func:`package_ensemble`)."""
    from ecn.data import get_spec

    spec = get_spec(entry["dataset"])
    cfg, res = recs[0].config, recs[0].results
    sl = entry["slice"]
    members = "; ".join(
        f"`{m['run']}` (seed {m['seed']}, test MAE {_num(m['test_mae'])}, {m['epochs']} epochs, "
        f"stopped by {m['stopped_by']})"
        for m in report["members"]
    )
    lines = [
        f"# Model card: `{name}` (ensemble of {len(recs)})",
        "",
        f"- **Predicts:** `{entry['target']}` ({entry['unit'] or 'no unit'}), {entry['task']}: "
        f"{spec.target(entry['target']).description}; the mean of {len(recs)} members and "
        "a standard deviation (`std`).",
        f"- **Model:** {cfg.model.name} {cfg.model.options}, {len(recs)} members trained from "
        f"different seeds on the same data{_finetuned_from(recs)}.",
        f"- **Members:** {members}.",
        *([f"- **Why this model:** {entry['note']}"] if entry.get("note") else []),
        f"- **Data:** {res.source_note}",
        f"- **Splits:** train `{cfg.data.train_split}`, early stopping and std calibration on "
        f"`{cfg.data.val_split}`, test `{cfg.data.test_split}`; sizes {res.split_sizes}.",
        "- **Test metrics (ensemble mean):** "
        + ", ".join(f"{k} {_num(v)}" for k, v in entry["test"].items() if k != "n")
        + f" on {entry['test']['n']} structures; members' mean test MAE "
        f"{_num(float(np.mean([m['test_mae'] for m in report['members']])))}.",
    ]
    units = dict(zip(report["targets"], report["units"], strict=True))
    method = report["calibration"]["method"]
    for t, cal in report["calibration"]["test"].items():
        a, b = cal["after"], cal["before"]
        fit = report["calibration"]["fit"][t]
        lines += [
            f"- **Uncertainty ({t}):** std = sqrt((a x the members' std)² + b²), "
            f"{_params(cal['std_scale'], cal['std_floor'], units[t])}, fitted on "
            f"`{cfg.data.val_split}` only ({fit['n']} structures, method `{method}`: "
            f"{METHOD_NOTES[method]}"
            f"{'; degenerate: members identical' if fit['degenerate'] else ''}). On "
            f"`{cfg.data.test_split}` ({a['n']} structures): errors within ±1σ "
            f"{_pct(a['within_1sigma'])} and ±2σ {_pct(a['within_2sigma'])} (a calibrated "
            f"Gaussian: 68.3 % / 95.4 %; before recalibration {_pct(b['within_1sigma'])} / "
            f"{_pct(b['within_2sigma'])}); Spearman(|error|, σ) {_num(a['spearman'], '.3f')}; "
            f"MAE of the {CONFIDENT_FRACTION:.0%} most confident {_num(a['mae_confident'])} "
            f"against {_num(a['mae'])} for all. {_methods_sentence(report, t, units[t])}",
        ]
    comp = report.get("spread_comparison")
    if comp:
        for t, c in comp["targets"].items():
            e, d = c["ensemble_std"], c["description_spread"]
            lines.append(
                f"- **Against `--average {comp['average']}` ({t}, first {comp['n']} test "
                f"crystals):** Spearman(|error|, ·) ensemble std {_num(e['spearman'], '.3f')}, "
                f"description spread {_num(d['spearman'], '.3f')}; MAE of the "
                f"{CONFIDENT_FRACTION:.0%} most confident {_num(e['mae_confident'])} (std) vs "
                f"{_num(d['mae_confident'])} (spread), all {_num(e['mae'])}; within ±1 / ±2: "
                f"std {_pct(e['within_1sigma'])} / {_pct(e['within_2sigma'])}, spread (not "
                f"recalibrated) {_pct(d['within_1sigma'])} / {_pct(d['within_2sigma'])}; mean "
                f"std {_num(c['mean_std'])}, mean spread {_num(c['mean_spread'])}."
            )
    lines += [
        f"- **Slice check (test suite):** {sl['metric']} {sl['value']:.5f} on the first "
        f"{sl['n']} structures of `{sl['split']}`.",
        f"- **Graph:** {entry['graph']}",
        f"- **ecn version:** trained with {res.ecn_version or '?'}, packaged with {__version__} "
        f"(an ensemble file is model-file format 2: ecn before ensembles cannot read it).",
        f"- **Data licence:** {spec.licence or 'not stated by the source'}.",
        f"- **File:** `{entry['file']}`, {entry['bytes']} bytes, sha256 `{entry['sha256']}`.",
        f"- **Numbers:** `{report.get('json', '')}`.",
        "",
        "Generated by `ecn models package RUN1 RUN2 ...`; do not edit by hand.",
        "",
    ]
    return "\n".join(lines)


def package_ensemble(
    runs: Sequence[str | Path],
    name: str,
    root: Path | None = None,
    slice_n: int = 200,
    compare_n: int = 300,
    average: str = "origins",
    json_out: str | Path | None = None,
    method: str = DEFAULT_METHOD,
    note: str = "",
) -> dict[str, Any]:
    """Package finished runs as ensemble `name`: one file with every member and the std
    recalibration fitted on validation, a card and a registry entry, and the calibration report
    as JSON.

    Args:
        runs: the members' run directories (same architecture, graph, data and targets).
        name: the model name (``ecn predict --model NAME``).
        root: registry folder (default: the package's).
        slice_n: test structures of the card's slice check.
        compare_n: first test crystals of the ``--average`` comparison (0: skip it).
        average: the description averaging compared against.
        json_out: where the report goes (default ``results/ensembles/<name>.json``).
        method: the std recalibration fitted on validation and applied (:data:`METHODS`;
            every method's test metrics are reported whichever is applied).
        note: why these members are the ones shipped, on the card and in the entry.

    Returns:
        The registry entry with ``name``, ``report`` (everything in the JSON) and
        ``json_path`` (where it was written).

    Raises:
        ValueError: fewer than 2 runs, or members that differ (every difference named).
    """
    if len(runs) < 2:
        raise ValueError(f"an ensemble needs at least 2 runs, got {len(runs)}")
    method = resolve_method(method)
    recs = [RunRecord.load(r) for r in runs]
    labels = [display_path(r.path) for r in recs]
    if len(set(r.path.resolve() for r in recs)) < len(recs):
        raise ValueError(f"a run is listed twice: {labels}")
    check_records(recs)
    loaded = [load_model_file(r.path / (r.results.model_file or MODEL_FILE)) for r in recs]
    models = [m for m, _, _ in loaded]
    check_members(models, [s for _, s, _ in loaded], labels)

    val = member_predictions(recs, "val")
    test = member_predictions(recs, "test")
    scale, floor, calibration, cal_section = calibrate(
        val, test, method, recs[0].config.data.val_split
    )
    targets = val.targets
    root = root or pretrained.PRETRAINED_DIR
    root.mkdir(parents=True, exist_ok=True)
    dest = root / f"{name}.pt"
    json_path = (
        Path(json_out) if json_out is not None else Path("results/ensembles") / f"{name}.json"
    )
    members_info = [
        {
            "run": label,
            "seed": rec.results.seed if rec.results.seed is not None else rec.config.run.seed,
            "sha256": sha256_file(rec.path / (rec.results.model_file or MODEL_FILE)),
            "test_mae": _regression_metrics(test.y[:, 0], test.preds[k][:, 0])["mae"],
            "epochs": rec.results.epochs_run,
            "best_epoch": rec.results.best_epoch,
            "stopped_by": rec.results.stopped_by,
        }
        for k, (rec, label) in enumerate(zip(recs, labels, strict=True))
    ]
    save_model_file(
        dest,
        EnsembleModel(models, scale, floor),
        loaded[0][1],
        dataset=recs[0].results.dataset,
        metadata={"members": members_info, "source_note": recs[0].results.source_note},
        calibration=calibration,
    )
    cfg, res = recs[0].config, recs[0].results
    report: dict[str, Any] = {
        "name": name,
        "ecn_version": __version__,
        "dataset": res.dataset,
        "targets": targets,
        "units": list(res.units),
        "members": members_info,
        "test_metrics": {
            t: _regression_metrics(test.y[:, j], test.mean[:, j]) for j, t in enumerate(targets)
        },
        "calibration": cal_section,
        "json": display_path(json_path),
    }
    predictor = load_model(dest)
    if compare_n > 0:
        ids, structures, y = split_structures(
            res.dataset, cfg.data.test_split, targets, compare_n, test.ids, cfg.data.path
        )
        csv_mean = dict(zip(test.ids, test.mean, strict=True))
        report["spread_comparison"] = spread_comparison(
            predictor, structures, y, ids, average, csv_mean
        )
    entry: dict[str, Any] = {
        "file": dest.name,
        "card": f"{name}.md",
        "sha256": sha256_file(dest),
        "bytes": dest.stat().st_size,
        "dataset": res.dataset,
        "target": targets[0],
        "unit": res.units[0],
        "task": res.task,
        "model": f"{cfg.model.name} {cfg.model.options.get('group', '')}".strip()
        + f", ensemble of {len(recs)}",
        "members": len(recs),
        "test": report["test_metrics"][targets[0]],
        "std_scale": [float(s) for s in scale],
        "std_floor": [float(b) for b in floor],
        "calibration_method": method,
        "calibration_test": {
            k: report["calibration"]["test"][targets[0]]["after"][k]
            for k in ("within_1sigma", "within_2sigma", "spearman", "mae_confident", "mae", "nll")
        },
        # the first target's test coverage and NLL of the raw spread and of each method's fit
        "calibration_methods_test": {
            m: {
                **({} if m == "before" else {k: f[k] for k in ("std_scale", "std_floor")}),
                **{k: f["test"][k] for k in ("within_1sigma", "within_2sigma", "nll")},
            }
            for m, f in [
                ("before", {"test": report["calibration"]["test"][targets[0]]["before"]}),
                *report["calibration"]["methods"][targets[0]].items(),
            ]
        },
        "graph": {k: dataclasses.asdict(loaded[0][1])[k] for k in CARD_GRAPH_KEYS},
        "ecn_version": res.ecn_version,
        "epochs": "/".join(str(m["epochs"]) for m in members_info),
        "best_epoch": "/".join(str(m["best_epoch"]) for m in members_info),
        "stopped_by": "/".join(sorted({str(m["stopped_by"]) for m in members_info})),
        "train_minutes": round(sum((r.results.train_time_s or 0.0) for r in recs) / 60, 1),
    }
    if note:  # why these members are the ones shipped (e.g. the model they replaced)
        entry["note"] = note
    # Materials Project: the first test ids read by id, not the whole file curated (minutes)
    slice_ids = test.ids[:slice_n] if res.dataset == "mp" else None
    entry["slice"] = slice_metric(
        predictor, res.dataset, cfg.data.test_split, targets[0], res.task, slice_n, slice_ids
    )
    report["registry_entry"] = {k: v for k, v in entry.items() if k != "slice"}
    write_json(json_path, report)
    atomic_write_text(root / entry["card"], ensemble_card(name, entry, recs, report))
    reg = pretrained.read_registry(root)
    reg[name] = entry
    pretrained.write_registry(reg, root)
    return {"name": name, **entry, "report": report, "json_path": str(json_path)}
