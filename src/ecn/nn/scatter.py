"""Scatter operations on edge and node rows with ``index_add_`` (no compiled extensions).

The baselines aggregate messages per target node and pool per graph with these, so they run
wherever PyTorch does (no torch-scatter / torch-geometric).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["scatter_mean", "scatter_softmax", "scatter_sum"]


def scatter_sum(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """Sum rows of `src` into `dim_size` buckets.

    Args:
        src: (M, d) values.
        index: (M,) long bucket of each row, in ``[0, dim_size)``.
        dim_size: number of buckets.

    Returns:
        (dim_size, d) sums (zero for empty buckets).
    """
    out = src.new_zeros((dim_size,) + tuple(src.shape[1:]))
    return out.index_add_(0, index, src)


def scatter_mean(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """Mean of rows of `src` per bucket; empty buckets give zeros (never NaN).

    Args:
        src: (M, d) values.
        index: (M,) long bucket of each row.
        dim_size: number of buckets.

    Returns:
        (dim_size, d) means.
    """
    total = scatter_sum(src, index, dim_size)
    # counts by index_add_, not bincount: bincount's output size depends on the data, which
    # breaks a torch.compile graph at every call (MEGNet: 15 per forward). Counted in at least
    # float32 (exact below 2**24; bf16 would stop at 256), then cast as bincount's were
    acc = torch.promote_types(src.dtype, torch.float32)
    count = scatter_sum(torch.ones(index.shape[0], dtype=acc, device=src.device), index, dim_size)
    count = count.clamp_min(1).to(src.dtype)
    return total / count.view(-1, *([1] * (src.dim() - 1)))


def scatter_softmax(logits: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """Softmax of `logits` within each bucket (numerically stabilised by the bucket max).

    Args:
        logits: (M,) scores.
        index: (M,) long bucket of each score.
        dim_size: number of buckets.

    Returns:
        (M,) weights summing to one within each non-empty bucket.
    """
    bucket_max = logits.new_full((dim_size,), -math.inf)
    bucket_max = bucket_max.scatter_reduce(0, index, logits, reduce="amax", include_self=True)
    ex = torch.exp(logits - bucket_max[index].detach())
    denom = ex.new_zeros(dim_size).index_add_(0, index, ex)
    return ex / denom[index]
