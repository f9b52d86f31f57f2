"""The stored record of one crystal: its unit-cell graph (`UnitGraph`).

What is stored per crystal is only its unit-cell graph: atomic numbers, fractional
coordinates, the unit edges (source, target, small-int image offset, float32 distance), the
lattice, the targets and the +U flag - about 0.5-5 KB, where the expanded graph (8-fold cover,
one-hot nodes, Gaussian edges) is 10-100x that. The expansion is :mod:`ecn.graphs.cover`, the
column store of many records :mod:`ecn.graphs.store`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ecn.elements import MAX_Z

__all__ = ["UnitGraph"]


@dataclass(frozen=True)
class UnitGraph:
    """The stored record of one crystal: its unit-cell graph (canonical description).

    Attributes:
        id: material id.
        z: (n,) uint8 atomic numbers.
        frac: (n, 3) float32 fractional coordinates.
        src, dst: (E,) int32 unit-cell atom indices; messages flow src -> dst.
        offset: (E, 3) int8 image offset of the source (unit-cell lattice basis).
        dist: (E,) float32 edge lengths in Å.
        lattice: (3, 3) float32, rows are lattice vectors (Å).
        y: (T,) float32 targets (NaN where unknown).
        hubbard: the structure-level +U flag (paper §8).
        orbit_map: (8,) G_Lambda orbit of each P-1 cell colour, or None (``glambda`` only).
        face: (E,) float32 Voronoi face area of each edge in Å^2, NaN where an edge crosses no
            face (``ecn.graphs.neighbors.UnitEdges.face``); None: not recorded (all NaN).
    """

    id: str
    z: np.ndarray
    frac: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    offset: np.ndarray
    dist: np.ndarray
    lattice: np.ndarray
    y: np.ndarray
    hubbard: bool = False
    orbit_map: np.ndarray | None = None
    face: np.ndarray | None = None

    def face_areas(self) -> np.ndarray:
        """(E,) float32 face areas, NaN where there is none (or none was recorded)."""
        if self.face is None:
            return np.full(self.num_edges, np.nan, dtype=np.float32)
        return np.asarray(self.face, dtype=np.float32).reshape(-1)

    @property
    def n_atoms(self) -> int:
        return int(self.z.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.src.shape[0])

    @staticmethod
    def make(
        id: str,
        z: Any,
        frac: Any,
        src: Any,
        dst: Any,
        offset: Any,
        dist: Any,
        lattice: Any,
        y: Any = None,
        hubbard: bool = False,
        face: Any = None,
    ) -> UnitGraph:
        """Cast to the stored dtypes (ValueError if an offset or Z does not fit)."""
        off = np.asarray(offset).reshape(-1, 3)
        if off.size and np.abs(off).max() > 127:
            raise ValueError(f"image offset {int(np.abs(off).max())} does not fit the store")
        zz = np.asarray(z).reshape(-1)
        if zz.size and (zz.min() < 1 or zz.max() > MAX_Z):
            raise ValueError(f"atomic numbers must be 1..{MAX_Z}")
        return UnitGraph(
            id=str(id),
            z=zz.astype(np.uint8),
            frac=np.asarray(frac, dtype=np.float32).reshape(-1, 3),
            src=np.asarray(src).astype(np.int32).reshape(-1),
            dst=np.asarray(dst).astype(np.int32).reshape(-1),
            offset=off.astype(np.int8),
            dist=np.asarray(dist, dtype=np.float32).reshape(-1),
            lattice=np.asarray(lattice, dtype=np.float32).reshape(3, 3),
            y=np.zeros(0, np.float32) if y is None else np.asarray(y, np.float32).reshape(-1),
            hubbard=bool(hubbard),
            face=None if face is None else np.asarray(face, dtype=np.float32).reshape(-1),
        )
