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
