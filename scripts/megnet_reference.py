"""Issue 13 item 2: ecn's MEGNet side by side with matgl's (the maintained reference, PyG port
of the original Keras megnet) on our exact Perov-5 splits, with one recipe for both: 30 epochs,
AdamW lr 1e-3 with weight decay 0 (= Adam), batch 64, constant learning rate, MSE on
standardised targets, best-validation checkpoint, one thread.

matgl is not an ecn dependency; it runs from a side virtual environment that sees ecn's
packages (torch 2.13 stays):

    python -m venv --system-site-packages /tmp/mgvenv
    /tmp/mgvenv/bin/pip install matgl torch-geometric torchdata huggingface_hub
    /tmp/mgvenv/bin/python scripts/megnet_reference.py reference --seed 0 \\
        --out runs/megnet_ref/matgl_s0
    ecn train -c configs/megnet_reference_recipe.yaml --seed 0 --out runs/megnet_ref/ecn_s0
    python scripts/megnet_reference.py table --runs runs/megnet_ref/* \\
        --out results/baselines/megnet_reference

Each run's results.json / config.yaml / metrics.csv are kept under
``results/baselines/megnet_reference_runs/``, so the table is rewritten from a fresh clone with
``--runs results/baselines/megnet_reference_runs/*``.

The reference model is matgl's ``MEGNet`` with its own defaults (its Set2Set has 2 steps and no
projection to 16; its bond Gaussians span 0-6 Å), at MEGNet's crystal cutoff of 5 Å, on
graphs from matgl's own ``Structure2Graph``; the state input is matgl's default ``[0, 0]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")


def _structures(split: str, limit: int | None) -> tuple[list, np.ndarray, list[str]]:
    from ecn.data import load_split

    loaded = load_split("perov5", split, limit=limit)
    recs = [r for r in loaded.records if np.isfinite(r.targets.get("heat_all", np.nan))]
    return (
        [r.structure for r in recs],
        np.array([r.targets["heat_all"] for r in recs]),
        [r.id for r in recs],
    )


def reference(seed: int, out: Path, epochs: int, limit: int | None, batch: int) -> None:
    """Train matgl's MEGNet with the shared recipe; write results.json and predictions."""
    import torch
    from matgl.ext.pymatgen import Structure2Graph
    from matgl.graph.data import MGLDataset, collate_fn_graph
    from matgl.models import MEGNet
    from torch.utils.data import DataLoader

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    np.random.seed(seed)
    data = {s: _structures(s, limit) for s in SPLITS}
    elements = tuple(sorted({el.symbol for st in data["train"][0] for el in st.composition}
                            | {el.symbol for s in SPLITS for st in data[s][0]
                               for el in st.composition}))  # fmt: skip
    conv = Structure2Graph(element_types=elements, cutoff=5.0)
    mean, std = float(data["train"][1].mean()), float(data["train"][1].std())
    t0 = time.monotonic()
    sets = {
        s: MGLDataset(
            structures=data[s][0],
            labels={"y": ((data[s][1] - mean) / std).tolist()},
            converter=conv,
            save_cache=False,
            root=str(out / f"mgl_{s}"),
        )
        for s in SPLITS
    }
    graph_s = time.monotonic() - t0
    gen = torch.Generator().manual_seed(seed)
    loaders = {
        s: DataLoader(sets[s], batch_size=batch if s == "train" else 256, shuffle=s == "train",
                      collate_fn=collate_fn_graph, generator=gen if s == "train" else None)
        for s in SPLITS
    }  # fmt: skip
    model = MEGNet(element_types=elements, cutoff=5.0, is_classification=False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)

    def forward(g, lat, state):
        # as matgl's ModelLightningModule.forward: Cartesian positions and image shifts
        lat = lat.reshape(-1, 3, 3)
        g.pos = (g.frac_coords.unsqueeze(-1) * lat[g.batch]).sum(1)
        g.pbc_offshift = (g.pbc_offset.unsqueeze(-1) * lat[g.batch[g.edge_index[0]]]).sum(1)
        return model(g, state_attr=state).reshape(-1)

    def predict(split: str) -> np.ndarray:
        model.eval()
        outs = []
        with torch.no_grad():
            for g, lat, state, _y in loaders[split]:
                outs.append(forward(g, lat, state))
        model.train()
        return torch.cat(outs).numpy() * std + mean

    best, best_val, history = None, float("inf"), []
    t0 = time.monotonic()
    for epoch in range(epochs):
        for g, lat, state, y in loaders["train"]:
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(forward(g, lat, state), y)
            loss.backward()
            opt.step()
        val = float(np.abs(predict("val") - data["val"][1]).mean())
        history.append({"epoch": epoch, "val_mae": val, "elapsed_s": time.monotonic() - t0})
        print(json.dumps(history[-1]), flush=True)
        if val < best_val:
            best_val, best = val, copy.deepcopy(model.state_dict())
    train_s = time.monotonic() - t0
    model.load_state_dict(best)
    test_pred = predict("test")
    out.mkdir(parents=True, exist_ok=True)
    np.savetxt(out / "test_predictions.csv", np.c_[data["test"][1], test_pred], delimiter=",",
               header="target,prediction", comments="")  # fmt: skip
    import matgl

    result = {
        "implementation": f"matgl {matgl.__version__} MEGNet",
        "seed": seed,
        "epochs": epochs,
        "best_val_mae": best_val,
        "test_mae": float(np.abs(test_pred - data["test"][1]).mean()),
        "n_params": sum(p.numel() for p in model.parameters()),
        "split_sizes": {s: len(data[s][1]) for s in SPLITS},
        "graph_s": graph_s,
        "train_s": train_s,
        "history": history,
    }
    (out / "results.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "history"}))


def _row(run: Path) -> dict:
    from ecn.train.record import RunRecord, reference_result

    ref = reference_result(run)
    if ref is not None:
        return {"impl": ref["implementation"], "seed": ref["seed"], "test": ref["test_mae"],
                "s": ref["train_s"], "params": ref["n_params"]}  # fmt: skip
    rec = RunRecord.load(run)
    return {"impl": "ecn MEGNet", "seed": rec.config.run.seed,
            "test": rec.results.metric("test", "mae"), "s": rec.results.train_time_s,
            "params": rec.results.model.n_params}  # fmt: skip


def table(runs: list[Path], out: Path, note: str | None = None) -> None:
    """Markdown + JSON: test MAE per run and mean ± std per implementation; `note` (e.g. the
    host load the seconds were measured under) is appended."""
    from ecn.experiments.seeds import write_seed_table
    from ecn.train.record import is_finished

    rows = [_row(p) for p in runs if is_finished(p)]
    head = [
        "# MEGNet: ecn against matgl's implementation, Perov-5 heat_all",
        "",
        "Generated by `python scripts/megnet_reference.py table`. Same splits (train 3,890 "
        "assembled from the Castelli export, official val/test), 30 epochs, AdamW lr 1e-3 with "
        "weight decay 0, batch 64, constant learning rate, MSE on standardised targets, "
        "best-validation checkpoint, one thread each. Test MAE in eV/cell. Parameters: "
        + ", ".join(sorted({f"{r['impl']} {r['params']}" for r in rows}))
        + ".",
    ]
    foot = ["Seconds per run: training only (graphs built before)."] + ([note] if note else [])
    print(write_seed_table(rows, out, head, foot))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reference")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--epochs", type=int, default=30)
    r.add_argument("--batch", type=int, default=64)
    r.add_argument("--limit", type=int, default=None, help="first N per split (smoke runs)")
    r.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("table")
    t.add_argument("--runs", type=Path, nargs="+", required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--note", default=None, help="a line appended to the table (e.g. host load)")
    a = ap.parse_args()
    if a.cmd == "reference":
        reference(a.seed, a.out, a.epochs, a.limit, a.batch)
    else:
        table(a.runs, a.out, a.note)


if __name__ == "__main__":
    main()
