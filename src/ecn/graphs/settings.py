"""Graph-construction settings: one frozen value object, hashed into cache keys."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from ecn.elements import CGCNN_DIM, MAX_Z, N_GROUPS, N_PERIODS

STRATEGIES = ("voronoi_radii", "cutoff", "min_distance")
#: Named graphs (``GraphSettings`` overrides) that the ablation ladder and the benchmarks share.
#: ``voronoi``: Voronoi + Cordero radii + 0.5 Å (the paper's MP graph); ``r5``: every neighbour
#: within 5 Å (the authors' Perov-5 graph); ``r8n12``: CGCNN's 8 Å with about 12 nearest
#: neighbours (ties at the 12th kept), Gaussians out to 8 Å.
NAMED_GRAPHS: dict[str, dict[str, object]] = {
    "voronoi": {"strategy": "voronoi_radii"},
    "r5": {"strategy": "cutoff", "cutoff": 5.0},
    "r8n12": {"strategy": "cutoff", "cutoff": 8.0, "max_neighbors": 12, "gaussian_max": 8.0},
}
CANONICAL = ("unique", "primitive", "off")
#: Fields that decide the stored unit-cell record (canonical step + neighbour search); the rest
#: (cover, node features, Gaussians, +U column) only shape the per-batch expansion.
RECORD_FIELDS = (
    "strategy",
    "cutoff",
    "voronoi_candidates",
    "tol",
    "self_loops",
    "canonical",
    "symprec",
    "max_neighbors",
    "neighbor_margin",
)
#: Fields added after graphs were first cached, with their unset value: left out of the keys
#: while unset, so the caches and model files written before them keep their keys.
_OPTIONAL_FIELDS: dict[str, object] = {"max_neighbors": None, "neighbor_margin": 0.0}
NODE_FEATURES = ("onehot_z", "group_period", "cgcnn92")


@dataclass(frozen=True)
class GraphSettings:
    """How a crystal becomes a graph (paper §5, DESIGN.md "Graph construction").

    Attributes:
        strategy: ``voronoi_radii`` (shared Voronoi face and d <= r_cov(i) + r_cov(j) + tol, the
            paper's IsayevNN graph), ``cutoff`` (every atom with d <= cutoff) or ``min_distance``
            (pymatgen ``MinimumDistanceNN(cutoff=cutoff, get_all_sites=True)``: d <= cutoff + 1e-8).
        cutoff: radius in Å for the radius strategies.
        voronoi_candidates: radius in Å of the candidate set of the Voronoi tessellation (IsayevNN
            ``cutoff``).
        tol: Å added to the sum of covalent radii (IsayevNN ``tol``).
        self_loops: add the edge i <- i with offset 0.
        supercell: build the 8-fold periodic cover (2x2x2 supercell) instead of the unit cell.
        n_gaussians, gaussian_max, gaussian_width: Gaussian edge features
            exp(-(d - mu_k)^2 / w^2), centres evenly spaced on [0, gaussian_max].
        node_features: ``onehot_z`` (MAX_Z wide), ``group_period`` (18 + 7 wide) or
            ``cgcnn92`` (CGCNN's 92-number atom encoding, ``ecn.elements.cgcnn_feature_table``).
        hubbard_u: append the structure-level Hubbard-U flag as one column.
        cell_onehot: append the one-hot of the cell index a (8 columns; explicit symmetry
            breaking, paper §5). All zeros-but-a=0 for unit-cell graphs.
        canonical: the canonical crystal step before the neighbour search
            (``ecn.graphs.canonical``): ``unique`` (default: ``primitive``, then one basis
            among the lattice point-group images and the origin on one atom of the rarest
            species, by a lexicographic rule that does not depend on the input description),
            ``primitive`` (spglib's standardised primitive cell: primitive, standard basis and
            origin, tolerant wrap of fractional coordinates) or ``off`` (the structure exactly
            as given: the paper's behaviour, for ablations; YAML ``off``/``false`` read as
            ``off``).
        symprec: spglib distance tolerance in Å of the canonical step, also the distance
            within which an atom below a cell face is wrapped to the opposite face (1e-3 Å:
            CIFs written with 4-5 decimals still find their symmetry).
        max_neighbors: keep only about the k nearest neighbours of each atom in the stored
            graph (every edge within :data:`~ecn.graphs.neighbors.CAP_SLACK` of the k-th
            distance), None: all. A superset of what a capped model keeps itself (CGCNN's 12,
            ties kept): it only saves storage and loading; the model's own rule still decides.
        neighbor_margin: with `max_neighbors` k, keep every edge up to this many Å beyond each
            atom's k-th distance (0: only the ties). Why: the k-th distance is continuous in the
            positions, so an edge that leaves at ``d_k + margin`` (``graph.edge_cutoff``) can
            fade out under an envelope: the continuous form of a nearest-k graph (issue 27,
            CGCNN's 8 Å / 12-NN graph for ECN). ECN reads every stored edge.
    """

    strategy: str = "voronoi_radii"
    cutoff: float = 5.0
    voronoi_candidates: float = 6.0
    tol: float = 0.5
    self_loops: bool = True
    supercell: bool = True
    n_gaussians: int = 20
    gaussian_max: float = 6.0
    gaussian_width: float = 0.6
    node_features: str = "onehot_z"
    hubbard_u: bool = False
    cell_onehot: bool = True
    canonical: str = "unique"
    symprec: float = 1e-3
    max_neighbors: int | None = None
    neighbor_margin: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.canonical, bool):  # YAML 1.1 reads a bare off/on as a boolean
            object.__setattr__(self, "canonical", "unique" if self.canonical else "off")
        if self.canonical not in CANONICAL:
            raise ValueError(f"canonical must be one of {CANONICAL}, got {self.canonical!r}")
        if not 0 < float(self.symprec) <= 0.5:
            raise ValueError(f"symprec must be in (0, 0.5] Å, got {self.symprec!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.node_features not in NODE_FEATURES:
            raise ValueError(
                f"node_features must be one of {NODE_FEATURES}, got {self.node_features!r}"
            )
        if self.cutoff <= 0 or self.voronoi_candidates <= 0:
            raise ValueError("cutoff and voronoi_candidates must be positive")
        if self.n_gaussians < 1 or self.gaussian_width <= 0:
            raise ValueError("n_gaussians must be >= 1 and gaussian_width > 0")
        if self.max_neighbors is not None and int(self.max_neighbors) < 1:
            raise ValueError(f"max_neighbors must be >= 1 or None, got {self.max_neighbors!r}")
        if not float(self.neighbor_margin) >= 0:
            raise ValueError(f"neighbor_margin must be >= 0 Å, got {self.neighbor_margin!r}")
        if float(self.neighbor_margin) > 0 and self.max_neighbors is None:
            raise ValueError("neighbor_margin needs max_neighbors (the k it is a margin beyond)")

    def _payload(self, names: tuple[str, ...] | None = None) -> str:
        d = asdict(self) if names is None else {k: getattr(self, k) for k in names}
        for k, unset in _OPTIONAL_FIELDS.items():
            if k in d and d[k] == unset:
                del d[k]
        return json.dumps(d, sort_keys=True)

    def key(self) -> str:
        """Stable hash of every field; independent of Python's hash seed."""
        return hashlib.sha256(self._payload().encode()).hexdigest()[:16]

    def record_key(self) -> str:
        """Stable hash of the fields that shape the stored unit-cell record (:data:`RECORD_FIELDS`).

        The graph cache is keyed by this: the cover, node features and Gaussians are built per
        batch (``ecn.graphs.cover.expand``), so e.g. ECN's cover and its unit-cell quotient,
        or two feature encodings, share one cache entry.
        """
        return hashlib.sha256(self._payload(RECORD_FIELDS).encode()).hexdigest()[:16]

    @property
    def node_feature_dim(self) -> int:
        """Width F of the node feature matrix x."""
        dim = {"onehot_z": MAX_Z, "group_period": N_GROUPS + N_PERIODS, "cgcnn92": CGCNN_DIM}[
            self.node_features
        ]
        return dim + int(self.hubbard_u) + (8 if self.cell_onehot else 0)


def unit_cell_radius_graph(cutoff: float, node_features: str) -> dict[str, Any]:
    """GraphSettings fields of a plain radius graph on the unit cell (no supercell, no
    self-loops, no cell one-hot), the graph the baselines' original papers used."""
    return {
        "strategy": "cutoff",
        "cutoff": cutoff,
        "supercell": False,
        "node_features": node_features,
        "self_loops": False,
        "cell_onehot": False,
    }
