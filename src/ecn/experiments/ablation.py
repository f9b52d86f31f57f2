"""`ecn reproduce ablation`: the Perov-5 ablation ladder (what makes ECN-SΛ win or lose).

Each rung changes one ingredient of the current ECN-SΛ setup (Voronoi + radii graph, 64x4,
early stopping) towards the authors' (5 Å all-neighbour graph, plateau schedule run down to its
floor, a larger model, the cover with the cell one-hot, a separate branch for edges between
images of the same atom), and the group (S_Λ, S_N, P-1) is varied at the promising ones. Every
run is an ordinary run directory; finished runs' records are kept under
``results/table2_ablation_runs/`` so a fresh clone rewrites the table without retraining, and an
unfinished run (stopped by ``session_cap``, e.g. at the end of a lent GPU's time) resumes from
its ``last.ckpt`` when the same command runs again. Rows are compared on validation MAE
(selection); test MAE is reported.
"""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path
from typing import Any

from ecn.experiments.layout import ABLATION_DIR
from ecn.experiments.rungs import RECIPE, SCHEDULES, Rung
from ecn.experiments.seeds import format_mean_std as _fmt
from ecn.experiments.seeds import seed_stats
from ecn.io import atomic_write_text
from ecn.train.data import prepare_data
from ecn.train.record import RunRecord, RunResults, is_finished, read_history
from ecn.train.run import resolve_config, train

logger = logging.getLogger(__name__)

#: The ladder, in the order a queue should run it (cheap, decisive rungs first). The baseline
#: is the first rung; every other rung changes one or two ingredients of it.
LADDER: tuple[Rung, ...] = (
    Rung(),  # baseline: ECN-SΛ, Voronoi, 64x4, early stopping
    Rung(graph="r5", seeds=3),
    Rung(graph="r8n12", seeds=3),
    Rung(group="sn", graph="r5", seeds=3),
    Rung(graph="voronoi", schedule="plateau"),
    Rung(graph="r5", schedule="plateau", seeds=3),
    Rung(group="sn", graph="r5", schedule="plateau", seeds=3),
    Rung(group="p1", graph="r5", schedule="plateau"),
    Rung(model="cgcnn", group="", graph="", schedule="es", seeds=3),
    Rung(model="cgcnn", group="", graph="", schedule="plateau", seeds=3),
    Rung(graph="r5", schedule="plateau", width=128, layers=6),
    Rung(group="sn", graph="r5", schedule="plateau", width=128, layers=6),
    Rung(graph="r5", schedule="plateau", cover=True),
    Rung(group="sn", graph="r5", schedule="plateau", cover=True),
    Rung(graph="r5", schedule="plateau", same_atom=True, seeds=3),
    Rung(graph="r5", schedule="authors"),
    # the winners on a larger training split (not the paper's protocol), early stopping
    Rung(graph="r5", split="big"),
    Rung(group="sn", graph="r5", split="big"),
    Rung(model="cgcnn", group="", graph="", split="big"),
    # learning curve over training-set size on the winning graph (with the full-size rungs)
    *(Rung(graph="r5", train_fraction=f) for f in (0.25, 0.5)),
    *(Rung(model="cgcnn", group="", graph="", train_fraction=f) for f in (0.25, 0.5)),
    # the paper's E(n)-equivariant ECN (EGNN layers, coordinates updated) on the settled setup
    Rung(model="ecn_egnn", graph="r5", seeds=3),
    # the shipped Perov-5 model's rung with the smooth edge envelope (issue 26: is continuity
    # in the positions free in accuracy?)
    Rung(graph="r5", schedule="plateau", same_atom=True, envelope="poly", seeds=3),
    # ... and with soft cell colours too: continuous and description-invariant by construction
    Rung(
        graph="r5", schedule="plateau", same_atom=True, envelope="poly", cell_colors="soft", seeds=3
    ),
)


#: Which ingredient each comparison isolates: (ingredient, rung, reference rung), by the rungs'
#: fields so that renames cannot break it. Written as its own section of the table.
_B = Rung()
CONTRASTS: tuple[tuple[str, Rung, Rung], ...] = (
    ("graph: 5 Å vs Voronoi (ECN-SΛ)", Rung(graph="r5", seeds=3), _B),
    ("graph: 8 Å-12nn vs Voronoi (ECN-SΛ)", Rung(graph="r8n12", seeds=3), _B),
    ("graph: 8 Å-12nn vs 5 Å (ECN-SΛ)", Rung(graph="r8n12", seeds=3), Rung(graph="r5", seeds=3)),
    ("schedule: plateau vs es (ECN-SΛ, Voronoi)", Rung(schedule="plateau"), _B),
    (
        "schedule: plateau vs es (ECN-SΛ, 5 Å)",
        Rung(graph="r5", schedule="plateau", seeds=3),
        Rung(graph="r5", seeds=3),
    ),
    (
        "schedule: plateau vs es (S_N, 5 Å)",
        Rung(group="sn", graph="r5", schedule="plateau", seeds=3),
        Rung(group="sn", graph="r5", seeds=3),
    ),
    (
        "schedule: plateau vs es (CGCNN)",
        Rung(model="cgcnn", group="", graph="", schedule="plateau", seeds=3),
        Rung(model="cgcnn", group="", graph="", seeds=3),
    ),
    (
        "size: 128x6 vs 64x4 (ECN-SΛ, 5 Å, plateau)",
        Rung(graph="r5", schedule="plateau", width=128, layers=6),
        Rung(graph="r5", schedule="plateau", seeds=3),
    ),
    (
        "cover + cell one-hot vs quotient (ECN-SΛ, 5 Å, plateau)",
        Rung(graph="r5", schedule="plateau", cover=True),
        Rung(graph="r5", schedule="plateau", seeds=3),
    ),
    (
        "cover + cell one-hot vs quotient (S_N, 5 Å, plateau)",
        Rung(group="sn", graph="r5", schedule="plateau", cover=True),
        Rung(group="sn", graph="r5", schedule="plateau", seeds=3),
    ),
    (
        "same-atom branch (ECN-SΛ, 5 Å, plateau)",
        Rung(graph="r5", schedule="plateau", same_atom=True, seeds=3),
        Rung(graph="r5", schedule="plateau", seeds=3),
    ),
    (
        "same-atom branch + plateau vs es (ECN-SΛ, 5 Å; the schedule alone moved nothing)",
        Rung(graph="r5", schedule="plateau", same_atom=True, seeds=3),
        Rung(graph="r5", seeds=3),
    ),
    (
        "cover + cell one-hot + plateau vs es (ECN-SΛ, 5 Å)",
        Rung(graph="r5", schedule="plateau", cover=True),
        Rung(graph="r5", seeds=3),
    ),
    (
        "colours: S_Λ vs S_N (5 Å, es)",
        Rung(graph="r5", seeds=3),
        Rung(group="sn", graph="r5", seeds=3),
    ),
    (
        "colours: P-1 vs S_N (5 Å, plateau)",
        Rung(group="p1", graph="r5", schedule="plateau"),
        Rung(group="sn", graph="r5", schedule="plateau", seeds=3),
    ),
    (
        "model: ECN-SΛ (5 Å) vs CGCNN, es",
        Rung(graph="r5", seeds=3),
        Rung(model="cgcnn", group="", graph="", seeds=3),
    ),
    (
        "coordinates: EGNN layers vs distances only (ECN-SΛ, 5 Å, es)",
        Rung(model="ecn_egnn", graph="r5", seeds=3),
        Rung(graph="r5", seeds=3),
    ),
    (
        "envelope: poly vs none (ECN-SΛ + same-atom, 5 Å, plateau)",
        Rung(graph="r5", schedule="plateau", same_atom=True, envelope="poly", seeds=3),
        Rung(graph="r5", schedule="plateau", same_atom=True, seeds=3),
    ),
    (
        "cell colours: soft vs parity (ECN-SΛ + same-atom, poly envelope, 5 Å, plateau)",
        Rung(
            graph="r5",
            schedule="plateau",
            same_atom=True,
            envelope="poly",
            cell_colors="soft",
            seeds=3,
        ),
        Rung(graph="r5", schedule="plateau", same_atom=True, envelope="poly", seeds=3),
    ),
    (
        "model: S_N (5 Å) vs CGCNN, es",
        Rung(group="sn", graph="r5", seeds=3),
        Rung(model="cgcnn", group="", graph="", seeds=3),
    ),
)


def contrast_lines(rows: dict[str, Any]) -> list[str]:
    """The ingredient section: Δ val / Δ test (mean over finished seeds) of each contrast, and
    Δ test in units of the larger of the two rows' seed standard deviations where both have one."""
    out = [
        "",
        "## What each ingredient moved",
        "",
        "Δ = rung minus reference (negative: the rung is better), over the seeds both rows "
        "finished (paired: the seed moves test MAE by up to 0.009 here); 'in seed std' divides "
        "Δ test by the larger seed standard deviation of the two (blank with fewer than 2). "
        "A row holding † runs (evaluated at their last epoch) is biased slightly against itself.",
        "",
        "| ingredient | rung | reference | compared on | Δ val | Δ test | in seed std |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, rung, ref in CONTRASTS:
        a, b = rows.get(rung.name), rows.get(ref.name)
        if not a or not b or a["val_mean"] is None or b["val_mean"] is None:
            out.append(f"| {label} | `{rung.name}` | `{ref.name}` | pending | | | |")
            continue
        # paired by seed where the two rows share seeds: seeds differ more than many ingredients
        common = {x["seed"] for x in a["runs"]} & {x["seed"] for x in b["runs"]}
        ra = [x for x in a["runs"] if not common or x["seed"] in common]
        rb = [x for x in b["runs"] if not common or x["seed"] in common]
        dv = statistics.fmean(x["val"] for x in ra) - statistics.fmean(x["val"] for x in rb)
        dt = statistics.fmean(x["test"] for x in ra) - statistics.fmean(x["test"] for x in rb)
        stds = [seed_stats(x["test"] for x in r)[1] for r in (ra, rb) if len(r) > 1]
        z = f"{dt / max(stds):+.1f}" if len(stds) == 2 and max(stds) > 0 else ""
        seeds = (
            f"seeds {', '.join(map(str, sorted(common)))}"
            if common
            else f"{len(ra)} vs {len(rb)} seeds, none shared"
        )
        out.append(
            f"| {label} | `{rung.name}` | `{ref.name}` | {seeds} | {dv:+.4f} | {dt:+.4f} | {z} |"
        )
    return out


def rung_by_name(name: str) -> Rung:
    """The ladder rung called `name` (``Rung.name``).

    Raises:
        ValueError: no such rung (the message lists them).
    """
    for r in LADDER:
        if r.name == name:
            return r
    raise ValueError(f"unknown rung {name!r}; rungs: {[r.name for r in LADDER]}")


def prepare_rungs(rungs: list[Rung] | tuple[Rung, ...], limit: int | None = None) -> int:
    """Build (or load) the graph caches every rung needs, once per graph, with all cores, so
    that many runs started together do not each build the same cache. Returns graphs seen."""
    n, seen = 0, set()
    for rung in rungs:
        try:
            cfg, _ = resolve_config(rung.config(0, Path("unused"), limit=limit))
        except ValueError as err:  # e.g. an option this build lacks: that rung alone fails
            logger.warning("%s: %s", rung.name, err)
            continue
        key = repr(sorted(cfg.graph.items()))
        if key in seen:
            continue
        seen.add(key)
        data = prepare_data(cfg)
        n += sum(len(g) for g in data.graphs.values())
    return n


def run_rung(
    rung: Rung,
    seed: int,
    runs_root: Path,
    archive: Path | None = None,
    **kw: Any,
) -> Path | None:
    """Train (or resume) one seed of `rung` under `runs_root/<name>_seed<k>`, unless it is
    finished there or archived; archive its records once finished. `kw` go to `Rung.config`.
    Returns the finished run's directory (archived copy if that is where it is), else None."""
    name = f"{rung.name}_seed{seed}"
    out, kept = runs_root / name, None if archive is None else archive / name
    if kept is not None and is_finished(kept):
        return kept
    if not is_finished(out):
        train(rung.config(seed, out, **kw), resume=(out / "last.ckpt").is_file())
    if not is_finished(out):
        return None
    if kept is not None:
        return RunRecord.load(out).archive(kept)
    return out


def _hours(res: RunResults) -> tuple[float, str]:
    """(training hours, "GPU" or "CPU"): one thread per CPU run, so wall hours = CPU hours."""
    return (res.train_time_s or 0.0) / 3600, "GPU" if res.gpu else "CPU"


def _progress(run: Path) -> str:
    """'epoch 57, val 0.0812' of an unfinished run (its metrics.csv), '' when it has none."""
    hist = read_history(run)
    vals = hist["val_mae"].dropna() if "val_mae" in hist else []
    return f"epoch {len(hist)}, best val {min(vals):.4f}" if len(vals) else ""


def collect(rungs: tuple[Rung, ...] | list[Rung], runs_root: Path, archive: Path) -> dict[str, Any]:
    """Per rung: finished seeds' val/test MAE, epochs, stop reasons, hours; unfinished ones."""
    rows: dict[str, Any] = {}
    for rung in rungs:
        done, todo = [], []
        for seed in range(rung.seeds):
            name = f"{rung.name}_seed{seed}"
            kept, live = archive / name, runs_root / name
            run = kept if is_finished(kept) else live if is_finished(live) else None
            if run is None:
                todo.append(f"seed {seed}" + (f" ({p})" if (p := _progress(live)) else ""))
                continue
            res = RunRecord.load(run).results
            hours, kind = _hours(res)
            done.append(
                {
                    "seed": seed,
                    "val": res.metric("val", "mae"),
                    "test": res.metric("test", "mae"),
                    "epochs": res.epochs_run,
                    "best_epoch": res.best_epoch,
                    "stopped_by": res.stopped_by,
                    "final_lr": res.final_lr,
                    "hours": hours,
                    "device": kind,
                    "n_params": res.model.n_params,
                    # evaluated at its last epoch although an earlier one was best: the best
                    # checkpoint did not come back from a lent GPU (fixed in ablation_gpu.sh)
                    "last_epoch_model": res.best_checkpoint == "last.ckpt"
                    and res.best_epoch is not None
                    and res.best_epoch != (res.epochs_run or 0) - 1,
                    "source_note": res.source_note,
                }
            )
        tests, vals = [d["test"] for d in done], [d["val"] for d in done]
        rows[rung.name] = {
            "rung": {
                **rung.describe(),
                "name": rung.name,
                "seeds": rung.seeds,
                "split": rung.split,
            },
            "runs": done,
            "pending": todo,
            "val_mean": seed_stats(vals)[0] if vals else None,
            "test_mean": seed_stats(tests)[0] if tests else None,
            "test_std": seed_stats(tests)[1] if tests else None,
        }
    return rows


def ablation_markdown(rows: dict[str, Any], command: str) -> str:
    """`results/table2_ablation/table2_ablation.md`: one line per rung, its change against the
    baseline, the rung selected on validation, and what is still running."""
    base = rows.get(LADDER[0].name, {})
    base_val = base.get("val_mean")
    lines = [
        "# Perov-5 ablation ladder: what moves ECN-SΛ against CGCNN",
        "",
        f"Generated by `{command}` from the run records in `results/table2_ablation_runs/`.",
        "Perov-5 heat_all (eV per 5-atom cell), MAE; every rung shares lr 2e-3, weight decay "
        "1e-2, batch 64, float32, and the same data and split. Selection is on validation; "
        "test is reported. Schedules: `es` = plateau x0.5 after 10 stalled epochs + early "
        "stopping after 25; `plateau` = the same halving, no early stopping, run until the LR "
        "reaches 1e-5; `authors` = halving after 25, down to 1e-6. Hours are training wall "
        "time of one process (GPU rows: several runs shared one GPU).",
        "",
        "| rung | model | graph | schedule | size | cells | same-atom | data | seeds | val MAE | "
        "test MAE | Δ val vs baseline | epochs / best | stopped by | hours |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    big = {n: r for n, r in rows.items() if r["rung"].get("split") == "big"}
    for name, r in rows.items():
        if name in big:
            continue
        d, runs = r["rung"], r["runs"]
        delta = (
            f"{100 * (r['val_mean'] / base_val - 1):+.1f} %"
            if r["val_mean"] is not None and base_val
            else "-"
        )
        ep = (
            ", ".join(
                f"{x['epochs']}/{x['best_epoch']}" + ("†" if x.get("last_epoch_model") else "")
                for x in runs
            )
            or "-"
        )
        stops = ", ".join(sorted({str(x["stopped_by"]) for x in runs})) or "-"
        total = sum(x["hours"] for x in runs)
        kinds = "/".join(sorted({x["device"] for x in runs}))
        hours = f"{total:.2f} {kinds} h" if runs else "-"
        lines.append(
            f"| `{name}` | {d['model']} | {d['graph']} | {d['schedule']} | {d['size']} | "
            f"{d['cells']} | {d['same-atom']} | {d['data']} | {len(runs)}/{d['seeds']} | "
            f"{'-' if r['val_mean'] is None else format(r['val_mean'], '.4f')} | "
            f"{_fmt(r['test_mean'], r['test_std'], len(runs))} | {delta} | {ep} | {stops} | "
            f"{hours} |"
        )
    if any(x.get("last_epoch_model") for r in rows.values() for x in r["runs"]):
        lines += [
            "",
            "† evaluated with the weights of its last epoch, not of its best (listed) one: the "
            "run trained on a lent GPU up to its session cap and was resumed on a CPU, and its "
            "best checkpoint was not brought back (only last.ckpt was; scripts/ablation_gpu.sh "
            "now packs both). Its val/test MAE are those of the last-epoch model, so they "
            "overstate the error of the run's best epoch slightly.",
        ]
    finished = {n: r for n, r in rows.items() if r["val_mean"] is not None}
    # only rungs on the full paper training split compete (the larger split validates on
    # other structures; a fraction of the data is not a candidate)
    ecn = {
        n: r for n, r in finished.items() if n.startswith("ecn_") and r["rung"]["data"] == "train"
    }
    if ecn:
        best = min(ecn, key=lambda n: ecn[n]["val_mean"])
        lines += [
            "",
            f"Selected on validation among ECN rungs: `{best}` (val "
            f"{ecn[best]['val_mean']:.4f}, test "
            f"{_fmt(ecn[best]['test_mean'], ecn[best]['test_std'], len(ecn[best]['runs']))}).",
        ]
    lines += contrast_lines(rows)
    if big:
        lines += [
            "",
            "## A larger training split (not the paper's protocol)",
            "",
            "Training on the training split plus 3,000 of the official validation structures "
            "(seeded draw), validated on the other 787; the official test split is untouched "
            "(`ecn.data.perov5.EXTRA_SPLITS`). Test MAE, paper split against larger split:",
            "",
            "| rung | model | test MAE, paper split (3,890 train) | test MAE, larger split "
            "(6,890 train) | epochs / best |",
            "|---|---|---|---|---|",
        ]
        for name, r in big.items():
            paper = rows.get(name.removesuffix("_bigsplit"), {})
            ep = ", ".join(f"{x['epochs']}/{x['best_epoch']}" for x in r["runs"]) or "-"
            paper_cell = (
                _fmt(paper["test_mean"], paper["test_std"], len(paper["runs"]))
                if paper.get("runs")
                else "-"
            )
            lines.append(
                f"| `{name}` | {r['rung']['model']} | {paper_cell} | "
                f"{_fmt(r['test_mean'], r['test_std'], len(r['runs']))} | {ep} |"
            )
    pending = [f"`{n}`: " + "; ".join(r["pending"]) for n, r in rows.items() if r["pending"]]
    if pending:
        lines += ["", "Not finished yet (the same command resumes them): " + " · ".join(pending)]
    notes = {x["source_note"] for r in rows.values() for x in r["runs"] if x["source_note"]}
    if notes:
        lines += ["", "Data note: " + " ".join(sorted(notes))]
    return "\n".join(lines) + "\n"


def write_ablation(
    runs_root: str | Path = "runs/ablation",
    results_dir: str | Path = "results",
    rungs: tuple[Rung, ...] | list[Rung] = LADDER,
    command: str = "ecn reproduce ablation --no-train",
) -> dict[str, Any]:
    """Write `results/table2_ablation/table2_ablation.{md,json}` from every finished run of
    `rungs` (records archived in `results/table2_ablation_runs/`)."""
    results = Path(results_dir)
    rows = collect(rungs, Path(runs_root), results / "table2_ablation_runs")
    atomic_write_text(
        results / ABLATION_DIR / "table2_ablation.md", ablation_markdown(rows, command)
    )
    atomic_write_text(results / ABLATION_DIR / "table2_ablation.json", json.dumps(rows, indent=2))
    return rows


__all__ = [
    "LADDER",
    "RECIPE",
    "SCHEDULES",
    "Rung",
    "collect",
    "prepare_rungs",
    "rung_by_name",
    "run_rung",
    "write_ablation",
]
