"""Metric formulas on hand-checked examples."""

from __future__ import annotations

import numpy as np
import pytest

from ecn.train.metrics import classification_metrics, regression_metrics, roc_auc


def test_regression_metrics() -> None:
    m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert m["r2"] == pytest.approx(1 - 4 / 2)


def test_roc_auc_with_ties() -> None:
    # pairs (pos, neg): (0.8,0.1) win, (0.8,0.4) win, (0.4,0.1) win, (0.4,0.4) tie -> 3.5/4
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.8, 0.4, 0.1, 0.4])) == pytest.approx(0.875)


def test_classification_metrics_both_classes() -> None:
    y = np.array([1, 1, 1, 0, 0])
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.1])  # predicted 1,1,0,1,0
    m = classification_metrics(y, p)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision_1"] == pytest.approx(2 / 3) and m["recall_1"] == pytest.approx(2 / 3)
    assert m["precision_0"] == pytest.approx(1 / 2) and m["recall_0"] == pytest.approx(1 / 2)
    assert m["f1_0"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        classification_metrics(np.array([2]), np.array([0.5]))


def test_papers_metal_precision_is_our_metal_recall() -> None:
    """The paper's Table 1 "metal / nonmetal precision" as its code computes it
    (learn_materials/training.py: confusion[t, p] with t = band gap > 1e-5 (non-metal = 1),
    "Metal accuracy" = confusion[0, 0] / row 0) is our recall of class 1 (metal = gap 0) and of
    class 0, which is what Table 1 puts beside it (ecn.experiments.tables
    .PAPER_PRECISION_IS_RECALL). Negative control: our precision differs on the same data."""
    rng = np.random.default_rng(0)
    gap = np.where(rng.random(400) < 0.45, 0.0, rng.uniform(0.1, 6.0, 400))
    logit_nonmetal = 2.0 * (gap > 0) - 1.0 + rng.normal(0.0, 1.3, 400)  # the authors' output
    confusion = np.zeros((2, 2))
    for t, p in zip(gap > 1e-5, np.round(1 / (1 + np.exp(-logit_nonmetal))), strict=True):
        confusion[int(t), int(p)] += 1
    metal_acc = confusion[0, 0] / (confusion[0, 0] + confusion[0, 1])
    nonmetal_acc = confusion[1, 1] / (confusion[1, 0] + confusion[1, 1])
    m = classification_metrics((gap == 0).astype(int), 1 / (1 + np.exp(logit_nonmetal)))
    assert m["recall_1"] == pytest.approx(metal_acc) and m["recall_0"] == pytest.approx(
        nonmetal_acc
    )
    assert abs(m["precision_1"] - metal_acc) > 0.01 and abs(m["precision_0"] - nonmetal_acc) > 0.01
