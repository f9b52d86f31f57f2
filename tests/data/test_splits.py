"""ecn.data.splits.seeded_split, pinned against the formulas the results were produced with."""

from __future__ import annotations

import numpy as np
import pytest

from ecn.data import mp, perov5
from ecn.data.splits import seeded_split

SIZES = (0, 1, 2, 3, 7, 10, 15, 25, 600, 1001, 28089)
SEEDS = (0, 1, 7, 123)


def _old_sorted(n: int, seed: int) -> dict[str, np.ndarray]:
    """The CIF-folder and Perov-5 sample formula before the refactor (sorted parts)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_tr, n_va = round(0.8 * n), round(0.1 * n)
    return {
        "train": np.sort(perm[:n_tr]),
        "val": np.sort(perm[n_tr : n_tr + n_va]),
        "test": np.sort(perm[n_tr + n_va :]),
    }


def _old_mp_random(ids: list[str], seed: int) -> dict[str, list[str]]:
    """`ecn.data.mp.make_splits(mode="random")` before the refactor (permutation order)."""
    uniq = sorted(set(ids))
    perm = np.random.default_rng(seed).permutation(len(uniq))
    n_train = round(0.8 * len(uniq))
    n_valid = round(0.1 * len(uniq))
    chosen = [uniq[k] for k in perm]
    return {
        "train": chosen[:n_train],
        "valid": chosen[n_train : n_train + n_valid],
        "test": chosen[n_train + n_valid :],
    }


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_equals_old_sorted_formula(n, seed):
    new, old = seeded_split(n, seed=seed), _old_sorted(n, seed)
    assert list(new) == ["train", "val", "test"]
    for k in new:
        np.testing.assert_array_equal(new[k], old[k])
    assert sorted(np.concatenate(list(new.values())).tolist()) == list(range(n))


@pytest.mark.parametrize("seed", SEEDS)
def test_perov5_sample_split_unchanged(seed):
    new, old = perov5.sample_split_indices(600, seed), _old_sorted(600, seed)
    assert [len(new[k]) for k in ("train", "val", "test")] == [480, 60, 60]
    for k in old:
        np.testing.assert_array_equal(new[k], old[k])


@pytest.mark.parametrize("n", (0, 1, 10, 999, 28089))
@pytest.mark.parametrize("seed", SEEDS)
def test_mp_random_split_unchanged(n, seed):
    rng = np.random.default_rng(99)
    ids = [f"mp-{k}" for k in rng.permutation(n)]  # unsorted input: the split sorts first
    new, old = mp.make_splits(ids, "random", seed), _old_mp_random(ids, seed)
    assert new == old  # same ids, same (permutation) order


def test_mp_random_split_sizes_of_the_results():
    parts = seeded_split(28089, seed=0)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [22471, 2809, 2809]


def test_unsorted_keeps_permutation_order():
    perm = np.random.default_rng(3).permutation(50)
    parts = seeded_split(50, seed=3, sort=False)
    np.testing.assert_array_equal(
        np.concatenate([parts[k] for k in ("train", "val", "test")]), perm
    )


@pytest.mark.parametrize("fractions", [(0.8, 0.1), (0.8, 0.3, 0.1), (1.2, -0.1, -0.1)])
def test_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions"):
        seeded_split(10, fractions)


def test_other_fractions():
    parts = seeded_split(100, (0.5, 0.25, 0.25), seed=1)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [50, 25, 25]
