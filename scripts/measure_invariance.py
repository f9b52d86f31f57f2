"""Issue 14 closing-note numbers: prediction change per kind of description change.

For each trained run: the first N crystals of a dataset split, each predicted as given and in
every description of ``ecn.graphs.descriptions.equivalent_descriptions``; mean / max absolute
change per family, per description, the MAE on those N crystals, passes per prediction and
throughput, for each averaging mode. Writes ``<out>.json`` and ``<out>.md``.

    PYTHONPATH=src python scripts/measure_invariance.py --dataset perov5 --n 100 \\
        --runs runs/inv_slambda_unique runs/inv_slambda_off --average none origins \\
        --out results/invariance/perov5
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ecn.data.registry import load_split
from ecn.graphs.canonical import canonical_structure
from ecn.inference import load_model
from ecn.inference.check import check_invariance
from ecn.train.record import RunRecord, is_finished


def _canonical_cost(structures: list, settings, repeats: int = 1) -> float:
    """Seconds per structure of the canonical step under `settings`."""
    t0 = time.perf_counter()
    for _ in range(repeats):
        for s in structures:
            canonical_structure(s, settings.canonical, settings.symprec)
    return (time.perf_counter() - t0) / (repeats * len(structures))


def measure(
    run: str, records: list, target: str, average: str, canonical: str | None = None
) -> dict:
    """`canonical` replaces the run's own canonical mode at prediction time (None = as trained):
    a model trained with the step on, evaluated with it off, isolates what the step removes."""
    pred = load_model(run)
    trained = pred.settings.canonical
    if canonical is not None:
        pred.settings = replace(pred.settings, canonical=canonical)
    structures = [(r.id, r.structure) for r in records]
    t0 = time.perf_counter()
    p = pred.predict([s for _, s in structures], average=average)
    t_pred = time.perf_counter() - t0
    y = np.array([r.targets[target] for r in records])
    rep = check_invariance(pred, structures, average=average)
    per_desc: dict[str, list[float]] = {}
    for row in rep.rows:
        if row["kind"] != "identity":
            per_desc.setdefault(row["description"], []).append(row["change"])
    run_test_mae = RunRecord.load(run).results.metric("test", "mae") if is_finished(run) else None
    return {
        "run": run,
        "model": pred.model.model.config.name,
        "group": pred.group,
        "canonical": pred.settings.canonical,
        "trained_canonical": trained,
        "symprec": pred.settings.symprec,
        "average": average,
        "n_crystals": len(records),
        "mae_on_these": float(np.mean(np.abs(np.asarray(p).reshape(-1) - y))),
        "run_test_mae": run_test_mae,
        "passes_per_prediction": rep.passes,
        "structures_per_s": len(records) / t_pred,
        "canonical_step_ms_per_structure": 1e3
        * _canonical_cost([s for _, s in structures], pred.settings),
        "by_kind": rep.by_kind(),
        "by_description": {
            k: {"mean": float(np.mean(v)), "max": float(np.max(v))} for k, v in per_desc.items()
        },
    }


def to_markdown(rows: list[dict], header: str) -> str:
    kinds = sorted({k for r in rows for k in r["by_kind"]}, key=list(rows[0]["by_kind"]).index)
    lines = [header, ""]
    lines.append(
        "| run | model | canonical (trained / used) | average | passes | MAE (these) | "
        "run test MAE | " + " | ".join(f"{k} mean / max" for k in kinds) + " |"
    )
    lines.append("|" + "---|" * (7 + len(kinds)))
    for r in rows:
        cells = [
            f"{r['by_kind'][k]['mean']:.2g} / {r['by_kind'][k]['max']:.2g}"
            if k in r["by_kind"]
            else ""
            for k in kinds
        ]
        tm = r["run_test_mae"]
        lines.append(
            f"| {r['run']} | {r['model']} {r['group']} | "
            f"{r.get('trained_canonical', r['canonical'])} / {r['canonical']} | {r['average']} | "
            f"{r['passes_per_prediction']:.1f} | {r['mae_on_these']:.4f} | "
            f"{'' if tm is None else f'{tm:.4f}'} | " + " | ".join(cells) + " |"
        )
    lines.append("")
    lines.append("| run | canonical used | average | structures/s | canonical step ms/structure |")
    lines.append("|---|---|---|---|---|")
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['canonical']} | {r['average']} | {r['structures_per_s']:.1f} | "
            f"{r['canonical_step_ms_per_structure']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="perov5")
    ap.add_argument("--split", default="test")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--average", nargs="+", default=["none"])
    ap.add_argument(
        "--canonical",
        nargs="+",
        default=["trained"],
        help="canonical mode(s) at prediction: trained (the run's own), unique, primitive, off",
    )
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    loaded = load_split(args.dataset, args.split, limit=args.n)
    target = loaded.target_names[0]
    rows = []
    for run in args.runs:
        for canon in args.canonical:
            for avg in args.average:
                t0 = time.perf_counter()
                c = None if canon == "trained" else canon
                rows.append(measure(run, loaded.records, target, avg, c))
                dt = time.perf_counter() - t0
                print(f"{run} canonical={canon} average={avg}: {dt:.0f} s", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"dataset": args.dataset, "split": args.split, "n": args.n, "target": target}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    header = (
        f"# Prediction change per description change: {args.dataset} {args.split}, first "
        f"{args.n} crystals, target {target} (absolute change from the crystal as given)"
    )
    out.with_suffix(".md").write_text(to_markdown(rows, header))
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
