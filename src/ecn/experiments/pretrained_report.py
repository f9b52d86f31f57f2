"""The shipped pretrained models beside the paper's numbers (``ecn models --markdown``)."""

from __future__ import annotations

import json
from pathlib import Path

from ecn.experiments.layout import TABLE1_DIR, TABLE2_DIR
from ecn.experiments.seeds import row_mean_std
from ecn.experiments.tables import stop_reasons
from ecn.experiments.variants import (
    TABLE1_PAPER,
    TABLE1_PAPER_PRECISION,
    TABLE1_PAPER_TRAIN_NOTE,
    TABLE2,
)
from ecn.inference.pretrained import list_models


def paper_numbers(dataset: str, target: str) -> dict[str, str | None]:
    """The paper's test numbers for ECN-SΛ and CGCNN on (dataset, target), where it has them
    (is_metal: its metal / non-metal "precision", a per-class recall in its code:
    ``ecn.experiments.tables.PAPER_PRECISION_IS_RECALL``)."""
    if dataset == "perov5" and target == "heat_all":
        by = {v.label: v.paper_mae for v in TABLE2}
        return {k: _fmt(by[k]) for k in ("ECN-SΛ", "CGCNN")}
    if dataset == "mp" and target == "is_metal":
        return {k: _per_class("recall", *TABLE1_PAPER_PRECISION[k]) for k in ("ECN-SΛ", "CGCNN")}
    if dataset == "mp":
        return {k: _fmt(TABLE1_PAPER.get(k, {}).get(target)) for k in ("ECN-SΛ", "CGCNN")}
    return {"ECN-SΛ": None, "CGCNN": None}


def _fmt(x: float | None) -> str | None:
    return None if x is None else f"{x:.3g}"


def _per_class(name: str, metal: float, nonmetal: float) -> str:
    return f"{name} metal {metal:.1%} / non-metal {nonmetal:.1%}"


def _metric(test: dict) -> str:
    """The card's headline test number: MAE, or for a classifier ROC-AUC, the per-class recall
    (the paper's "precision") and precision."""
    if "mae" in test:
        return f"MAE {test['mae']:.3g}"
    out = f"ROC-AUC {test['roc_auc']:.3g}" if "roc_auc" in test else ""
    for name in ("recall", "precision"):
        if f"{name}_1" in test and f"{name}_0" in test:
            out += ("; " if out else "") + _per_class(name, test[f"{name}_1"], test[f"{name}_0"])
    return out


def measured_cgcnn(results: Path, dataset: str, target: str) -> str:
    """Our CGCNN on the same data and split (``results/table2/table2.json`` for Perov-5,
    ``results/table1/table1.json`` for MP), so a model's number can be read against a baseline
    trained here, not only against the paper's (trained on about 3x our data). "" where none is
    recorded, "pending" where the table lists the run as still to do."""
    name = "table2.json" if dataset == "perov5" else "table1.json"
    path = results / (TABLE2_DIR if dataset == "perov5" else TABLE1_DIR) / name
    if not path.is_file():
        return ""
    table = json.loads(path.read_text())
    if dataset != "perov5":
        table = table.get(target, {})
    elif target != "heat_all":
        return ""
    row = table.get("rows", {}).get("CGCNN")
    if row is None:
        return "pending" if "CGCNN" in table.get("pending", {}) else ""
    head = "ROC-AUC " if row["metric"] == "roc_auc" else "MAE "
    seeds = "" if row["std"] is None else f" ({len(row['test_values'])} seeds)"
    return f"{head}{row_mean_std(row)}{seeds}, {stop_reasons(row)}"


def pretrained_table(root: Path | None = None, results: Path | None = None) -> list[str]:
    """Markdown table lines: each shipped model, its test metric, the paper's ECN-SΛ and CGCNN,
    and, given a `results` folder, our CGCNN on the same split (:func:`measured_cgcnn`; also the
    README's "Pretrained models" table, ``scripts/update_readme_pretrained.py``)."""
    ours = "| CGCNN here, same split " if results is not None else ""
    lines = [
        "| name | target (unit) | model | test | test n | paper ECN-SΛ | paper CGCNN "
        f"{ours}| epochs | stopped by |",
        "|---|---|---|---|---|---|---|" + ("---|" if ours else "") + "---|---|",
    ]
    for m in list_models(root):
        p = paper_numbers(m["dataset"], m["target"])
        test = m.get("test", {})
        here = f" {measured_cgcnn(results, m['dataset'], m['target'])} |" if ours else ""
        lines.append(
            f"| `{m['name']}` | {m['target']} ({m['unit'] or '-'}) | {m['model']} | "
            f"{_metric(test)} | {test.get('n', '')} | {p['ECN-SΛ'] or ''} | {p['CGCNN'] or ''} |"
            f"{here} {m.get('epochs', '')} | {m.get('stopped_by', '')} |"
        )
    return lines


def _continuity(path: Path, eps: float = 1e-3) -> tuple[str, int] | None:
    """(largest displace / strain change at `eps` with its unit, jumps over every size) of an
    ``ecn check continuity --out`` JSON, or None when absent."""
    if not path.is_file():
        return None
    rep = json.loads(path.read_text())
    at = {r["kind"]: r["max"] for r in rep["summary"] if r["eps"] == eps}
    unit = f" {rep['unit']}" if rep.get("unit") else ""
    return f"{at.get('displace', 0):.2g} / {at.get('strain', 0):.2g}{unit}", int(rep["n_jumps"])


def continuity_table(results: Path, root: Path | None = None) -> list[str]:
    """Markdown table lines: each shipped model's continuity on 100 test crystals now and, where
    it replaced one (``<name>-before.json``, ``results/continuity/regenerate.sh``), before: the
    largest change under a 1e-3 Å move of every atom / a 1e-3 strain, and the jumps over every
    size and kind (``ecn.inference.check.ContinuityReport``)."""
    lines = [
        "| shipped model | test | largest change at 1e-3 Å / 1e-3 strain: before → now "
        "| jumps: before → now |",
        "|---|---|---|---|",
    ]
    for m in list_models(root):
        now = _continuity(results / f"{m['name']}.json")
        if now is None:
            continue
        before = _continuity(results / f"{m['name']}-before.json")
        change = f"{before[0]} → {now[0]}" if before else f"{now[0]} (not replaced)"
        jumps = f"{before[1]} → {now[1]}" if before else f"{now[1]}"
        lines.append(f"| `{m['name']}` | {_metric(m.get('test', {}))} | {change} | {jumps} |")
    return lines


def pretrained_markdown(root: Path | None = None) -> str:
    """Markdown page: :func:`pretrained_table` with its notes."""
    lines = [
        "# Pretrained models shipped with ecn",
        "",
        "Generated by `ecn models --markdown`; each model's card is next to its file in "
        "`src/ecn/resources/pretrained/`. is_metal: class 1 = metal; precisions as the paper's "
        "Table 1 reports them.",
        "",
        *pretrained_table(root),
    ]
    lines += [
        "",
        "Our training sets are smaller than the paper's: Perov-5 3,890 structures assembled from "
        "the Castelli export (paper: 11,356); Materials Project: " + TABLE1_PAPER_TRAIN_NOTE,
        "",
    ]
    return "\n".join(lines)
