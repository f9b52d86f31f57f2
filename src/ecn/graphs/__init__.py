"""ecn.graphs: crystal -> graph (neighbour search, periodic cover, features, batching, cache)."""

from ecn.graphs.build import build_graph, build_graphs, build_units, cover_edges, unit_graph
from ecn.graphs.cache import load_or_build
from ecn.graphs.cover import expand
from ecn.graphs.features import gaussian_features, node_features
from ecn.graphs.graph import CrystalGraph, collate
from ecn.graphs.neighbors import UnitEdges, neighbor_list
from ecn.graphs.record import UnitGraph
from ecn.graphs.restrict import restrict_neighbors
from ecn.graphs.settings import GraphSettings
from ecn.graphs.store import GraphStore

__all__ = [
    "CrystalGraph",
    "GraphSettings",
    "GraphStore",
    "UnitGraph",
    "UnitEdges",
    "build_graph",
    "build_graphs",
    "build_units",
    "collate",
    "cover_edges",
    "expand",
    "gaussian_features",
    "load_or_build",
    "neighbor_list",
    "node_features",
    "restrict_neighbors",
    "unit_graph",
]
