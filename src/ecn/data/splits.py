"""The one seeded train/val/test split used by every dataset that has no published split.

Used by the CIF-folder split (`ecn.data.cif_folder`), the Materials Project random split
(`ecn.data.mp.make_splits`) and the Perov-5 embedded-sample re-split
(`ecn.data.perov5.sample_split_indices`). Changing the arithmetic here changes which rows are in
each part, and so every number in the results files: the test pins it against the formula the
results were produced with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

PARTS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def seeded_split(
    n: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    *,
    sort: bool = True,
) -> dict[str, np.ndarray]:
    """Indices of a seeded random train/val/test partition of `range(n)`.

    A `numpy.random.default_rng(seed)` permutation of the n indices is cut into
    `round(fractions[0] * n)` train, `round(fractions[1] * n)` val and the rest test.

    Args:
        n: number of rows.
        fractions: (train, val, test) fractions, summing to 1; test gets whatever is left.
        seed: random seed.
        sort: sort each part (keeps the source order). False keeps permutation order (the
            Materials Project random split orders its records that way).

    Returns:
        {"train", "val", "test"} -> int64 index arrays, disjoint, together `range(n)`.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1: {fractions}")
    perm = np.random.default_rng(seed).permutation(n)
    n_train, n_val = round(fractions[0] * n), round(fractions[1] * n)
    parts = (perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :])
    return {
        k: (np.sort(p) if sort else p).astype(np.int64) for k, p in zip(PARTS, parts, strict=True)
    }
