"""spglib calls without spglib's deprecation chatter, in one place for every layer.

Why: spglib 2.5+ emits a ``DeprecationWarning`` about its legacy error handling on every call;
ecn calls it per structure (canonical step, lattice point groups, curation facts, description
sets), so the warning would flood logs and cost time.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["spglib_call"]


def spglib_call(fn: str, *args: Any, **kwargs: Any) -> Any:
    """``spglib.<fn>(*args, **kwargs)`` with spglib's ``DeprecationWarning`` silenced."""
    import spglib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(spglib, fn)(*args, **kwargs)
