"""pymatgen reference neighbour lists, for tests and the benchmark (slow on purpose: the oracle)."""

from __future__ import annotations

import warnings

from pymatgen.core import Structure

EdgeSet = set[tuple[int, int, tuple[int, int, int]]]


def _edge_set(all_nn: list[list[dict]]) -> EdgeSet:
    return {
        (i, int(nn["site_index"]), tuple(round(float(x)) for x in nn["image"]))
        for i, lst in enumerate(all_nn)
        for nn in lst
    }


def isayev_edge_set(
    structure: Structure, cutoff: float = 6.0, tol: float = 0.5, self_loops: bool = False
) -> EdgeSet:
    """{(i, j, image)} from ``IsayevNN(cutoff, tol).get_all_nn_info`` (a fresh instance each call,
    because pymatgen grows ``cutoff`` in place when it retries).

    Raises:
        RuntimeError/ValueError: what pymatgen raises ("pathological" unbounded cells).
    """
    from pymatgen.analysis.local_env import IsayevNN

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        edges = _edge_set(IsayevNN(cutoff=cutoff, tol=tol).get_all_nn_info(structure))
    if self_loops:
        edges |= {(i, i, (0, 0, 0)) for i in range(len(structure))}
    return edges


def min_distance_edge_set(structure: Structure, cutoff: float) -> EdgeSet:
    """{(i, j, image)} from ``MinimumDistanceNN(cutoff=cutoff, get_all_sites=True)``."""
    from pymatgen.analysis.local_env import MinimumDistanceNN

    nn = MinimumDistanceNN(cutoff=cutoff, get_all_sites=True)
    return _edge_set([nn.get_nn_info(structure, i) for i in range(len(structure))])


def isayev_supercell(structure: Structure, cutoff: float = 6.0, tol: float = 0.5) -> EdgeSet:
    """IsayevNN on ``structure * (2, 2, 2)`` (the path the paper's code took for supercells)."""
    return isayev_edge_set(structure * (2, 2, 2), cutoff, tol)
