"""Fixtures for training tests: a tiny REAL Perov-5 subset written as an "official" folder.

Why a copied subset instead of ``limit=``: the Perov-5 loader assembles its training split from
the castelli export (seconds of matching per process); a folder with train/val/test.csv is read
in milliseconds, which keeps the suite (including the 2-process DDP test) well under 3 minutes.
Rows are real Perov-5 structures: train = 24 rows of the official val.csv (rows 100..123),
val = its first 7 rows (odd on purpose: 2 DDP ranks cannot split it evenly), test = the first 8
rows of the official test.csv.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import N_TEST, N_TRAIN, N_VAL


@pytest.fixture(scope="session")
def tiny_perov5(perov5_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import pandas as pd

    out = tmp_path_factory.mktemp("perov5_tiny")
    val = pd.read_csv(perov5_dir / "val.csv", nrows=200)
    test = pd.read_csv(perov5_dir / "test.csv", nrows=N_TEST)
    val.iloc[100 : 100 + N_TRAIN].to_csv(out / "train.csv", index=False)
    val.iloc[:N_VAL].to_csv(out / "val.csv", index=False)
    test.to_csv(out / "test.csv", index=False)
    return out
