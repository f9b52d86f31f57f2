"""`ecn bench layers` on a tiny real batch, and the `ecn.testing` helpers themselves."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ecn.testing import assert_equivariant, assert_not_equivariant, permute_graph

VARIANTS = ("plain_reference", "sn", "p1", "glambda", "slambda", "naive_p1")


def test_cli_bench_layers_writes_every_variant(perov5_dir, tmp_path):
    from ecn.cli import app

    out = tmp_path / "layers.json"
    res = CliRunner().invoke(
        app,
        [
            "bench",
            "layers",
            "--batch-size",
            "2",
            "--width",
            "8",
            "--repeats",
            "1",
            "--json",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert set(VARIANTS) <= set(result["ms_per_step"])
    assert result["ratio_p1_vs_plain"] > 0
    assert all(f"ratio_{v}_vs_plain" in result for v in VARIANTS[1:])
    assert result["n_colors"]["sn"] == 1 and result["n_nodes"] == 80  # 2 perovskites x 8 x 5


def test_permute_graph_moves_rows_not_labels(graphs):
    g = graphs["CsCl"]
    perm = np.roll(np.arange(g.num_nodes), 3)
    gp = permute_graph(g, perm)
    assert torch.equal(gp.x[perm], g.x) and torch.equal(gp.z[perm], g.z)
    assert torch.equal(gp.cell, g.cell) and torch.equal(gp.atom, g.atom)
    assert torch.equal(gp.edge_index, torch.as_tensor(perm)[g.edge_index])
    with pytest.raises(ValueError):
        permute_graph(g, np.zeros(g.num_nodes, dtype=int))


def test_helpers_accept_plain_callables(graphs):
    """A user's node-level function: equivariant MLP passes, a position-dependent one fails."""
    g = graphs["CsCl"]
    torch.manual_seed(0)
    lin = torch.nn.Linear(g.x.shape[1], 4).double()
    perm = np.random.default_rng(0).permutation(g.num_nodes)
    assert_equivariant(lambda gr: lin(gr.x), g, perm)
    assert_not_equivariant(lambda gr: lin(gr.x) * (1 + gr.cell[:, None]), g, perm)
    with pytest.raises(AssertionError):
        assert_equivariant(lambda gr: lin(gr.x) * (1 + gr.cell[:, None]), g, perm)


def test_model_contract_is_shipped_without_pytest_at_import():
    """``ecn.testing`` works without pytest; ``ModelContract`` (which needs it) loads on use."""
    code = (
        "import sys, ecn.testing as t\n"
        "assert 'pytest' not in sys.modules, 'import ecn.testing pulled in pytest'\n"
        "from ecn.testing import ModelContract\n"
        "from ecn.testing.model_contract import TOLERANCES\n"
        "import torch\n"
        "assert ModelContract.__module__ == 'ecn.testing.model_contract'\n"
        "assert set(TOLERANCES) == {torch.float32, torch.float64}\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
