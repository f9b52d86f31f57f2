"""ecn.graphs: crystal -> graph (neighbour search, periodic cover, features, batching, cache)."""

from ecn.graphs.build import (
    build_graph,
    build_graphs,
    cover_edges,
    gaussian_features,
    node_features,
)
from ecn.graphs.cache import load_or_build
from ecn.graphs.graph import CrystalGraph, collate
from ecn.graphs.neighbors import UnitEdges, neighbor_list
from ecn.graphs.settings import GraphSettings

__all__ = [
    "CrystalGraph",
    "GraphSettings",
    "UnitEdges",
    "build_graph",
    "build_graphs",
    "collate",
    "cover_edges",
    "gaussian_features",
    "load_or_build",
    "neighbor_list",
    "node_features",
]
