"""ecn: equivariant crystal networks (Kaba & Ravanbakhsh, NeurIPS 2022).

Import is cheap on purpose: torch, pymatgen and the models load on first use of `load_model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecn._version import __version__

if TYPE_CHECKING:
    from ecn.inference import Predictor

__all__ = ["__version__", "load_model"]


def load_model(path: str, device: str = "cpu") -> Predictor:
    """Load a trained model (run directory, ``model.pt`` or checkpoint) for ``predict(structures)``.

    Uses ``ecn.inference`` only: neither Lightning nor the training loop is imported.
    """
    from ecn.inference import load_model as _load  # lazy: keeps `import ecn` light

    return _load(path, device)
