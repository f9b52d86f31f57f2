"""`run_train_bench` on a handful of real Perov-5 crystals (the embedded sample if no data dir)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecn.bench.train import format_table, run_train_bench


def test_train_bench_small(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    r = run_train_bench(
        json_path=out,
        models=["ecn-sn", "cgcnn", "megnet", "schnet"],
        n_structures=4,
        batch_size=2,
        repeats=1,
        warmup=0,
        measure_memory=False,
        threads=1,
        train_size=100,
    )
    assert set(r["models"]) == {"ecn-sn", "cgcnn", "megnet", "schnet"}
    assert set(r["step_ms"]["ecn-sn"]) == {"32", "bf16-mixed"}
    assert all(ms > 0 for row in r["step_ms"].values() for ms in row.values())
    assert r["epoch_ratio_vs_cgcnn"]["cgcnn"] == 1.0 and r["epoch_ratio_vs_cgcnn"]["ecn-sn"] > 0
    assert r["epoch_s"]["cgcnn"]["32"] == pytest.approx(r["step_ms"]["cgcnn"]["32"] * 50 / 1e3, 0.1)
    assert 100 < r["cache_bytes_per_structure"]["perov5"] < 5000  # compact record (issue 12)
    assert len(r["cache_bytes_per_structure_by_graph"]["perov5"]) >= 2
    for row in r["models"].values():
        assert row["graphs_per_s"] > 0 and row["params"] > 0 and row["saved_mb"] > 0
    assert r["models"]["cgcnn"]["supercell"] is False and not r["models"]["ecn-sn"]["supercell"]
    assert r["n_batches"] == 2
    assert json.loads(out.read_text())["batch_size"] == 2
    assert "| cgcnn |" in format_table(r) and "ms/step bf16-mixed" in format_table(r)


def test_train_bench_bad_args() -> None:
    with pytest.raises(ValueError):
        run_train_bench(models=[], n_structures=2)
    with pytest.raises(ValueError):
        run_train_bench(n_structures=0)
    with pytest.raises(ValueError, match="precision"):
        run_train_bench(n_structures=2, precisions=("fp8",))


def test_train_bench_cover_and_quotient_variants() -> None:
    r = run_train_bench(
        models=["ecn-slambda", "ecn-slambda:cover", "ecn-slambda:quotient", "ecn-slambda:voronoi"],
        n_structures=2,
        batch_size=2,
        repeats=1,
        warmup=0,
        measure_memory=False,
        threads=1,
        precisions=("32",),
        command="ecn bench train --model ecn-slambda:cover",
    )
    default, cover = r["models"]["ecn-slambda"], r["models"]["ecn-slambda:cover"]
    assert cover["supercell"] and not default["supercell"]  # ECN's default: the quotient
    assert r["models"]["ecn-slambda:quotient"]["edges_per_batch"] == default["edges_per_batch"]
    assert cover["nodes_per_batch"] == 8 * default["nodes_per_batch"]
    assert cover["edges_per_batch"] == 8 * default["edges_per_batch"]
    # Perov-5's default graph is every neighbour within 5 Å: more edges than Voronoi + radii
    assert r["models"]["ecn-slambda:voronoi"]["edges_per_batch"] < default["edges_per_batch"]
    assert r["command"] == "ecn bench train --model ecn-slambda:cover"
    with pytest.raises(ValueError, match="unknown graph suffix"):
        run_train_bench(models=["ecn-slambda:nonsense"], n_structures=2)


def test_benchmark_names_take_an_ecn_size_and_named_graphs() -> None:
    from ecn.bench.train import _graph_settings
    from ecn.nn.spec import ModelSpec

    spec = ModelSpec.parse("ecn-slambda@64x4:r8n12")
    assert (spec.model, spec.options) == ("ecn", {"group": "slambda", "width": 64, "layers": 4})
    assert str(spec) == "ecn-slambda@64x4:r8n12" and spec.slug == "ecn_slambda"  # round trip
    assert ModelSpec.parse("ecn-sn").options == {"group": "sn"}  # paper size by default
    assert ModelSpec.parse("cgcnn").slug == "cgcnn" and ModelSpec.parse("cgcnn").group is None
    g = _graph_settings("ecn-slambda@64x4:r8n12")
    assert (g.strategy, g.cutoff, g.max_neighbors, g.gaussian_max) == ("cutoff", 8.0, 12, 8.0)
    g = _graph_settings("ecn-slambda:r5+cover")
    assert (g.strategy, g.cutoff, g.cell_onehot, g.supercell) == ("cutoff", 5.0, True, True)
    with pytest.raises(ValueError, match="bad ECN size"):
        ModelSpec.parse("ecn-slambda@64:r5")
    with pytest.raises(ValueError, match="unknown model"):
        ModelSpec.parse("cgcnn@64x4")  # a size is ECN's only
