"""Periodic-table facts used by the graph builder and node features.

One place for element data, so the graph builder, the node features and the "unsupported element"
check agree. Covalent radii are Cordero et al., Dalton Trans. 2008 (the table pymatgen's IsayevNN
uses), which the paper's Voronoi+radii graphs are defined by. Group is 1..18 (lanthanides and
actinides are given group 3), period 1..7. `cgcnn_feature_table` / `cgcnn_features` give CGCNN's
92-number one-hot atom features, rebuilt from element data.
"""

from __future__ import annotations

import functools
import math

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


# --- CGCNN's 92-number atom features (Xie & Grossman, PRL 120, 145301, 2018) -----------------

# (Z, Pauling electronegativity, Pyykko single-bond covalent radius in pm, valence electrons,
#  first ionisation energy in eV, electron affinity in eV, atomic volume in cm^3/mol); None where
# the source has no value. Generated once from the elements database of mendeleev 0.4.1 (MIT;
# columns en_pauling, covalent_radius_pyykko, electron_affinity, atomic_volume and the degree-1
# ionisation energy), the 2018-era data whose bins reproduce CGCNN's atom_init.json for every
# element; today's pymatgen values differ (newer electron affinities, solid-state molar
# volumes, other Pauling values) and would move 16-34 of the 96 bins of those blocks, and
# Cordero radii (`COVALENT_RADIUS`) instead of Pyykko's over half the radius bins. Valence
# electrons follow the rule in `cgcnn_feature_table` applied to mendeleev's ground-state
# configurations; a test checks the rule against pymatgen's configurations.
_CGCNN_RAW: tuple[tuple[int, float | None, int, int, float, float | None, float | None], ...] = (
    (1, 2.2, 32, 1, 13.598434, 0.754195, 14.1),
    (2, None, 46, 2, 24.587388, -19.7, 31.8),
    (3, 0.98, 133, 1, 5.391715, 0.618049, 13.1),
    (4, 1.57, 102, 2, 9.322699, -2.4, 5.0),
    (5, 2.04, 85, 3, 8.298019, 0.279723, 4.6),
    (6, 2.55, 75, 4, 11.260296, 1.262119, 5.3),
    (7, 3.04, 71, 5, 14.53413, -1.4, 17.3),
    (8, 3.44, 63, 6, 13.618054, 1.461113, 14.0),
    (9, 3.98, 64, 7, 17.42282, 3.40119, 17.1),
    (10, None, 67, 8, 21.56454, None, 16.8),
    (11, 0.93, 155, 1, 5.139077, 0.547926, 23.7),
    (12, 1.31, 139, 2, 7.646235, None, 14.0),
    (13, 1.61, 126, 3, 5.985768, 0.43283, 10.0),
    (14, 1.9, 116, 4, 8.151683, 1.389521, 12.1),
    (15, 2.19, 111, 5, 10.486686, 0.746607, 17.0),
    (16, 2.58, 103, 6, 10.36001, 2.077104, 15.5),
    (17, 3.16, 99, 7, 12.96763, 3.612725, 18.7),
    (18, None, 96, 8, 15.759611, -11.5, 24.2),
    (19, 0.82, 196, 1, 4.340664, 0.50147, 45.3),
    (20, 1.0, 171, 2, 6.113155, 0.02455, 29.9),
    (21, 1.36, 148, 3, 6.56149, 0.188, 15.0),
    (22, 1.54, 136, 4, 6.82812, 0.079, 10.6),
    (23, 1.63, 134, 5, 6.746187, 0.525, 8.35),
    (24, 1.66, 122, 6, 6.76651, 0.666, 7.23),
    (25, 1.55, 119, 7, 7.434018, None, 7.39),
    (26, 1.83, 116, 8, 7.902468, 0.151, 7.1),
    (27, 1.88, 111, 9, 7.88101, 0.662256, 6.7),
    (28, 1.91, 110, 10, 7.639877, 1.156, 6.6),
    (29, 1.9, 112, 11, 7.72638, 1.235, 7.1),
    (30, 1.65, 118, 12, 9.394199, None, 9.2),
    (31, 1.81, 124, 3, 5.999302, 0.43, 11.8),
    (32, 2.01, 121, 4, 7.899435, 1.232712, 13.6),
    (33, 2.18, 121, 5, 9.789, 0.804, 13.1),
    (34, 2.55, 116, 6, 9.752392, 2.02067, 16.5),
    (35, 2.96, 114, 7, 11.81381, 3.363588, 23.5),
    (36, None, 117, 8, 13.999605, None, 32.2),
    (37, 0.82, 210, 1, 4.177128, 0.48592, 55.9),
    (38, 0.95, 185, 2, 5.694867, 0.048, 33.7),
    (39, 1.22, 163, 3, 6.21726, 0.307, 19.8),
    (40, 1.33, 154, 4, 6.6339, 0.426, 14.1),
    (41, 1.6, 147, 5, 6.75885, 0.917406, 10.8),
    (42, 2.16, 138, 6, 7.09243, 0.748, 9.4),
    (43, 2.1, 128, 7, 7.119381, 0.55, 8.5),
    (44, 2.2, 125, 8, 7.3605, 1.05, 8.3),
    (45, 2.28, 125, 9, 7.4589, 1.137, 8.3),
    (46, 2.2, 120, 12, 8.33686, 0.562, 8.9),
    (47, 1.93, 128, 11, 7.576234, 1.302, 10.3),
    (48, 1.69, 136, 12, 8.993822, None, 13.1),
    (49, 1.78, 142, 3, 5.786355, 0.3, 15.7),
    (50, 1.96, 140, 4, 7.343917, 1.112067, 16.3),
    (51, 2.05, 140, 5, 8.608389, 1.046, 18.4),
    (52, 2.1, 136, 6, 9.00966, 1.970876, 20.5),
    (53, 2.66, 133, 7, 10.45126, 3.059037, 25.7),
    (54, 2.6, 131, 8, 12.129843, -0.056, 42.9),
    (55, 0.79, 232, 1, 3.893906, 0.471626, 70.0),
    (56, 0.89, 196, 2, 5.211664, 0.14462, 39.0),
    (57, 1.1, 180, 2, 5.5769, 0.47, 22.5),
    (58, 1.12, 163, 2, 5.5386, 0.65, 21.0),
    (59, 1.13, 176, 2, 5.473, 0.962, 20.8),
    (60, 1.14, 174, 2, 5.525, 1.916, 20.6),
    (61, None, 173, 2, 5.582, None, None),
    (62, 1.17, 172, 2, 5.64371, None, 19.9),
    (63, None, 168, 2, 5.670385, 0.864, 28.9),
    (64, 1.2, 169, 2, 6.149796, None, 19.9),
    (65, None, 168, 2, 5.8638, 1.165, 19.2),
    (66, 1.22, 167, 2, 5.93905, 0.352, 19.0),
    (67, 1.23, 166, 2, 6.0215, None, 18.7),
    (68, 1.24, 165, 2, 6.1077, None, 18.4),
    (69, 1.25, 164, 2, 6.18431, 1.029, 18.1),
    (70, None, 170, 2, 6.25416, -0.02, 24.8),
    (71, 1.0, 162, 3, 5.425871, 0.34, 17.8),
    (72, 1.3, 152, 4, 6.82507, 0.014, 13.6),
    (73, 1.5, 146, 5, 7.54957, 0.322, 10.9),
    (74, 1.7, 137, 6, 7.86403, 0.81626, 9.53),
    (75, 1.9, 131, 7, 7.83352, 0.15, 8.85),
    (76, 2.2, 129, 8, 8.43823, 1.1, 8.43),
    (77, 2.2, 122, 9, 8.96702, 1.5638, 8.54),
    (78, 2.2, 123, 10, 8.95883, 2.128, 9.1),
    (79, 2.4, 124, 11, 9.225553, 2.30863, 10.2),
    (80, 1.9, 133, 12, 10.437504, None, 14.8),
    (81, 1.8, 144, 3, 6.108287, 0.377, 17.2),
    (82, 1.8, 144, 4, 7.41668, 0.356743, 18.3),
    (83, 1.9, 151, 5, 7.285516, 0.942362, 21.3),
    (84, 2.0, 145, 6, 8.414, 1.9, 22.7),
    (85, 2.2, 147, 7, 9.31751, 2.8, None),
    (86, None, 142, 8, 10.7485, None, None),
    (87, 0.7, 223, 1, 4.072741, 0.486, None),
    (88, 0.9, 201, 2, 5.278424, 0.1, 45.0),
    (89, 1.1, 186, 2, 5.380226, 0.35, 22.54),
    (90, 1.3, 175, 2, 6.3067, None, 19.8),
    (91, 1.5, 169, 2, 5.89, None, 15.0),
    (92, 1.7, 170, 2, 6.19405, None, 12.5),
    (93, 1.3, 171, 2, 6.2655, None, 21.1),
    (94, 1.3, 172, 2, 6.0258, None, None),
    (95, None, 166, 2, 5.9738, None, 20.8),
    (96, None, 166, 2, 5.9914, None, 18.28),
)

#: (name, number of categories) of each CGCNN feature block, in vector order.
CGCNN_BLOCKS: tuple[tuple[str, int], ...] = (
    ("group", 19),
    ("period", 7),
    ("electronegativity", 10),
    ("covalent_radius", 10),
    ("valence_electrons", 12),
    ("first_ionization_energy", 10),
    ("electron_affinity", 10),
    ("block", 4),
    ("atomic_volume", 10),
)
CGCNN_DIM: int = sum(n for _, n in CGCNN_BLOCKS)  # 92
#: Start offset of each block in the 92-vector.
CGCNN_OFFSETS: dict[str, int] = {
    name: sum(n for _, n in CGCNN_BLOCKS[:i]) for i, (name, _) in enumerate(CGCNN_BLOCKS)
}
#: Continuous blocks: (low, high, log) of the 10 equal-width bins (on ln(value) when log).
CGCNN_BINS: dict[str, tuple[float, float, bool]] = {
    "electronegativity": (0.5, 4.0, False),
    "covalent_radius": (25.0, 250.0, False),
    "first_ionization_energy": (1.3, 3.3, True),
    "electron_affinity": (-3.0, 3.7, False),
    "atomic_volume": (1.5, 4.3, True),
}
BLOCK_LETTERS: str = "spdf"


def _is_f_series(z: int) -> bool:
    """La-Yb and Ac-No: the f-block in CGCNN's table (Lu and Lr are d-block, group 3)."""
    return 57 <= z <= 70 or 89 <= z <= 102


def element_block(z: int) -> str:
    """'s', 'p', 'd' or 'f' for atomic number `z` (He is s; La-Yb and Ac-No are f)."""
    z = int(z)
    if not is_supported(z):
        raise ValueError(f"no element data for Z={z}")
    if _is_f_series(z):
        return "f"
    g = int(GROUP[z])
    if g <= 2 or z == 2:
        return "s"
    return "d" if g <= 12 else "p"


def cgcnn_bin(value: float | None, low: float, high: float, log: bool = False, n: int = 10):
    """Index of `value` among `n` equal-width bins over [low, high), or None outside.

    ``floor((v - low) / (high - low) * n)`` in float64, evaluated in exactly this order (on
    ``v = ln(value)`` when `log`). The order matters only for values on a nominal edge and is
    the one that reproduces the reference: (1.9 - 0.5) / 3.5 = 0.39999999999999997, so Si, Cu
    and Re (electronegativity 1.9) and Gd (1.2) fall in the lower bin, while Xe (2.6) and Ac's
    electron affinity (0.35 eV) fall in the upper one. None (block left all zeros) when the
    value is missing or outside the range, e.g. He's electron affinity, -19.7 eV.
    """
    if value is None:
        return None
    v = float(value)
    if log:
        if v <= 0:
            return None
        v = math.log(v)
    i = math.floor((v - low) / (high - low) * n)
    return i if 0 <= i < n else None


@functools.lru_cache(maxsize=1)
def cgcnn_feature_table() -> np.ndarray:
    """CGCNN's 92-number one-hot atom features for Z = 0..MAX_Z, shape (MAX_Z + 1, 92) float32.

    Rebuilt from element data (not copied from the reference's atom_init.json), following the
    CGCNN paper's table of atom features. Blocks, in vector order (offsets in `CGCNN_OFFSETS`):

    ====================  ====  ===========================================================
    block                 size  categories
    ====================  ====  ===========================================================
    group                  19   0 = no group (f-series La-Yb, Ac-No), 1..18 = IUPAC group
    period                  7   period 1..7 at index period - 1
    electronegativity      10   Pauling, 0.5-4.0, linear bins of 0.35
    covalent radius        10   Pyykko single-bond radius (pm), 25-250, linear bins of 22.5
    valence electrons      12   1..12 at index count - 1
    first ionisation E     10   ln(eV), 1.3-3.3, bins of 0.2 (3.7-27.1 eV)
    electron affinity      10   eV, -3.0-3.7, linear bins of 0.67
    block                   4   s, p, d, f
    atomic volume          10   ln(cm^3/mol), 1.5-4.3, bins of 0.28 (4.5-73.7 cm^3/mol)
    ====================  ====  ===========================================================

    Sources: group and period are `GROUP`/`PERIOD` of this module (pymatgen's), except that
    La-Yb and Ac-No get group category 0 and block f (Lu is group 3, d-block); the five
    continuous properties and the valence count are `_CGCNN_RAW` (mendeleev 0.4.1's database,
    the data CGCNN's reference file was made from). Valence electrons: s- and p-block, the
    electrons of the outermost shell (ns + np; He 2, Ne 8); d-block, the electrons of the
    outermost occupied s subshell plus the outermost d subshell (Fe 3d6 4s2 -> 8, Cu -> 11,
    Zn -> 12; Pd, [Kr] 4d10 with an empty 5s, counts 4s2 + 4d10 = 12, as the reference
    does); f-block, the outermost s electrons (2). Binning: `cgcnn_bin` (10 equal bins,
    left-closed).

    Fallback: a block whose property is missing or outside its range is all zeros (the
    reference's convention; e.g. the noble gases have no Pauling electronegativity, Mg, Mn,
    Zn no electron affinity, Pm, At, Rn, Fr, Pu no atomic volume); a block's one-hot then sums
    to 0 instead of 1. Row 0 (no element) is all zeros. Every Z = 1..MAX_Z (96) has a row,
    which is the reference's range too (it has 1..100).

    Measured against the reference atom_init.json (scripts/check_cgcnn_atom_init.py): all 96
    elements of ecn's range (Z = 1..96) have identical 92-vectors.

    The array is cached and read-only; copy it before changing it.
    """
    table = np.zeros((MAX_Z + 1, CGCNN_DIM), dtype=np.float32)
    off = CGCNN_OFFSETS
    for z, en, radius, valence, ie, ea, volume in _CGCNN_RAW:
        row = table[z]
        row[off["group"] + (0 if _is_f_series(z) else int(GROUP[z]))] = 1.0
        row[off["period"] + int(PERIOD[z]) - 1] = 1.0
        if 1 <= valence <= 12:
            row[off["valence_electrons"] + valence - 1] = 1.0
        row[off["block"] + BLOCK_LETTERS.index(element_block(z))] = 1.0
        for name, value in (
            ("electronegativity", en),
            ("covalent_radius", radius),
            ("first_ionization_energy", ie),
            ("electron_affinity", ea),
            ("atomic_volume", volume),
        ):
            low, high, log = CGCNN_BINS[name]
            i = cgcnn_bin(value, low, high, log)
            if i is not None:
                row[off[name] + i] = 1.0
    table.setflags(write=False)
    return table


def cgcnn_features(z: int) -> np.ndarray:
    """CGCNN's 92-number atom feature vector (float32, a copy) for atomic number `z`.

    See `cgcnn_feature_table` for the blocks, bins, sources and the zero fallback.
    """
    z = int(z)
    if not is_supported(z):
        raise ValueError(f"no CGCNN features for Z={z} (supported: 1..{MAX_Z})")
    return cgcnn_feature_table()[z].copy()
