"""ecn.data: dataset registry, readers (Perov-5, castelli export, CIF folder), validation.

Uniform API::

    from ecn.data import load_split, DATASETS
    split = load_split("perov5", "test", limit=300)
    for rec in split.records:            # Record(id, structure, targets)
        ...
    split.rejected                       # [Rejection(id, reason)]
    split.checksum, split.source_note    # cache key part; provenance for results files

Nothing is read at import time.
"""

from ecn.data.checksums import ChecksumError
from ecn.data.registry import (
    DATASETS,
    DatasetSpec,
    available_splits,
    get_spec,
    load_split,
)
from ecn.data.types import LoadedSplit, Record, Rejection, Target
from ecn.data.validate import BadInput

__all__ = [
    "DATASETS",
    "BadInput",
    "ChecksumError",
    "DatasetSpec",
    "LoadedSplit",
    "Record",
    "Rejection",
    "Target",
    "available_splits",
    "get_spec",
    "load_split",
]
