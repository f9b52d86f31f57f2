"""A fast reader for the commonest CIF of all: one ordered P1 cell with every atom listed.

Why: screening folders (``ecn predict``) are mostly CIFs written by pymatgen's ``CifWriter``
(Materials Project, generative models, enumerations): one data block, space group P1, the
identity as the only symmetry operation, full occupancy. pymatgen's ``CifParser`` spends most of
its time on machinery such files do not need (a pairwise search to merge sites per atom,
``Composition`` arithmetic, building and sorting the structure twice): about 5 ms per MP CIF,
more than the rest of the prediction pipeline put together.

:func:`parse_p1_cif` reads exactly that subset and returns the structure pymatgen would return,
**bit for bit** (same lattice matrix, species, fractional coordinates, site order and labels:
``tests/data/test_cif_p1.py`` compares the two on real MP and Perov-5 CIFs). Anything outside
the subset returns None and the caller uses pymatgen (``ecn.data.validate.parse_cif``), so the
messages for broken inputs and the handling of symmetry, disorder, oxidation states, magnetic
CIFs, several blocks or text fields stay pymatgen's. What it reproduces of pymatgen
(``pymatgen.io.cif``, 2026.10): comment and token rules of ``CifBlock._process_string``,
its number reader (``str2float``, called), the rounding of coordinates within 1e-4 of 1/3 and 2/3
(``_sanitize_data``), the wrap of coordinates into [0, 1), ``Lattice.from_parameters``, the
minimum cell thickness, and the final electronegativity sort (``get_sorted_structure``). Two
atoms on one site (which pymatgen would merge into a disordered site) send the file to
pymatgen.
"""

from __future__ import annotations

import math
import re
import warnings
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["parse_p1_cif"]

#: pymatgen's comment rule and token pattern (``CifBlock._process_string``).
_COMMENT = re.compile(r"(\s|^)#.*$", re.MULTILINE)
_TOKEN = re.compile(r"""([^'"\s][\S]*)|'(.*?)'(?!\S)|"(.*?)"(?!\S)""")
_CELL = tuple(f"_cell_length_{x}" for x in "abc") + tuple(
    f"_cell_angle_{x}" for x in ("alpha", "beta", "gamma")
)
#: Symmetry-operation loops pymatgen reads (its trailing-underscore variants go to pymatgen),
#: and the id columns that may sit beside them.
_SYMOPS = ("_symmetry_equiv_pos_as_xyz", "_space_group_symop_operation_xyz")
_SYMOP_IDS = ("_symmetry_equiv_pos_site_id", "_space_group_symop_id")
_SYMOP_TAGS = _SYMOPS + _SYMOP_IDS
#: Space-group tags that may be present (lower case), and the values that mean P1.
_GROUP_TAGS = {
    "_symmetry_space_group_name_h-m": {"p1", "p 1"},
    "_space_group_name_h-m_alt": {"p1", "p 1"},
    "_symmetry_int_tables_number": {"1"},
    "_space_group_it_number": {"1"},
    "_symmetry_space_group_name_hall": {"p1", "p 1"},
    "_space_group_name_hall": {"p1", "p 1"},
}
#: Atom-site columns pymatgen reads, spelled as it looks them up.
_SITE_READ = (
    "_atom_site_type_symbol",
    "_atom_site_label",
    "_atom_site_fract_x",
    "_atom_site_fract_y",
    "_atom_site_fract_z",
    "_atom_site_occupancy",
)
#: Atom-site columns it ignores (any other atom-site column sends the file to pymatgen).
_SITE_IGNORED = {
    "_atom_site_symmetry_multiplicity",
    "_atom_site_wyckoff_symbol",
    "_atom_site_u_iso_or_equiv",
    "_atom_site_b_iso_or_equiv",
    "_atom_site_adp_type",
    "_atom_site_calc_flag",
    "_atom_site_thermal_displace_type",
}
#: Tag fragments of what pymatgen treats specially (magnetic CIFs, oxidation states, implicit
#: hydrogens, Cartesian sites, powder data): any tag holding one goes to pymatgen.
_SPECIAL = ("magn", "moment", "oxidation", "hydrogens", "cartn", "powder")
#: pymatgen's site tolerance (``CifParser(site_tolerance=1e-4)``), fraction tolerance
#: (``frac_tolerance``) and minimum cell thickness (``_get_structure(min_thickness=0.01)``).
_SITE_TOL = 1e-4
_FRAC_TOL = 1e-4
_MIN_THICKNESS = 0.01
_IDEAL_FRACS = (1 / 3, 2 / 3)


@cache
def _known_symbols() -> frozenset[str]:
    from ecn.elements import SYMBOLS

    return frozenset(SYMBOLS.values())


@cache
def _element(symbol: str) -> tuple[object, float] | None:
    """(pymatgen Element, electronegativity) for a plain element symbol that ecn supports and
    whose electronegativity is finite (so the sort key is a strict order); None otherwise."""
    if symbol not in _known_symbols():
        return None
    from pymatgen.core.periodic_table import Element

    el = Element(symbol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No Pauling electronegativity for Ar": NaN, refused
        x = float(el.X)
    return (el, x) if math.isfinite(x) else None


def _tokens(text: str) -> list[tuple[str, bool]] | None:
    """(token, quoted) pairs of one data block after its ``data_`` header (pymatgen's rules),
    or None for what this reader leaves to pymatgen: non-ASCII text, semicolon text fields,
    several blocks."""
    if not text.isascii():
        return None
    text = _COMMENT.sub("", text)
    out: list[tuple[str, bool]] = []
    for line in text.splitlines():
        if line.startswith(";"):
            return None
        for bare, q1, q2 in _TOKEN.findall(line):
            out.append((bare, False) if bare else (q1 or q2, True))
    heads = [k for k, (t, q) in enumerate(out) if not q and t.startswith("data_")]
    if heads != [0]:
        return None
    return out[1:]


def _block(tokens: list[tuple[str, bool]]) -> tuple[dict[str, str], dict[str, list[str]]] | None:
    """(single values, loop columns) by tag as ``CifBlock.from_str`` reads them; None for
    anything pymatgen would warn about or read differently (a tag without a value, a stray
    value, a repeated tag, a loop whose values do not fill its columns)."""

    def is_tag(k: int) -> bool:
        return not tokens[k][1] and tokens[k][0].startswith("_")

    def is_loop(k: int) -> bool:
        return not tokens[k][1] and tokens[k][0].startswith("loop_")

    single: dict[str, str] = {}
    loops: dict[str, list[str]] = {}
    i, n = 0, len(tokens)
    while i < n:
        if is_tag(i):
            if i + 1 >= n or is_tag(i + 1) or is_loop(i + 1) or tokens[i][0] in single:
                return None
            single[tokens[i][0]] = tokens[i + 1][0]
            i += 2
        elif is_loop(i):
            if tokens[i][0] != "loop_":
                return None
            i += 1
            cols: list[str] = []
            while i < n and is_tag(i):
                cols.append(tokens[i][0])
                i += 1
            vals: list[str] = []
            while i < n and not is_tag(i) and not is_loop(i):
                vals.append(tokens[i][0].strip())
                i += 1
            if not cols or not vals or len(vals) % len(cols):
                return None
            for k, col in enumerate(cols):
                if col in loops:
                    return None
                loops[col] = vals[k :: len(cols)]
        else:
            return None  # a stray value: pymatgen warns and goes on; leave it to pymatgen
    if set(single) & set(loops):
        return None
    return single, loops


def _is_p1(single: dict[str, str], loops: dict[str, list[str]]) -> bool:
    """The identity the only symmetry operation, every space-group tag saying P1, and no
    other symmetry tag that pymatgen would read."""
    tags = list(single) + list(loops)
    for tag in tags:
        low = tag.lower()
        if ("symop" in low or "equiv_pos" in low) and tag not in _SYMOP_TAGS:
            return False
        if low.startswith(("_space_group", "_symmetry")) and not (
            tag in _SYMOP_TAGS or low in _GROUP_TAGS
        ):
            if low.startswith(("_symmetry_cell_setting", "_space_group_crystal_system")):
                continue
            return False
        ok = _GROUP_TAGS.get(low)
        if ok is not None and (tag in loops or single[tag].strip().lower() not in ok):
            return False
    ops = [op for tag in _SYMOPS for op in loops.get(tag, [])]
    ops += [single[tag] for tag in _SYMOPS if tag in single]
    return all("".join(op.split()).lower() == "x,y,z" for op in ops)


def str2float(text: str) -> float:
    """pymatgen's ``str2float`` (uncertainty brackets dropped, "." is 0), whose module is
    imported only for a number ``float`` rejects: importing ``pymatgen.io.cif`` costs about
    0.2 s of ``ecn predict``'s start. Where ``float`` accepts the text it has no "(" for
    pymatgen's bracket rule to remove, so both give the same value.
    """
    try:
        return float(text)
    except ValueError:
        from pymatgen.io.cif import str2float as pymatgen_str2float

        return pymatgen_str2float(text)


def parse_p1_cif(text: str, max_length: float = math.inf) -> Structure | None:
    """The structure pymatgen's ``CifParser(...).parse_structures(primitive=False)[0]`` returns
    for a one-block, P1, fully occupied, ordered CIF; None when `text` is anything else (then
    the caller parses it with pymatgen). See the module docstring for the subset.

    `max_length`: cells with a longer edge (Å) are left to the caller's checks too.
    """
    tokens = _tokens(text)
    if tokens is None:
        return None
    parsed = _block(tokens)
    if parsed is None:
        return None
    single, loops = parsed
    tags = list(single) + list(loops)
    if any(frag in tag.lower() for tag in tags for frag in _SPECIAL):
        return None
    for tag in tags:
        low = tag.lower()
        if low.startswith("_atom_site_") and tag not in _SITE_READ:
            if low in _SITE_READ or low not in _SITE_IGNORED or tag in single:
                return None
    if any(t in single for t in _SITE_READ) or not _is_p1(single, loops):
        return None
    # the cell: only values pymatgen and ecn's checks accept without a word
    try:
        cell = [str2float(single[t]) for t in _CELL]
    except (KeyError, ValueError):
        return None
    if not all(math.isfinite(v) and v > 0.0 for v in cell):
        return None
    if any(v >= 180.0 for v in cell[3:]) or any(v > max_length for v in cell[:3]):
        return None
    # the sites
    try:
        labels = loops["_atom_site_label"]
        symbols = loops["_atom_site_type_symbol"]
        raw = [loops[f"_atom_site_fract_{x}"] for x in "xyz"]
    except KeyError:
        return None
    occ = loops.get("_atom_site_occupancy")
    n = len(labels)
    if any(len(col) != n for col in (symbols, *raw, occ or labels)):
        return None
    try:
        if occ is not None and any(str2float(o) != 1.0 for o in occ):
            return None
        coords = np.array([[str2float(v) for v in col] for col in raw], dtype=float).T  # (N, 3)
    except ValueError:
        return None
    if not np.all(np.isfinite(coords)):
        return None
    elements = [_element(s) for s in symbols]
    if any(e is None for e in elements):
        return None
    # pymatgen's _sanitize_data: coordinates within 1e-4 (relative) of 1/3 or 2/3 become them
    for ideal in _IDEAL_FRACS:
        coords[np.abs(coords / ideal - 1.0) <= _FRAC_TOL] = float(str(ideal))
    if _coincident(coords):
        return None  # two atoms on one site: pymatgen merges them into a disordered site
    return _structure(cell, elements, coords - np.floor(coords), labels)


def _coincident(coords: np.ndarray) -> bool:
    """Any two rows equal within the site tolerance per axis, periodically (pymatgen's
    ``find_in_coord_list_pbc`` test), in row blocks so memory stays small."""
    n = len(coords)
    step = max(1, 4096 // max(n, 1))
    for i in range(0, n, step):
        d = coords[i : i + step, None, :] - coords[None, :, :]  # (s, N, 3)
        d -= np.round(d)
        close = np.all(np.abs(d) < _SITE_TOL, axis=2)
        rows = np.arange(i, min(i + step, n))
        close[np.arange(len(rows)), rows] = False
        if close.any():
            return True
    return False


def _structure(
    cell: list[float], elements: list, coords: np.ndarray, labels: list[str]
) -> Structure | None:
    """The Structure in pymatgen's order: sites sorted by (electronegativity, symbol), file
    order among atoms of one element (``get_sorted_structure`` is a stable sort)."""
    from pymatgen.core import Lattice, Structure

    lattice = Lattice.from_parameters(*cell)
    if any(lattice.d_hkl(h) < _MIN_THICKNESS for h in ((1, 0, 0), (0, 1, 0), (0, 0, 1))):
        return None
    order = sorted(range(len(elements)), key=lambda i: (elements[i][1], str(elements[i][0])))
    return Structure(
        lattice,
        [elements[i][0] for i in order],
        coords[order],
        labels=[labels[i] for i in order],
    )
