"""The fused aggregation (no per-edge messages, one node-side matmul per layer) is the same
function as the per-slot reference ``aggregate(messages(h))``, for every group and layout, with
the same gradients; and the bf16 autocast step tracks the fp32 one."""

from __future__ import annotations

import pytest
import torch

from ecn.graphs.graph import collate
from ecn.nn import ECN, GROUPS, EquivariantMessagePassing, build_color_plan, n_base_colors


@pytest.fixture(scope="module")
def mixed(graphs):
    return collate([graphs[k] for k in ("CsCl", "CuAu", "Mg", "CaF2", "BaTiO3")])


@pytest.mark.parametrize("chunk", ["auto", None, 32])
@pytest.mark.parametrize("group", GROUPS)
def test_fused_equals_per_slot_messages(group, chunk, mixed):
    torch.manual_seed(0)
    backend = "bmm" if chunk is not None else "loop"
    plan = build_color_plan(mixed, group, chunk)
    plan.edge_attr = plan.edge_attr.double()
    layer = EquivariantMessagePassing(
        16, mixed.edge_attr.shape[1], n_base_colors(group), backend=backend
    ).double()
    h = torch.randn(mixed.num_nodes, 16, dtype=torch.float64, requires_grad=True)
    ref = layer.aggregate(layer.messages(h, plan), plan)
    fused = layer.aggregate_messages(h, plan)
    assert torch.allclose(fused, ref, atol=1e-12, rtol=0)
    g = torch.randn_like(ref)
    grads_ref = torch.autograd.grad(ref, [h, *layer.parameters()], g, allow_unused=True)
    grads = torch.autograd.grad(fused, [h, *layer.parameters()], g, allow_unused=True)
    for a, b in zip(grads, grads_ref, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, atol=1e-10, rtol=0)


def test_bf16_autocast_tracks_fp32(mixed):
    torch.manual_seed(0)
    g = collate([mixed])  # float64 fixture -> float32 copy below
    g.x, g.edge_attr = mixed.x.float(), mixed.edge_attr.float()
    model = ECN(g.x.shape[1], g.edge_attr.shape[1], group="slambda", width=32, layers=2)
    ref = model(g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(g)
    assert low.dtype == torch.bfloat16
    assert torch.allclose(low.float(), ref, atol=0.05 * ref.abs().max().item() + 0.02)
