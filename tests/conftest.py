"""Shared fixtures: the shared Perov-5 folder (skipped when absent) and small real crystals
built in code (never downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from train_helpers import N_TEST, N_TRAIN, N_VAL

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory):
    """Keep test caches out of the user's cache dir (one dir per test session)."""
    old = os.environ.get("ECN_CACHE_DIR")
    os.environ["ECN_CACHE_DIR"] = str(tmp_path_factory.mktemp("ecn-cache"))
    yield
    if old is None:
        os.environ.pop("ECN_CACHE_DIR", None)
    else:
        os.environ["ECN_CACHE_DIR"] = old


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One torch thread for the whole suite: test graphs are tiny, and on a shared 2-core machine
    two threads per process thrash (10-50x slower)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """../shared/data (or ECN_DATA_DIR); skips when the full data are not on this machine."""
    env = os.environ.get("ECN_DATA_DIR")
    d = Path(env) if env else SHARED_DATA
    if not (d / "perov_5" / "val.csv").is_file():
        pytest.skip(
            f"full data not found ({d}/perov_5/val.csv absent): set ECN_DATA_DIR or "
            "place ../shared/data beside the repository"
        )
    return d


@pytest.fixture(scope="session")
def perov5_dir(shared_data_dir: Path) -> Path:
    """Folder with the official Perov-5 val.csv/test.csv; skips when absent."""
    return shared_data_dir / "perov_5"


# Sites are written out instead of using Structure.from_spacegroup: pymatgen expands the 192
# operations of Fm-3m/Fd-3m in several seconds, which every test would pay again.
FCC = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]


@pytest.fixture
def BaTiO3():
    """Cubic perovskite (Pm-3m), a = 4.00 Å, 5 atoms: Ba at the corner, Ti body centre, 3 O."""
    from pymatgen.core import Lattice, Structure

    return Structure(
        Lattice.cubic(4.00),
        ["Ba", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


@pytest.fixture
def NaCl():
    """Rock salt (Fm-3m) conventional cell, a = 5.64 Å, 8 atoms."""
    from pymatgen.core import Lattice, Structure

    cl = [[(x + 0.5) % 1, y, z] for x, y, z in FCC]
    return Structure(Lattice.cubic(5.64), ["Na"] * 4 + ["Cl"] * 4, FCC + cl)


@pytest.fixture
def Si():
    """Diamond silicon (Fd-3m) conventional cell, a = 5.431 Å, 8 atoms."""
    from pymatgen.core import Lattice, Structure

    shifted = [[x + 0.25, y + 0.25, z + 0.25] for x, y, z in FCC]
    return Structure(Lattice.cubic(5.431), ["Si"] * 8, FCC + shifted)


# A tiny REAL Perov-5 subset written as an "official" folder (training and experiment tests).
# Why a copied subset instead of ``limit=``: the Perov-5 loader assembles its training split from
# the castelli export (seconds of matching per process); a folder with train/val/test.csv is read
# in milliseconds, which keeps the suite (including the 2-process DDP test) fast. Rows are real
# Perov-5 structures: train = 24 rows of the official val.csv (rows 100..123), val = its first 7
# rows (odd on purpose: 2 DDP ranks cannot split it evenly), test = the first 8 rows of test.csv.
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
