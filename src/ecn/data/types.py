"""Value types shared by every reader: a dataset's targets, one record per usable structure, one
rejection per row that could not be used, and the loaded split that carries both plus its
provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:  # pymatgen is heavy; importing ecn.data must stay cheap
    from pymatgen.core import Structure

Task = Literal["regression", "classification"]


@dataclass(frozen=True)
class Target:
    """One prediction target of a dataset.

    Attributes:
        name: target column name (keys of `Record.targets`).
        unit: physical unit ("" for classification or unknown).
        task: "regression" or "classification".
        description: one line.
        source: the raw source column it is derived from, when it differs from `name` or is
            transformed (e.g. MP's `is_metal` from `band_gap`); None = the column itself.
    """

    name: str
    unit: str
    task: Task = "regression"
    description: str = ""
    source: str | None = None

    def __post_init__(self) -> None:
        if self.task not in get_args(Task):
            raise ValueError(f"target {self.name!r}: task must be one of {get_args(Task)}")


@dataclass(frozen=True)
class Record:
    """One usable crystal: its id, the parsed structure and its targets (NaN = unknown)."""

    id: str
    structure: Structure
    targets: dict[str, float]


@dataclass(frozen=True)
class Rejection:
    """A source row that was skipped, with a human-readable reason (goes to rejected.csv)."""

    id: str
    reason: str


@dataclass
class LoadedSplit:
    """Records of one split of one dataset, with everything needed to cite and cache them.

    Attributes:
        name: dataset name (registry key).
        split: split name.
        records: usable structures, in source order.
        rejected: rows that could not be used, with reasons.
        checksum: sha256 identifying exactly this list of records (source file hashes, split,
            limit, reader version); use it as the data part of cache keys.
        source_note: provenance and any deviation from the published dataset; goes into every
            results file.
        source_files: the files the records were read from.
        target_names: target columns, in the dataset's order.
        info: extra facts (e.g. the Perov-5 training-set assembly report).
    """

    name: str
    split: str
    records: list[Record]
    rejected: list[Rejection]
    checksum: str
    source_note: str
    source_files: list[str] = field(default_factory=list)
    target_names: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]
