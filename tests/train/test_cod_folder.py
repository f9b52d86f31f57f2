"""A folder in the CGCNN convention with COD-style CIFs (conventional settings, asymmetric unit +
symmetry operators) trains and predicts, and a conventional and a primitive CIF of the same
crystal predict the same value (issue 14, last acceptance item).

The crystals are real structures built in code with ``Structure.from_spacegroup`` (F-, I-, R-
and P-lattices, so the conventional cell is 1-4x the primitive one) at three lattice scalings;
the target is a smooth function of the structure so the run has something to fit.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter
from typer.testing import CliRunner

from ecn.cli import app
from train_helpers import tiny_cli_args

CRYSTALS: dict[str, tuple[str, Lattice, list[str], list[list[float]]]] = {
    "NaCl": ("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "Si": ("Fd-3m", Lattice.cubic(5.431), ["Si"], [[0, 0, 0]]),
    "CaF2": ("Fm-3m", Lattice.cubic(5.46), ["Ca", "F"], [[0, 0, 0], [0.25, 0.25, 0.25]]),
    "W": ("Im-3m", Lattice.cubic(3.165), ["W"], [[0, 0, 0]]),
    "CsCl": ("Pm-3m", Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "anatase": (
        "I4_1/amd",
        Lattice.tetragonal(3.785, 9.514),
        ["Ti", "O"],
        [[0, 0, 0], [0, 0, 0.2081]],
    ),
    "corundum": (
        "R-3c",
        Lattice.hexagonal(4.759, 12.99),
        ["Al", "O"],
        [[0, 0, 0.3522], [0.3064, 0, 0.25]],
    ),
    "Mg": ("P6_3/mmc", Lattice.hexagonal(3.21, 5.21), ["Mg"], [[1 / 3, 2 / 3, 0.25]]),
}
SCALES = (0.97, 1.0, 1.03)


def _crystal(name: str, scale: float) -> Structure:
    sg, lat, species, coords = CRYSTALS[name]
    lat = Lattice.from_parameters(*(x * scale for x in lat.abc), *lat.angles)
    return Structure.from_spacegroup(sg, lat, species, coords)


@pytest.fixture(scope="module")
def cod_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """id_prop.csv (no header, `id,target`) + one symmetrised conventional CIF per row."""
    d = tmp_path_factory.mktemp("cod")
    lines = []
    for name in CRYSTALS:
        for k, scale in enumerate(SCALES):
            s = _crystal(name, scale)
            rid = f"{name}_{k}"
            (d / f"{rid}.cif").write_text(str(CifWriter(s, symprec=0.01)))
            lines.append(f"{rid},{s.volume / len(s):.6f}")
    (d / "id_prop.csv").write_text("\n".join(lines) + "\n")
    return d


def test_cod_cifs_are_conventional_with_symmetry_operators(cod_folder: Path) -> None:
    """Negative control for the fixture: the files really are COD-like, not P1 dumps."""
    text = (cod_folder / "NaCl_1.cif").read_text()
    assert "_symmetry_equiv_pos_as_xyz" in text
    assert text.count("'") // 2 > 100  # Fm-3m: 192 operators listed
    assert "_symmetry_space_group_name_H-M   Fm-3m" in text
    nacl = Structure.from_file(cod_folder / "NaCl_1.cif")
    assert len(nacl) == 8 and len(nacl.get_primitive_structure()) == 2


def _invoke(args: list[str]) -> str:
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, f"ecn {' '.join(args)}: {res.output}\n{res.exception!r}"
    return res.output


def test_cod_folder_trains_and_conventional_equals_primitive(
    cod_folder: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    args = tiny_cli_args(cod_folder, run)  # the tiny Perov-5 run, pointed at the COD folder
    args[args.index("--dataset") + 1] = "cif"
    k = args.index("--target")
    del args[k : k + 2]  # the folder's own target column, by default
    _invoke(args)
    res = json.loads((run / "results.json").read_text())
    assert res["metrics"]["test"]["n"] >= 1

    # the same crystals again as primitive P1 CIFs (pymatgen's plain writer, different basis,
    # origin and atom count) and as a 2x1x1 supercell of the conventional cell
    other = tmp_path / "other"
    other.mkdir()
    for name in CRYSTALS:
        s = _crystal(name, 1.0)
        (other / f"{name}_prim.cif").write_text(s.get_primitive_structure().to(fmt="cif"))
        (other / f"{name}_super.cif").write_text((s * (2, 1, 1)).to(fmt="cif"))
    p1, p2 = tmp_path / "conv.csv", tmp_path / "other.csv"
    _invoke(["predict", str(run), str(cod_folder), "--out", str(p1)])
    _invoke(["predict", str(run), str(other), "--out", str(p2)])

    def read(p: Path) -> dict[str, dict[str, str]]:
        with p.open(newline="") as fh:
            return {r["id"]: r for r in csv.DictReader(fh)}

    conv, oth = read(p1), read(p2)
    assert len(conv) == len(CRYSTALS) * len(SCALES)
    col = "prediction"
    assert all(r["error"] == "" for r in [*conv.values(), *oth.values()])
    values = {float(conv[f"{n}_1"][col]) for n in CRYSTALS}
    assert len(values) == len(CRYSTALS)  # the model tells the crystals apart
    for name in CRYSTALS:
        ref = float(conv[f"{name}_1"][col])
        assert float(oth[f"{name}_prim"][col]) == pytest.approx(ref, abs=1e-5), name
        assert float(oth[f"{name}_super"][col]) == pytest.approx(ref, abs=1e-5), name
