"""Bad-input checks: every row either becomes a `Record` or a `Rejection` with a clear reason.

Why one place: readers differ in format but must agree on what "usable" means (the graph builder
and the models assume ordered, supported, non-overlapping, non-empty crystals with a finite
target). A load never aborts for one bad row; it logs one summary line instead.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ecn.data.types import Record, Rejection
from ecn.elements import MAX_Z

if TYPE_CHECKING:
    from pymatgen.core import Structure

logger = logging.getLogger(__name__)

MIN_DISTANCE = 0.1  # Å; closer atoms are a broken structure, not chemistry
MIN_VOLUME_PER_ATOM = 0.5  # Å^3; a degenerate lattice is not a crystal
MIN_CELL_LENGTH = 0.1  # Å; a shorter lattice vector puts an atom on its own image
MIN_CELL_ANGLE = 1.0  # degrees; flatter cells are degenerate, not crystals
MAX_ATOMS = 2000  # atoms per cell; bounds the time and memory one input may cost
#: Longest lattice vector (Å) accepted; longer ones (``_cell_length_a 1e30``) are not crystals.
MAX_CELL_LENGTH = 1000.0
#: Largest cell volume (Å^3) accepted (a 126 Å cube). The periodic neighbour searches bin the
#: cell, so their memory grows with the volume: a 300 Å cube costs about 1 GB, a 4,056 Å one
#: would need 73 GB. Rejected up front, before any search.
MAX_CELL_VOLUME = 2.0e6
#: Longest rejection message; longer ones are cut at a word boundary by :func:`shorten`.
MAX_MESSAGE = 200


class BadInput(ValueError):
    """Raised for a single unusable row; the message is the rejection reason."""


def parse_cif(text: str) -> Structure:
    """Parse CIF text with pymatgen's CifParser, silencing its warnings.

    Same parser and options as `Structure.from_str(text, fmt="cif")` (primitive=False), called
    directly because the format-registry dispatch costs about 25 % extra per structure. A
    one-block ordered P1 CIF (what pymatgen's CifWriter writes) is read by
    ``ecn.data.cif_p1.parse_p1_cif``, which returns pymatgen's structure bit for bit at a
    fraction of the cost; everything else goes to pymatgen.

    Raises:
        BadInput: the text is empty or not a CIF pymatgen can turn into exactly one structure.
    """
    from ecn.data.cif_p1 import parse_p1_cif

    if not isinstance(text, str) or not text.strip():
        raise BadInput("empty CIF text")
    fast = parse_p1_cif(text, MAX_CELL_LENGTH)
    if fast is not None:
        return fast
    from pymatgen.io.cif import CifParser  # after the fast path: 0.2 s to import

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parser = CifParser.from_str(text)
            problem = _cif_cell_problem(parser)
            if problem is not None:
                raise BadInput(problem)
            structures = parser.parse_structures(primitive=False)
            if not structures:
                raise BadInput(cif_text_problem(text) or "CIF holds no structure")
            if len(structures) != 1:
                raise BadInput(f"CIF holds {len(structures)} structures, expected 1")
            structure = structures[0]
        except BadInput:
            raise
        except Exception as exc:  # noqa: BLE001 - pymatgen raises many types for broken text
            cause = cif_text_problem(text)
            if cause is not None:
                raise BadInput(cause) from None
            hint = f"; parser said: {caught[-1].message}" if caught else ""
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BadInput(shorten(f"unparseable CIF: {shorten(msg)}{hint}", 300)) from None
    return structure


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` on one line (whitespace runs -> one space), cut at a word boundary to at most
    `limit` characters with `` ...`` marking the cut; never mid-word unless one word is longer
    than half the limit."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    room = limit - 4
    cut = text.rfind(" ", 0, room + 1)
    head = text[:cut] if cut > room // 2 else text[:room]
    return head.rstrip(" ,;:") + " ..."


_LOOP_STOP = re.compile(r"^(_|loop_|data_|global_|save_)", re.I)
_TOKEN = re.compile(r"'[^']*'(?=\s|$)|\"[^\"]*\"(?=\s|$)|\S+")


def cif_text_problem(text: str) -> str | None:
    """Why CIF text cannot hold a crystal, read from the text itself (used to name the cause
    when pymatgen's own error would be internal): no cell, no atom sites, or a ``loop_`` whose
    values do not fill its columns (a truncated file). None when none of these is found."""
    lower = text.lower()
    if "_cell_length_a" not in lower:
        return "no cell in the CIF (no _cell_length_a tag): not a crystal structure file"
    if "_atom_site_fract_x" not in lower and "_atom_site_cartn_x" not in lower:
        return "no atom sites in the CIF (no _atom_site_fract_x column): truncated or incomplete"
    for tags, n_values, last in _cif_loops(text):
        if n_values % len(tags) or n_values == 0:
            where = "the file looks truncated: its last" if last else "a"
            return (
                f"{where} loop_ ({tags[0]}, ...) has {n_values} value{'s' * (n_values != 1)} "
                f"for {len(tags)} columns (a row is cut short)"
            )
    return None


def _cif_loops(text: str) -> list[tuple[list[str], int, bool]]:
    """``(tags, number of values, is the last loop in the text)`` for each ``loop_``."""
    loops: list[tuple[list[str], int]] = []
    lines = text.splitlines()
    k = 0
    while k < len(lines):
        if lines[k].strip().lower() != "loop_":
            k += 1
            continue
        k += 1
        tags: list[str] = []
        while k < len(lines) and lines[k].strip().startswith("_"):
            tags.append(lines[k].split()[0])
            k += 1
        n = 0
        while k < len(lines) and not _LOOP_STOP.match(lines[k].strip()):
            if lines[k].startswith(";"):  # a text field: one value up to the closing ';'
                k += 1
                while k < len(lines) and not lines[k].startswith(";"):
                    k += 1
                n += 1
            else:
                n += len(_TOKEN.findall(lines[k].split("#")[0] if "#" in lines[k] else lines[k]))
            k += 1
        if tags:
            loops.append((tags, n))
    return [(t, n, j == len(loops) - 1) for j, (t, n) in enumerate(loops)]


_CIF_CELL = (
    "_cell_length_a",
    "_cell_length_b",
    "_cell_length_c",
    "_cell_angle_alpha",
    "_cell_angle_beta",
    "_cell_angle_gamma",
)


def _cif_cell_problem(parser: object) -> str | None:
    """The cell as written in the CIF: zero, negative or NaN lengths or angles (pymatgen would
    silently turn a negative length into a mirrored cell)."""
    for block in getattr(getattr(parser, "_cif", None), "data", {}).values():
        data = getattr(block, "data", {})
        vals = {}
        for key in _CIF_CELL:
            raw = data.get(key)
            if raw is None:
                continue
            raw = raw[0] if isinstance(raw, list) else raw
            try:
                vals[key] = float(str(raw).split("(")[0])
            except ValueError:
                return f"non-physical cell: {key} = {raw!r} is not a number"
        for key, v in vals.items():
            limit = 180.0 if "angle" in key else math.inf
            if not (math.isfinite(v) and 0.0 < v < limit):
                return f"non-physical cell: {key} = {v:g} in the CIF"
            if "length" in key and v > MAX_CELL_LENGTH:
                return f"cell too large: {key} = {v:g} Å in the CIF (at most {MAX_CELL_LENGTH:g} Å)"
    return None


def structure_problem(structure: Structure, max_atoms: int = MAX_ATOMS) -> str | None:
    """Reason why `structure` is unusable, or None. Cheap checks first.

    `max_atoms`: the largest cell accepted (``ecn predict --max-atoms``; default `MAX_ATOMS`).
    """
    from pymatgen.core.periodic_table import DummySpecies

    n = len(structure)
    if n == 0:
        return "structure has zero atoms"
    if not structure.is_ordered:
        return "partial occupancy / disorder (not an ordered crystal)"
    bad = set()
    for site in structure:
        sp = site.specie
        z = getattr(sp, "Z", 0)
        if (
            isinstance(sp, DummySpecies)
            or not isinstance(z, (int, np.integer))
            or not 1 <= z <= MAX_Z
        ):
            bad.add(str(sp))
    if bad:
        return f"element outside the supported table (Z 1..{MAX_Z}): {', '.join(sorted(bad))}"
    cell = cell_problem(structure)
    if cell is not None:
        return cell
    if n > max_atoms:
        return (
            f"too many atoms: {n} in the cell (at most {max_atoms}, the --max-atoms limit; "
            "the 2x2x2 cover is 8x)"
        )
    vol = float(structure.lattice.volume)
    if not math.isfinite(vol) or abs(vol) < MIN_VOLUME_PER_ATOM * n:
        return f"degenerate lattice (volume {vol:.3g} Å^3 for {n} atoms)"
    if not np.all(np.isfinite(structure.frac_coords)):
        return "non-finite atomic coordinates"
    d = closest_pair(structure)
    if d is not None and d < MIN_DISTANCE:
        return f"overlapping atoms: closest pair {d:.3f} Å apart (< {MIN_DISTANCE} Å, periodic)"
    return None


def cell_problem(structure: Structure) -> str | None:
    """Reason why the cell is not a physical cell (lengths or angles zero, negative, NaN, or
    an impossible angle combination), or None."""
    lat = np.asarray(structure.lattice.matrix, dtype=float)
    abc = np.linalg.norm(lat, axis=1) if np.all(np.isfinite(lat)) else np.full(3, np.nan)
    with np.errstate(all="ignore"):
        cos = [
            float(np.dot(lat[j], lat[k]) / (abc[j] * abc[k])) for j, k in ((1, 2), (0, 2), (0, 1))
        ]
        angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    text = (
        f"a, b, c = {', '.join(f'{v:.4g}' for v in abc)} Å, "
        f"angles = {', '.join(f'{v:.4g}' for v in angles)} deg"
    )
    if not (np.all(np.isfinite(abc)) and np.all(np.isfinite(cos))):
        return f"non-physical cell: lattice not finite ({text})"
    if abc.min() < MIN_CELL_LENGTH:
        return f"non-physical cell: a lattice length below {MIN_CELL_LENGTH} Å ({text})"
    if angles.min() <= MIN_CELL_ANGLE or angles.max() >= 180.0 - MIN_CELL_ANGLE:
        lo, hi = MIN_CELL_ANGLE, 180 - MIN_CELL_ANGLE
        return f"non-physical cell: an angle outside ({lo}, {hi}) deg ({text})"
    if abc.max() > MAX_CELL_LENGTH:
        return f"cell too large: a lattice length above {MAX_CELL_LENGTH:g} Å ({text})"
    vol = abs(float(np.linalg.det(lat)))
    if vol > MAX_CELL_VOLUME:
        return (
            f"cell too large: volume {vol:.3g} Å^3 (at most {MAX_CELL_VOLUME:.3g} Å^3, which "
            "bounds the neighbour search's memory)"
        )
    return None


def closest_pair(structure: Structure, r: float = MIN_DISTANCE) -> float | None:
    """Smallest periodic distance between two distinct sites (or a site and its own image)
    if below `r`, else None. `numerical_tol=0` so that exactly coincident atoms are found."""
    centers, points, images, dists = structure.get_neighbor_list(r, numerical_tol=0.0)
    if len(dists) == 0:
        return None
    self_pair = (centers == points) & np.all(images == 0, axis=1)
    dists = dists[~self_pair]
    return float(dists.min()) if len(dists) else None


def target_problem(targets: dict[str, float], required: Sequence[str]) -> str | None:
    """Reason why a required target is unusable (missing, NaN, not a number), or None."""
    for name in required:
        if name not in targets:
            return f"target '{name}' is missing"
        v = targets[name]
        try:
            fv = float(v)
        except (TypeError, ValueError):
            return f"target '{name}' is not a number: {v!r}"
        if not math.isfinite(fv):
            return f"target '{name}' is missing or NaN"
    return None


def to_float(value: object) -> float:
    """Target cell -> float; anything unparseable (None, '', 'None', text) becomes NaN."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return float(value.strip().lower() == "true")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def make_record(
    rid: str, source: str | Structure, targets: dict[str, float], required: Sequence[str]
) -> Record | Rejection:
    """Validate one row; never raises (an unexpected error becomes a rejection too)."""
    try:
        reason = target_problem(targets, required)
        if reason is not None:
            return Rejection(rid, reason)
        structure = parse_cif(source) if isinstance(source, str) else source
        reason = structure_problem(structure)
        if reason is not None:
            return Rejection(rid, reason)
        return Record(rid, structure, {k: float(v) for k, v in targets.items()})
    except BadInput as exc:
        return Rejection(rid, str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad row must not abort a load
        return Rejection(rid, shorten(f"unexpected error: {type(exc).__name__}: {exc}", 300))


def make_records(
    rows: Iterable[tuple[str, str | Structure, dict[str, float]]], required: Sequence[str]
) -> tuple[list[Record], list[Rejection]]:
    """Validate rows `(id, cif text or Structure, targets)` into records and rejections."""
    records: list[Record] = []
    rejected: list[Rejection] = []
    for rid, source, targets in rows:
        out = make_record(rid, source, targets, required)
        (records if isinstance(out, Record) else rejected).append(out)  # type: ignore[arg-type]
    return records, rejected


def summarize_rejections(rejected: Sequence[Rejection], top: int = 3) -> str:
    """'n rejected (k x reason, ...)' grouped by the reason's leading phrase."""
    if not rejected:
        return "0 rejected"
    kinds = Counter(r.reason.split(":")[0] for r in rejected)
    parts = ", ".join(f"{n} x {k}" for k, n in kinds.most_common(top))
    more = f", {len(kinds) - top} more kinds" if len(kinds) > top else ""
    return f"{len(rejected)} rejected ({parts}{more})"


def log_summary(label: str, records: Sequence[Record], rejected: Sequence[Rejection]) -> None:
    """One line per load; a warning when anything was skipped."""
    msg = f"{label}: {len(records)} structures loaded, {summarize_rejections(rejected)}"
    (logger.warning if rejected else logger.info)(msg)
