"""Data preparation and training modes: NaN-target rows, glambda orbit maps, time budget,
node-level (per-site) mechanics."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ecn.graphs import expand
from ecn.train.config import load_config
from ecn.train.data import prepare_data
from ecn.train.run import train
from train_helpers import N_VAL, tiny_overrides


@pytest.fixture(scope="module")
def cif_folder_with_nan(tiny_perov5: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CGCNN-style folder of 8 real Perov-5 CIFs; 2 rows of id_prop.csv have a NaN target."""
    import pandas as pd

    d = tmp_path_factory.mktemp("cif_nan")
    df = pd.read_csv(tiny_perov5 / "test.csv")
    lines = []
    for k, r in df.iterrows():
        (d / f"{r['material_id']}.cif").write_text(r["cif"])
        lines.append(f"{r['material_id']},{'nan' if k in (2, 5) else r['heat_all']}")
    (d / "id_prop.csv").write_text("\n".join(lines) + "\n")
    return d


def test_nan_target_rows_dropped_with_count(cif_folder_with_nan: Path, tmp_path: Path) -> None:
    cfg = load_config(
        None,
        {
            "data": {
                "dataset": "cif",
                "targets": ["target"],
                "path": str(cif_folder_with_nan),
                "train_split": "all",
                "val_split": "all",
                "test_split": "all",
                "cache": False,
            },
            "graph": {"strategy": "cutoff", "cutoff": 5.0},
            "model": {"options": {"group": "sn"}},
        },
    )
    data = prepare_data(cfg)
    # a CIF folder is read for the selected target: its NaN rows are rejected with a reason
    assert data.n_rejected == {"train": 2, "val": 2, "test": 2}
    assert sum(data.n_dropped_nan.values()) == 0
    assert [r for _, s, r in data.rejected if s == "train"] == [
        "target 'target' is missing or NaN"
    ] * 2
    assert all(len(g) == 6 for g in data.graphs.values())
    assert not np.isnan(data.graphs["train"].targets).any()
    assert not any(np.isnan(u.y).any() for u in data.graphs["train"])
    y = data.graphs["train"].targets
    assert float(data.target_mean[0]) == pytest.approx(float(y.mean()), abs=1e-6)


def test_glambda_orbit_maps_filled(tiny_perov5: Path, tmp_path: Path) -> None:
    from ecn.symmetry.colorings import glambda_orbit_map
    from ecn.symmetry.lattice import lattice_point_group

    cfg = load_config(
        None, tiny_overrides(tiny_perov5, tmp_path, model={"options": {"group": "glambda"}})
    )
    data = prepare_data(cfg, splits=("val",))
    for u in data.graphs["val"]:
        g = expand([u], data.settings)
        want = glambda_orbit_map(lattice_point_group(g.lattice[0].double().numpy()))
        assert g.cell_orbit_map is not None and g.cell_orbit_map.tolist() == [want.tolist()]
    # cubic Perov-5 cells: a, b, c axes are equivalent -> 4 orbits of the 8 P-1 cell colours
    assert len(set(data.graphs["val"][0].orbit_map.tolist())) == 4


def test_time_budget_stops_cleanly_glambda(tiny_perov5: Path, tmp_path: Path) -> None:
    """A 6 ms budget stops after the first step, still validates, checkpoints and reports."""
    cfg = load_config(
        None,
        tiny_overrides(
            tiny_perov5,
            tmp_path / "tb",
            model={"options": {"group": "glambda"}},
            optim={"epochs": 50},
            run={"time_budget_min": 1e-4},
        ),
    )
    out = train(cfg)
    res = json.loads((out / "results.json").read_text())
    assert res["stopped_by"] == "time_budget" and res["epochs_run"] == 1
    assert (out / "best.ckpt").is_file() and np.isfinite(res["metrics"]["test"]["mae"])


def test_node_level_mechanics_on_synthetic_target(tiny_perov5: Path, tmp_path: Path) -> None:
    """MECHANICS TEST ONLY: per-node outputs (no pooling) against a synthetic per-site target
    (the periodic-table group of each atom, derived from Z). No dataset here has a real per-site
    quantity (see ecn.train.data docstring)."""
    from pymatgen.core import Structure

    import ecn

    cfg = load_config(
        None,
        tiny_overrides(
            tiny_perov5,
            tmp_path / "node",
            data={"node_target": "synthetic_group"},
            model={"node_level": True, "options": {"layers": 1}},
            optim={"epochs": 3, "lr": 3e-3},
        ),
    )
    out = train(cfg)
    res = json.loads((out / "results.json").read_text())
    assert res["node_target"] == "synthetic_group"
    with (out / "predictions_val.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    # ECN's default graph is the unit cell (the exact quotient of the cover): 5 atoms each
    assert len(rows) == N_VAL * 5 and "node" in rows[0]
    truth = {float(r["target"]) for r in rows}
    assert truth <= {
        2.0,
        3.0,
        4.0,
        5.0,
        11.0,
        13.0,
        14.0,
        15.0,
        16.0,
        17.0,
        1.0,
        6.0,
        7.0,
        8.0,
        9.0,
        10.0,
        12.0,
        18.0,
    }
    # loss goes down on this learnable target
    with (out / "metrics.csv").open() as fh:
        losses = [float(r["train_loss"]) for r in csv.DictReader(fh)]
    assert losses[-1] < losses[0]
    model = ecn.load_model(str(out))
    import pandas as pd

    s = Structure.from_str(pd.read_csv(tiny_perov5 / "test.csv")["cif"][0], fmt="cif")
    per_node = model.predict([s, s])
    assert len(per_node) == 2 and per_node[0].shape == (5, 1)  # one row per atom
    np.testing.assert_allclose(per_node[0], per_node[1])


def test_graph_cache_shared_across_targets(
    tiny_perov5: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One cached build serves every target: a second target reuses the file and its y column is
    the records' value of that target (not the first run's target)."""
    import pandas as pd

    from ecn.data import load_split

    monkeypatch.setenv("ECN_CACHE_DIR", str(tmp_path / "cache"))
    ys = {}
    for target in ("heat_all", "ind_gap"):
        cfg = load_config(
            None,
            tiny_overrides(
                tiny_perov5, tmp_path / target, data={"targets": [target], "cache": True}
            ),
        )
        data = prepare_data(cfg, splits=("val",))
        ys[target] = data.graphs["val"].targets[:, 0].astype(np.float64)
    files = sorted(p.name for p in (tmp_path / "cache").glob("perov5-val-*"))
    assert len(files) == 1, files
    recs = load_split("perov5", "val", path=str(tiny_perov5), required=()).records
    csv_rows = pd.read_csv(tiny_perov5 / "val.csv")
    for target in ys:
        want = np.array([r.targets[target] for r in recs])
        np.testing.assert_allclose(ys[target], want, rtol=1e-6)
        np.testing.assert_allclose(ys[target], csv_rows[target].to_numpy(), rtol=1e-6)
    assert not np.allclose(ys["heat_all"], ys["ind_gap"])


def test_expanding_on_the_device_trains_the_same(tiny_perov5: Path, tmp_path: Path) -> None:
    """``run.expand_on: device`` (compact batches, expanded after the transfer) gives the same
    training as expanding in the DataLoader's collate; auto resolves to worker on a CPU."""
    res = {}
    for mode in ("auto", "device"):
        cfg = load_config(
            None, tiny_overrides(tiny_perov5, tmp_path / mode, run={"expand_on": mode})
        )
        out = train(cfg)
        res[mode] = json.loads((out / "results.json").read_text())["metrics"]
        assert load_config(out / "config.yaml").run.expand_on == (
            "worker" if mode == "auto" else "device"
        )
    for split in ("val", "test"):
        assert res["device"][split]["mae"] == pytest.approx(res["auto"][split]["mae"], abs=1e-6)
    with pytest.raises(ValueError, match="expand_on"):
        load_config(None, tiny_overrides(tiny_perov5, tmp_path / "x", run={"expand_on": "gpu"}))
