"""The fast P1 CIF reader returns pymatgen's structure bit for bit, or leaves the file to it.

Real CIFs (every 40th MP row, every Perov-5 test row in the first 400) and CIFs written here
by pymatgen's CifWriter; for each, the fast structure is compared with pymatgen's
``CifParser.parse_structures(primitive=False)[0]`` exactly: lattice matrix, species, fractional
coordinates, site order, labels. Files outside the subset must return None, and ``parse_cif``
must still give pymatgen's structure for them.
"""

from __future__ import annotations

import csv
import gzip
import warnings
from itertools import islice

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifParser, CifWriter

from ecn.data.cif_p1 import parse_p1_cif
from ecn.data.validate import MAX_CELL_LENGTH, BadInput, parse_cif
from ecn.settings import data_dir

MP_CSV = data_dir() / "mp_cgcnn_36k" / "mp_cgcnn_36k.csv.gz"
PEROV_TEST = data_dir() / "perov_5" / "test.csv"


def _pymatgen(text: str) -> Structure:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CifParser.from_str(text).parse_structures(primitive=False)[0]


def _same(a: Structure, b: Structure) -> bool:
    return (
        np.array_equal(a.lattice.matrix, b.lattice.matrix)
        and [s.species for s in a] == [s.species for s in b]
        and np.array_equal(a.frac_coords, b.frac_coords)
        and a.labels == b.labels
        and a.site_properties == b.site_properties
    )


def _mp_cifs(step: int = 40, limit: int = 400) -> list[str]:
    csv.field_size_limit(1 << 30)
    with gzip.open(MP_CSV, "rt", newline="") as fh:
        rows = islice(csv.DictReader(fh), 0, None, step)
        return [r["cif"] for r in islice(rows, limit)]


@pytest.mark.skipif(not MP_CSV.is_file(), reason=f"MP data file not available ({MP_CSV})")
def test_real_mp_cifs_bit_identical_to_pymatgen():
    cifs = _mp_cifs()
    assert len(cifs) >= 300
    for text in cifs:
        fast = parse_p1_cif(text)
        assert fast is not None, text[:200]
        assert _same(fast, _pymatgen(text)), text[:200]


@pytest.mark.skipif(not PEROV_TEST.is_file(), reason="Perov-5 test split not available")
def test_real_perov5_cifs_bit_identical_to_pymatgen():
    with open(PEROV_TEST, newline="") as fh:
        cifs = [r["cif"] for r in islice(csv.DictReader(fh), 400)]
    for text in cifs:
        fast = parse_p1_cif(text)
        assert fast is not None
        assert _same(fast, _pymatgen(text))


def _written(structure: Structure) -> str:
    return str(CifWriter(structure))


def test_written_crystals_identical_and_sorted_by_electronegativity():
    # O listed before Li and Fe: pymatgen sorts the sites by electronegativity; so must we
    lat = Lattice.from_parameters(5.1, 6.2, 7.3, 81.0, 97.0, 103.0)
    s = Structure(
        lat,
        ["O", "Li", "O", "Fe", "Li", "P"],
        [
            [0.1, 0.2, 0.3],
            [0.5, 0.5, 0.5],
            [0.9, 0.0, 1 / 3],
            [0.25, 0.75, 0.6667],
            [0, 0, 0],
            [-0.2, 1.3, 0.45],
        ],
    )
    text = CifWriter(s).__str__()
    # CifWriter keeps the given order when it writes P1
    assert text.index(" O ") < text.index(" Li ")
    fast = parse_p1_cif(text)
    assert fast is not None
    ref = _pymatgen(text)
    assert _same(fast, ref)
    assert [str(sp) for sp in fast.species] == ["Li", "Li", "Fe", "P", "O", "O"]
    # the coordinate within 1e-4 of 2/3 was rounded to 2/3 exactly, as pymatgen does
    assert np.any(fast.frac_coords == 2 / 3)
    # negative control: the file order is not pymatgen's order
    assert [str(sp) for sp in fast.species] != ["O", "Li", "O", "Fe", "Li", "P"]


_SITE_LOOP = """loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
"""


def test_uncertainties_comments_and_quotes():
    text = f"""# a comment
data_test
_symmetry_space_group_name_H-M 'P 1'
_cell_length_a 4.0(1)
_cell_length_b 4.1(2)   # trailing comment
_cell_length_c 4.2
_cell_angle_alpha 90
_cell_angle_beta 90.0(3)
_cell_angle_gamma 90
loop_
_symmetry_equiv_pos_as_xyz
'x,y,z'
{_SITE_LOOP}Na1 Na 0.0 0.0 0.0 1.0
Cl1 Cl 0.5(1) 0.5 0.5 1
"""
    fast = parse_p1_cif(text)
    assert fast is not None
    assert _same(fast, _pymatgen(text))


_BASE = (
    """data_x
_cell_length_a 4.0
_cell_length_b 4.0
_cell_length_c 4.0
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
{extra}
"""
    + _SITE_LOOP
    + """{sites}
"""
)
_SITES = "Na1 Na 0.0 0.0 0.0 1\nCl1 Cl 0.5 0.5 0.5 1"


@pytest.mark.parametrize(
    ("extra", "sites"),
    [
        # a real symmetry operation beyond the identity
        ("loop_\n_symmetry_equiv_pos_as_xyz\n'x,y,z'\n'-x,-y,-z'", _SITES),
        # a space group other than P1, without operations
        ("_symmetry_space_group_name_H-M 'F m -3 m'", _SITES),
        # partial occupancy
        ("", "Na1 Na 0.0 0.0 0.0 0.5\nCl1 Cl 0.5 0.5 0.5 1"),
        # two atoms on one site
        ("", "Na1 Na 0.0 0.0 0.0 1\nCl1 Cl 0.00001 0.0 1.0 1"),
        # an oxidation-state symbol
        ("", "Na1 Na+ 0.0 0.0 0.0 1\nCl1 Cl- 0.5 0.5 0.5 1"),
        # oxidation numbers
        ("loop_\n_atom_type_symbol\n_atom_type_oxidation_number\nNa 1\nCl -1", _SITES),
        # a noble gas (no electronegativity: pymatgen's sort has no strict order)
        ("", "Na1 Na 0.0 0.0 0.0 1\nAr1 Ar 0.5 0.5 0.5 1"),
        # an atom-site column the reader does not know
        ("", None),
    ],
)
def test_outside_the_subset_goes_to_pymatgen(extra, sites):
    if sites is None:  # an unknown atom-site column (attached hydrogens)
        text = _BASE.format(extra="", sites=_SITES).replace(
            "_atom_site_occupancy\n", "_atom_site_occupancy\n_atom_site_attached_hydrogens\n"
        )
        text = text.replace(" 1\n", " 1 0\n").rstrip("\n") + " 0\n"
    else:
        text = _BASE.format(extra=extra, sites=sites)
    assert parse_p1_cif(text) is None
    # parse_cif still answers with pymatgen's structure (or pymatgen's refusal)
    try:
        ref = _pymatgen(text)
    except Exception:  # noqa: BLE001 - pymatgen refuses it: so must parse_cif
        with pytest.raises(ValueError):
            parse_cif(text)
        return
    try:
        got = parse_cif(text)
    except ValueError:
        return  # ecn refuses what pymatgen reads as disordered: also not the fast path's doing
    assert _same(got, ref)


def test_the_fast_subset_itself_is_read():
    # control for the test above: the same file without the extra goes through the fast path
    text = _BASE.format(extra="", sites=_SITES)
    fast = parse_p1_cif(text)
    assert fast is not None
    assert _same(fast, _pymatgen(text))


@pytest.mark.parametrize(
    "text",
    [
        _BASE.format(extra="", sites=_SITES) + "\ndata_second\n_cell_length_a 3\n",
        _BASE.format(extra="_publ_section_title\n;\nA title\n;", sites=_SITES),
        _BASE.format(extra="_chemical_name_common 'caf\u00e9'", sites=_SITES),
        _BASE.format(extra="", sites=_SITES).replace("_cell_length_b 4.0", "_cell_length_b 1e30"),
        _BASE.format(extra="", sites=_SITES).replace("_cell_angle_beta 90", "_cell_angle_beta -90"),
        _BASE.format(extra="", sites="Na1 Na 0.0 0.0 0.0 1\nCl1 Cl 0.5 0.5"),
    ],
    ids=["two-blocks", "text-field", "non-ascii", "huge-cell", "negative-angle", "truncated"],
)
def test_awkward_files_are_left_to_pymatgen_and_ecn_checks(text):
    assert parse_p1_cif(text, MAX_CELL_LENGTH) is None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("_cell_length_b 4.0", "_cell_length_b 1e30", "cell too large"),
        ("_cell_angle_beta 90", "_cell_angle_beta -90", "non-physical cell"),
        ("Cl1 Cl 0.5 0.5 0.5 1", "Cl1 Cl 0.5 0.5", "row is cut short"),
    ],
)
def test_ecn_messages_unchanged_for_files_left_to_pymatgen(old, new, message):
    text = _BASE.format(extra="", sites=_SITES).replace(old, new)
    with pytest.raises(BadInput, match=message):
        parse_cif(text)


@pytest.mark.parametrize(
    "text", ["4.0", "-0.25", "1e-3", " 7 ", "0.5(1)", "90.0(12)", "1.2(3)e1", ".", "inf", "nan"]
)
def test_number_reader_is_pymatgens(text):
    from pymatgen.io.cif import str2float as pymatgen_str2float

    from ecn.data.cif_p1 import str2float

    got, want = str2float(text), pymatgen_str2float(text)
    assert got == want or (np.isnan(got) and np.isnan(want))


@pytest.mark.parametrize("text", ["abc", "1.0)", "(1)"])
def test_number_reader_rejects_what_pymatgen_rejects(text):
    from pymatgen.io.cif import str2float as pymatgen_str2float

    from ecn.data.cif_p1 import str2float

    with pytest.raises(ValueError):
        pymatgen_str2float(text)
    with pytest.raises(ValueError):
        str2float(text)


def test_fast_path_does_not_import_pymatgens_cif_module():
    # pymatgen.io.cif costs ~0.2 s of `ecn predict`'s start; the fast path must not need it,
    # and a file outside the subset must still load it (the control)
    import subprocess
    import sys

    code = (
        "import sys\nfrom ecn.data.validate import parse_cif\n"
        "parse_cif(sys.stdin.read())\nprint('pymatgen.io.cif' in sys.modules)"
    )
    fast = _BASE.format(extra="", sites=_SITES)
    slow = fast + "\ndata_second\n_cell_length_a 3\n"
    for text, loaded in ((fast, "False"), (slow, "True")):
        res = subprocess.run(
            [sys.executable, "-c", code], input=text, capture_output=True, text=True
        )
        assert res.stdout.strip().splitlines()[-1:] == [loaded], res.stderr[-500:]
