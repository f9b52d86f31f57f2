"""``ecn.nn.scatter``: per-bucket sums, means and softmax against a plain loop.

The mean counts rows with ``index_add_`` (a fixed-size output) so that a compiled forward keeps
one graph; the tests check it still counts exactly where a low-precision accumulator would not
(bf16 stops counting at 256) and that it compiles without a graph break.
"""

from __future__ import annotations

import torch

from ecn.nn.scatter import scatter_mean, scatter_softmax, scatter_sum


def _loop_mean(src: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    out = torch.zeros((n,) + tuple(src.shape[1:]), dtype=torch.float64)
    for b in range(n):
        rows = src[index == b].double()
        if len(rows):
            out[b] = rows.mean(0)
    return out


def test_scatter_mean_matches_a_loop_with_an_empty_bucket() -> None:
    g = torch.Generator().manual_seed(0)
    index = torch.tensor([0, 2, 2, 4, 0, 0, 4])  # buckets 1 and 3 empty
    src = torch.randn(7, 3, generator=g)
    got = scatter_mean(src, index, 5)
    assert torch.allclose(got.double(), _loop_mean(src, index, 5), atol=1e-6)
    assert torch.equal(got[1], torch.zeros(3)) and torch.equal(got[3], torch.zeros(3))
    # control: a wrong count (sum instead of mean) is caught by the same comparison
    assert not torch.allclose(scatter_sum(src, index, 5).double(), _loop_mean(src, index, 5))


def test_scatter_mean_counts_exactly_in_bf16_past_256_rows() -> None:
    index = torch.zeros(1000, dtype=torch.long)
    src = torch.ones(1000, 2, dtype=torch.bfloat16)
    assert torch.equal(scatter_mean(src, index, 1), torch.ones(1, 2, dtype=torch.bfloat16))
    # control: counting in bf16 itself saturates (256 + 1 == 256), the bug the code avoids
    bad = torch.zeros(1, dtype=torch.bfloat16).index_add_(0, index, torch.ones(1000).bfloat16())
    assert bad.item() < 1000


def test_scatter_softmax_sums_to_one_per_bucket() -> None:
    g = torch.Generator().manual_seed(1)
    index = torch.tensor([0, 0, 1, 1, 1, 3])
    w = scatter_softmax(50 * torch.randn(6, generator=g), index, 4)
    sums = scatter_sum(w.unsqueeze(-1), index, 4).squeeze(-1)
    assert torch.allclose(sums, torch.tensor([1.0, 1.0, 0.0, 1.0]))


def _bincount_mean(src: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """The former count (control): bincount's output size depends on the data."""
    total = scatter_sum(src, index, n)
    count = torch.bincount(index, minlength=n).clamp_min(1).to(src.dtype)
    return total / count.view(-1, 1)


def test_scatter_mean_traces_as_one_graph() -> None:
    """A compiled forward keeps one graph through the mean (MEGNet calls it 15 times)."""
    index = torch.tensor([0, 1, 1, 3])
    src = torch.arange(8.0).view(4, 2)
    graphs = {}
    for fn in (scatter_mean, _bincount_mean):
        torch._dynamo.reset()
        ex = torch._dynamo.explain(fn)(src, index, 4)
        graphs[fn] = (ex.graph_count, ex.graph_break_count)
    torch._dynamo.reset()
    assert graphs[scatter_mean] == (1, 0)
    assert graphs[_bincount_mean] != (1, 0)  # control: explain sees bincount's break
    assert torch.allclose(_bincount_mean(src, index, 4), scatter_mean(src, index, 4))
