"""`ColoredLinear`: C affine maps in one parameter tensor, and how to apply them cheaply.

The parameter-sharing layer of paper Claim 6.1 uses one function per colour. Expanding the weights
by a one-hot colour vector costs C times the FLOPs; instead (DESIGN.md "Efficient colours"):

* rows that are node features are projected once per node and colour (``project``), and the
  per-edge result is a gather from the ``(N, C, d)`` projection;
* rows that are per-edge (edge features, hidden activations) are multiplied group by group, the
  edges being sorted by colour once per batch (``grouped``): one dense matmul per colour, or a
  single ``torch.nn.functional.grouped_mm`` call where it applies (float32 on CPU/GPU).

``naive`` is the one-hot-expanded reference, kept for tests and the benchmark contrast.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _grouped_mm_ok(x: Tensor, w: Tensor) -> bool:
    """Whether `torch.nn.functional.grouped_mm` accepts these operands (dtype and alignment)."""
    if not hasattr(torch.nn.functional, "grouped_mm"):
        return False
    if x.dtype not in (torch.float32, torch.bfloat16, torch.float16) or w.dtype != x.dtype:
        return False
    item = x.element_size()
    return (x.shape[1] * item) % 16 == 0 and (w.shape[2] * item) % 16 == 0


def _contiguous_grad(t: Tensor) -> Tensor:
    """Make the incoming gradient of `t` dense (grouped_mm rejects expanded, stride-0 grads)."""
    if t.requires_grad:
        t.register_hook(lambda g: g.contiguous())
    return t


def grouped_matmul(
    x: Tensor,
    weight: Tensor,
    counts: list[int],
    offsets: Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    """Multiply consecutive row groups of `x` by their own matrix.

    Args:
        x: (M, in) rows sorted by group; group k holds ``counts[k]`` consecutive rows.
        weight: (K, in, out) one matrix per group.
        counts: K python ints summing to M.
        offsets: (K,) int32 cumulative counts (needed by ``grouped_mm``; built if None).
        backend: ``"loop"`` (one matmul per group), ``"grouped_mm"`` or ``"auto"`` (grouped_mm
            when the dtype/alignment allow it, else the loop).

    Returns:
        (M, out).
    """
    if weight.shape[0] != len(counts):
        raise ValueError(f"{weight.shape[0]} matrices for {len(counts)} groups")
    if backend not in ("auto", "loop", "grouped_mm"):
        raise ValueError(f"unknown backend {backend!r}")
    if len(counts) == 1:
        return x @ weight[0]
    use_gmm = backend == "grouped_mm" or (backend == "auto" and _grouped_mm_ok(x, weight))
    if use_gmm:
        if offsets is None:
            offsets = torch.tensor(counts, device=x.device).cumsum(0).to(torch.int32)
        out = torch.nn.functional.grouped_mm(x.contiguous(), weight.contiguous(), offs=offsets)
        return _contiguous_grad(out)
    return torch.cat([xs @ weight[k] for k, xs in enumerate(x.split(counts))])


class _ColoredOps:
    """How C colour-specific affine maps are applied, given ``weight`` (C, in, out) and
    ``bias`` (C, out): shared by :class:`ColoredLinear` (parameters) and
    :class:`StackedColoredLinear` (several of them read as one, per forward pass)."""

    weight: Tensor
    bias: Tensor
    n_colors: int
    in_features: int
    out_features: int

    def effective(
        self, select: Tensor | None = None, mix: Tensor | None = None, rows: slice | None = None
    ) -> tuple[Tensor, Tensor]:
        """Weights of the colours actually used, optionally orbit-averaged.

        Args:
            select: (K,) colour ids: effective colour k is colour ``select[k]``.
            mix: (K, C) mixing rows: effective colour k has weights ``sum_c mix[k, c] W^c``
                (the G_Lambda orbit mean). Exactly one of `select` / `mix` may be given; with
                neither, all C colours are returned.
            rows: input rows of W to keep (e.g. only the edge-feature block).

        Returns:
            weight (K, in', out) and bias (K, out).
        """
        w = self.weight if rows is None else self.weight[:, rows]
        if mix is not None and select is not None:
            raise ValueError("give either select or mix, not both")
        if mix is not None:
            k = mix.shape[0]
            return (mix @ w.reshape(self.n_colors, -1)).reshape(k, *w.shape[1:]), mix @ self.bias
        if select is not None:
            return w[select], self.bias[select]
        return w, self.bias

    def project(
        self,
        x: Tensor,
        blocks: list[slice],
        select: Tensor | None = None,
        mix: Tensor | None = None,
        bias_block: int | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Project `x` through the given input-row blocks of each (effective) colour.

        Args:
            x: (N, d) node features; every block must have d rows.
            blocks: B slices of the input rows (e.g. target block, source block).
            select, mix: effective colours, see :meth:`effective` (default: all C).
            bias_block: add each colour's bias to this block's output (one fused ``addmm``).

        Returns:
            (N, C', B, out) with ``out[n, c, b] = x[n] @ W^c[blocks[b]]`` (+ ``b^c`` for
            ``b == bias_block``), and the (C', out) biases of those colours.
        """
        w, bias = self.effective(select, mix)
        ws = torch.stack([w[:, blk] for blk in blocks], dim=1)  # (C', B, d, out)
        c, b, d, o = ws.shape
        if x.shape[1] != d:
            raise ValueError(f"x has {x.shape[1]} features, blocks have {d} rows")
        flat = ws.permute(2, 0, 1, 3).reshape(d, c * b * o)
        if bias_block is None:
            return (x @ flat).view(x.shape[0], c, b, o), bias
        onehot = torch.zeros(b, dtype=bias.dtype, device=bias.device)
        onehot[bias_block] = 1.0
        full = (bias[:, None, :] * onehot[None, :, None]).reshape(-1)  # (C' B out)
        return torch.addmm(full.to(x.dtype), x, flat.to(x.dtype)).view(x.shape[0], c, b, o), bias

    def grouped(
        self,
        x: Tensor,
        counts: list[int],
        select: Tensor | None = None,
        mix: Tensor | None = None,
        rows: slice | None = None,
        offsets: Tensor | None = None,
        backend: str = "auto",
        bias: bool = True,
        chunk_color: Tensor | None = None,
        add: Tensor | None = None,
    ) -> Tensor:
        """Apply each row group's effective colour to it: ``y = x W^k (+ b^k) (+ add)``.

        Two layouts (see :mod:`ecn.nn.plan`): with `chunk_color`, `x` is ``Q`` equal chunks and
        chunk q uses effective colour ``chunk_color[q]`` — one ``baddbmm`` with the chunks'
        weights gathered; otherwise consecutive groups of ``counts[k]`` rows use colour k.

        Args:
            x: (M, in') rows sorted by effective colour.
            counts: group sizes (python ints).
            select, mix, rows: see :meth:`effective`.
            offsets: (K,) int32 cumulative counts, optional (grouped_mm).
            backend: unchunked layout only, see :func:`grouped_matmul`.
            bias: add the bias (False when it was folded in elsewhere).
            chunk_color: (Q,) effective colour per chunk (chunked layout).
            add: (M, out) a term to add, fused into the matmul where possible.

        Returns:
            (M, out).
        """
        w, b = self.effective(select, mix, rows)
        o = self.out_features
        if chunk_color is not None:
            q = chunk_color.shape[0]
            xq = x.view(q, -1, x.shape[1])
            wq = w.index_select(0, chunk_color)
            base = None if add is None else add.view(q, -1, o)
            if bias:
                bq = b.index_select(0, chunk_color)[:, None, :]
                base = bq if base is None else base + bq
            out = torch.bmm(xq, wq) if base is None else torch.baddbmm(base, xq, wq)
            return out.view(-1, o)
        if len(counts) == 1:
            out = torch.addmm(b[0], x, w[0]) if bias else x @ w[0]
        else:
            out = grouped_matmul(x, w, counts, offsets, backend)
            if bias:
                out = out + torch.repeat_interleave(
                    b, torch.tensor(counts, device=b.device), dim=0, output_size=x.shape[0]
                )
        return out if add is None else out + add

    def naive(self, x: Tensor, coef: Tensor) -> Tensor:
        """One-hot-expanded reference: ``y_m = sum_c coef[m, c] (x_m W^c + b^c)``.

        Args:
            x: (M, in).
            coef: (M, C) one-hot colour rows (or orbit-mixing rows for G_Lambda).

        Returns:
            (M, out). Costs C times a dense layer: for tests and benchmarks only.
        """
        m = x.shape[0]
        expanded = (coef[:, :, None] * x[:, None, :]).reshape(m, -1)
        return expanded @ self.weight.reshape(-1, self.out_features) + coef @ self.bias


class ColoredLinear(_ColoredOps, nn.Module):
    """C independent affine maps ``y = x W^c + b^c`` stored as one ``(C, in, out)`` tensor.

    Each colour is initialised like its own ``nn.Linear(in, out)``.

    Args:
        in_features: input width.
        out_features: output width.
        n_colors: number of colours C.
    """

    def __init__(self, in_features: int, out_features: int, n_colors: int) -> None:
        super().__init__()
        if min(in_features, out_features, n_colors) < 1:
            raise ValueError("in_features, out_features and n_colors must be >= 1")
        self.in_features = in_features
        self.out_features = out_features
        self.n_colors = n_colors
        self.weight = nn.Parameter(torch.empty(n_colors, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(n_colors, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(in), 1/sqrt(in)) for weights and biases, as ``nn.Linear``."""
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, colors={self.n_colors}"


class StackedColoredLinear(_ColoredOps):
    """Several :class:`ColoredLinear` of one shape read as one, their colours concatenated.

    Built per forward pass (a ``torch.cat`` of the weights; gradients flow back to each part),
    so that two sets of colour-specific weights run in ONE pass over a colour plan whose slots
    ``[0, C_1)`` use the first part, ``[C_1, C_1 + C_2)`` the second, and so on: the ECN
    same-atom branch (:mod:`ecn.nn.layers`) rides on the ordinary messages' kernels this way.

    Args:
        parts: ColoredLinear modules with equal ``in_features`` and ``out_features``.
    """

    def __init__(self, parts: list[ColoredLinear]) -> None:
        if not parts or len({(p.in_features, p.out_features) for p in parts}) != 1:
            raise ValueError("StackedColoredLinear needs parts of one (in, out) shape")
        self.in_features, self.out_features = parts[0].in_features, parts[0].out_features
        self.n_colors = sum(p.n_colors for p in parts)
        self.weight = torch.cat([p.weight for p in parts])
        self.bias = torch.cat([p.bias for p in parts])
