"""Periodic-table facts used by the graph builder and node features.

One place for element data, so the graph builder, the node features and the "unsupported element"
check agree. Covalent radii are Cordero et al., Dalton Trans. 2008 (the table pymatgen's IsayevNN
uses), which the paper's Voronoi+radii graphs are defined by. Group is 1..18 (lanthanides and
actinides are given group 3), period 1..7.
"""

from __future__ import annotations

import numpy as np

# (Z, symbol, group, period, Cordero covalent radius in Å). Generated once from pymatgen's
# `CovalentRadius.radius` and `Element.group/row`; Z = 1..96 is the supported range.
_TABLE: tuple[tuple[int, str, int, int, float], ...] = (
    (1, "H", 1, 1, 0.31),
    (2, "He", 18, 1, 0.28),
    (3, "Li", 1, 2, 1.28),
    (4, "Be", 2, 2, 0.96),
    (5, "B", 13, 2, 0.84),
    (6, "C", 14, 2, 0.73),
    (7, "N", 15, 2, 0.71),
    (8, "O", 16, 2, 0.66),
    (9, "F", 17, 2, 0.57),
    (10, "Ne", 18, 2, 0.58),
    (11, "Na", 1, 3, 1.66),
    (12, "Mg", 2, 3, 1.41),
    (13, "Al", 13, 3, 1.21),
    (14, "Si", 14, 3, 1.11),
    (15, "P", 15, 3, 1.07),
    (16, "S", 16, 3, 1.05),
    (17, "Cl", 17, 3, 1.02),
    (18, "Ar", 18, 3, 1.06),
    (19, "K", 1, 4, 2.03),
    (20, "Ca", 2, 4, 1.76),
    (21, "Sc", 3, 4, 1.7),
    (22, "Ti", 4, 4, 1.6),
    (23, "V", 5, 4, 1.53),
    (24, "Cr", 6, 4, 1.39),
    (25, "Mn", 7, 4, 1.5),
    (26, "Fe", 8, 4, 1.42),
    (27, "Co", 9, 4, 1.38),
    (28, "Ni", 10, 4, 1.24),
    (29, "Cu", 11, 4, 1.32),
    (30, "Zn", 12, 4, 1.22),
    (31, "Ga", 13, 4, 1.22),
    (32, "Ge", 14, 4, 1.2),
    (33, "As", 15, 4, 1.19),
    (34, "Se", 16, 4, 1.2),
    (35, "Br", 17, 4, 1.2),
    (36, "Kr", 18, 4, 1.16),
    (37, "Rb", 1, 5, 2.2),
    (38, "Sr", 2, 5, 1.95),
    (39, "Y", 3, 5, 1.9),
    (40, "Zr", 4, 5, 1.75),
    (41, "Nb", 5, 5, 1.64),
    (42, "Mo", 6, 5, 1.54),
    (43, "Tc", 7, 5, 1.47),
    (44, "Ru", 8, 5, 1.46),
    (45, "Rh", 9, 5, 1.42),
    (46, "Pd", 10, 5, 1.39),
    (47, "Ag", 11, 5, 1.45),
    (48, "Cd", 12, 5, 1.44),
    (49, "In", 13, 5, 1.42),
    (50, "Sn", 14, 5, 1.39),
    (51, "Sb", 15, 5, 1.39),
    (52, "Te", 16, 5, 1.38),
    (53, "I", 17, 5, 1.39),
    (54, "Xe", 18, 5, 1.4),
    (55, "Cs", 1, 6, 2.44),
    (56, "Ba", 2, 6, 2.15),
    (57, "La", 3, 6, 2.07),
    (58, "Ce", 3, 6, 2.04),
    (59, "Pr", 3, 6, 2.03),
    (60, "Nd", 3, 6, 2.01),
    (61, "Pm", 3, 6, 1.99),
    (62, "Sm", 3, 6, 1.98),
    (63, "Eu", 3, 6, 1.98),
    (64, "Gd", 3, 6, 1.96),
    (65, "Tb", 3, 6, 1.94),
    (66, "Dy", 3, 6, 1.92),
    (67, "Ho", 3, 6, 1.92),
    (68, "Er", 3, 6, 1.89),
    (69, "Tm", 3, 6, 1.9),
    (70, "Yb", 3, 6, 1.87),
    (71, "Lu", 3, 6, 1.87),
    (72, "Hf", 4, 6, 1.75),
    (73, "Ta", 5, 6, 1.7),
    (74, "W", 6, 6, 1.62),
    (75, "Re", 7, 6, 1.51),
    (76, "Os", 8, 6, 1.44),
    (77, "Ir", 9, 6, 1.41),
    (78, "Pt", 10, 6, 1.36),
    (79, "Au", 11, 6, 1.36),
    (80, "Hg", 12, 6, 1.32),
    (81, "Tl", 13, 6, 1.45),
    (82, "Pb", 14, 6, 1.46),
    (83, "Bi", 15, 6, 1.48),
    (84, "Po", 16, 6, 1.4),
    (85, "At", 17, 6, 1.5),
    (86, "Rn", 18, 6, 1.5),
    (87, "Fr", 1, 7, 2.6),
    (88, "Ra", 2, 7, 2.21),
    (89, "Ac", 3, 7, 2.15),
    (90, "Th", 3, 7, 2.06),
    (91, "Pa", 3, 7, 2),
    (92, "U", 3, 7, 1.96),
    (93, "Np", 3, 7, 1.9),
    (94, "Pu", 3, 7, 1.87),
    (95, "Am", 3, 7, 1.8),
    (96, "Cm", 3, 7, 1.69),
)

MAX_Z: int = 96
SYMBOLS: dict[int, str] = {z: s for z, s, _, _, _ in _TABLE}
Z_OF: dict[str, int] = {s: z for z, s, _, _, _ in _TABLE}
N_GROUPS: int = 18
N_PERIODS: int = 7

# Arrays indexed by Z (index 0 unused) for vectorised lookups.
COVALENT_RADIUS: np.ndarray = np.zeros(MAX_Z + 1)
GROUP: np.ndarray = np.zeros(MAX_Z + 1, dtype=np.int64)
PERIOD: np.ndarray = np.zeros(MAX_Z + 1, dtype=np.int64)
for _z, _s, _g, _p, _r in _TABLE:
    COVALENT_RADIUS[_z], GROUP[_z], PERIOD[_z] = _r, _g, _p

# Transition metals that Materials Project treats with GGA+U in oxides and fluorides
# (MPRelaxSet convention).
HUBBARD_U_ELEMENTS: frozenset[str] = frozenset({"Co", "Cr", "Fe", "Mn", "Mo", "Ni", "V", "W"})
HUBBARD_U_ANIONS: frozenset[str] = frozenset({"O", "F"})


def is_supported(z: int) -> bool:
    """True when element data (radius, group, period) exist for atomic number `z`."""
    return 1 <= int(z) <= MAX_Z


def hubbard_u_flag(symbols: set[str] | list[str]) -> bool:
    """Whether a composition is computed with +U in MP's convention.

    Rule: the structure contains O or F and at least one of Co, Cr, Fe, Mn, Mo, Ni, V, W.
    """
    s = set(symbols)
    return bool(s & HUBBARD_U_ANIONS) and bool(s & HUBBARD_U_ELEMENTS)
