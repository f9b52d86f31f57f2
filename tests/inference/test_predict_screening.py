"""``ecn predict`` for screening (issue 25 items 1-3): the output checked before any work and
streamed (``--resume``), every input accounted for with a unique id, messages naming the cause.

Every input is crafted here (tmp_path); the model is the shipped ``perov5-heat_all``."""

from __future__ import annotations

import csv
import gzip
import os
import time
import warnings
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from ecn.cli import app
from ecn.data.validate import BadInput, parse_cif, shorten
from ecn.inference import inputs as inputs_mod
from ecn.inference.inputs import read_inputs
from ecn.inference.predictor import Predictor

MODEL = "perov5-heat_all"
INTERNAL = (
    "cython",
    "NULL pointer",
    "modulo",
    "zip()",
    "MemoryError",
    "Traceback",
    "no structures",
)


def _srtio3(a: float = 3.9) -> Structure:
    return Structure(
        Lattice.cubic(a),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


@pytest.fixture(scope="module")
def cif() -> str:
    return _srtio3().to(fmt="cif")


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.load(MODEL)


def _predict(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, ["predict", MODEL, *args])
    return res.exit_code, res.stdout, res.stderr


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _folder(tmp_path: Path, cif: str, n: int = 3) -> Path:
    folder = tmp_path / "cifs"
    folder.mkdir()
    for k in range(n):
        (folder / f"s{k}.cif").write_text(_srtio3(3.8 + 0.1 * k).to(fmt="cif"))
    return folder


# -- item 1: the output ------------------------------------------------------------------------


def _bad_out(kind: str, tmp_path: Path) -> tuple[str, Path | None]:
    """An --out value of `kind`, and a file whose content must be left as it is."""
    target = tmp_path / "target.txt"
    target.write_text("keep me")
    if kind == "folder":
        return str(tmp_path), None
    if kind == "empty":
        return "", None
    if kind == "unwritable":
        return "/proc/x.csv", None
    if kind == "symlink":
        (tmp_path / "link.csv").symlink_to(target)
        return str(tmp_path / "link.csv"), target
    if kind == "symlink-to-device":
        (tmp_path / "null.csv").symlink_to("/dev/null")
        return str(tmp_path / "null.csv"), None
    if kind == "parent-is-a-file":
        return str(target / "p.csv"), target
    if kind == "fifo":
        os.mkfifo(tmp_path / "fifo.csv")
        return str(tmp_path / "fifo.csv"), None
    assert kind == "partial-is-a-link"
    (tmp_path / "p.csv.partial").symlink_to(target)
    return str(tmp_path / "p.csv"), target


@pytest.mark.parametrize(
    "kind",
    [
        "folder",
        "empty",
        "unwritable",
        "symlink",
        "symlink-to-device",
        "fifo",
        "partial-is-a-link",
        "parent-is-a-file",
    ],
)
def test_bad_out_is_refused_before_any_work(kind, tmp_path, cif, monkeypatch):
    (tmp_path / "x.cif").write_text(cif)
    out, keep = _bad_out(kind, tmp_path)
    before = {p: os.lstat(p).st_mode for p in tmp_path.iterdir()}

    def no_work(*a, **k):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(Predictor, "load", no_work)
    code, stdout, stderr = _predict(str(tmp_path / "x.cif"), "--out", out)
    assert code == 2, (stdout, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --out"), stderr
    assert "Traceback" not in stderr + stdout and ".probe" not in stderr  # names the path given
    assert {p: os.lstat(p).st_mode for p in tmp_path.iterdir()} == before  # nothing replaced
    if keep is not None:
        assert keep.read_text() == "keep me"


def test_regular_out_is_written_and_replaced(tmp_path, cif):
    """Negative control: a regular file (and a new path in a new folder) is fine."""
    (tmp_path / "x.cif").write_text(cif)
    out = tmp_path / "old.csv"
    out.write_text("old content\n")
    code, stdout, stderr = _predict(str(tmp_path / "x.cif"), "--out", str(out))
    assert code == 0, stderr
    assert [r["id"] for r in _rows(out)] == ["x"] and "1 rows, 0 with errors" in stdout
    new = tmp_path / "sub" / "new.csv"
    assert _predict(str(tmp_path / "x.cif"), "-o", str(new))[0] == 0 and new.is_file()
    assert not (tmp_path / "sub" / "new.csv.partial").exists()


def test_rows_are_streamed_and_resume_skips_finished_inputs(tmp_path, cif, monkeypatch):
    folder = _folder(tmp_path, cif, 4)
    out = tmp_path / "p.csv"
    real = Predictor.predict_items
    calls: list[list[str]] = []

    def interrupted(self, items, *a, **k):
        calls.append([it.id for it in items])
        if sum(1 for c in calls if c) == 3:  # the third batch (an empty call checks options)
            raise KeyboardInterrupt
        return real(self, items, *a, **k)

    monkeypatch.setattr(Predictor, "predict_items", interrupted)
    code, _, stderr = _predict(str(folder), "-o", str(out), "--batch-size", "1")
    assert code == 130 and "--resume" in stderr
    partial = tmp_path / "p.csv.partial"
    assert not out.exists() and [r["id"] for r in _rows(partial)] == ["s0", "s1"]
    # a line cut short by the interruption is dropped on resume
    with partial.open("a") as fh:
        fh.write("s2,half-writ")
    calls.clear()
    code, stdout, stderr = _predict(str(folder), "-o", str(out), "--batch-size", "1", "--resume")
    assert code == 0, stderr
    assert [c for c in calls if c] == [["s2"], ["s3"]]  # only the inputs without a row
    assert [r["id"] for r in _rows(out)] == ["s0", "s1", "s2", "s3"]
    assert all(r["prediction"] and not r["error"] for r in _rows(out))
    assert not partial.exists() and "2 kept from the earlier run" in stdout
    # resuming from the complete output: nothing left to do, output unchanged
    calls.clear()
    assert _predict(str(folder), "-o", str(out), "--resume")[0] == 0
    assert not any(calls) and len(_rows(out)) == 4
    # another averaging mode writes other columns: refused, the output left as it is
    code, _, stderr = _predict(str(folder), "-o", str(out), "--resume", "--average", "origins")
    assert code == 2 and "columns" in stderr and len(_rows(out)) == 4
    # negative control: without --resume every input is predicted again
    calls.clear()
    assert _predict(str(folder), "-o", str(out))[0] == 0
    assert sorted(i for c in calls for i in c) == ["s0", "s1", "s2", "s3"]


def test_predict_help_documents_exit_codes():
    res = CliRunner().invoke(app, ["predict", "--help"])
    text = " ".join(res.output.split())
    assert "Exit codes" in text and "130" in text and "--resume" in text


# -- item 2: every input accounted for -----------------------------------------------------------


def test_every_folder_entry_and_path_gets_a_row(tmp_path, cif, predictor):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.cif").write_text(cif)
    (folder / "zero.cif").symlink_to("/dev/zero")
    (folder / "gone.cif").symlink_to(tmp_path / "nowhere.cif")
    (folder / "sub.cif").mkdir()
    os.mkfifo(folder / "pipe.cif")
    (folder / "notes.txt").write_text("not picked up by the folder scan")
    t0 = time.perf_counter()
    items = read_inputs([folder, folder / "zero.cif", tmp_path / "missing.cif"])
    assert time.perf_counter() - t0 < 5  # nothing blocks on the FIFO or reads /dev/zero
    rows = predictor.predict_items(items)
    by_source = {r["source"]: r["error"] for r in rows}
    assert len(rows) == 7 and len({r["id"] for r in rows}) == 7
    assert by_source[str(folder / "good.cif")] == ""
    assert "symbolic link to a character device (/dev/zero)" in by_source[str(folder / "zero.cif")]
    assert "broken symbolic link" in by_source[str(folder / "gone.cif")]
    assert "folder" in by_source[str(folder / "sub.cif")]
    assert "FIFO" in by_source[str(folder / "pipe.cif")]
    assert by_source[str(tmp_path / "missing.cif")] == "file not found"
    # given on its own, the link is reported as what it is, not as "file not found"
    (alone,) = read_inputs([folder / "zero.cif"])
    assert "character device" in alone.error and "not found" not in alone.error


def test_unreadable_file_gets_an_error_row(tmp_path, cif, monkeypatch, predictor):
    (tmp_path / "a.cif").write_text(cif)
    (tmp_path / "b.cif").write_text(cif)
    real = inputs_mod._read_bounded

    def denied(path):
        if path.name == "a.cif":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(inputs_mod, "_read_bounded", denied)
    rows = predictor.predict_items(read_inputs([tmp_path]))
    assert [(r["id"], r["error"]) for r in rows] == [
        ("a", "cannot read file: permission denied"),
        ("b", ""),
    ]


def test_ids_are_unique_and_documented(tmp_path, cif):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "dup.cif").write_text(cif)
    (one / "dup.cif.gz").write_bytes(gzip.compress(cif.encode()))
    (one / "solo.cif").write_text(cif)
    (two / "solo.cif").write_text(cif)
    (two / "lone.cif").write_text(cif)
    items = read_inputs([one, two, two / "lone.cif"])
    ids = [it.id for it in items]
    assert ids == [
        "dup.cif",
        "dup.cif.gz",
        str(one / "solo.cif"),
        str(two / "lone.cif"),
        str(two / "solo.cif"),
        f"{two / 'lone.cif'}#2",
    ]
    # negative control: a name that collides with nothing keeps its plain id
    assert [it.id for it in read_inputs([one / "dup.cif", two / "lone.cif"])] == ["dup", "lone"]


def test_multi_block_cif_gives_a_row_per_block_up_to_the_cap(tmp_path, cif, predictor):
    body = cif.split("data_SrTiO3\n", 1)[1]  # drop the data_ line
    text = f"data_first\n{body}\ndata_second\n{body}\ndata_publ\n_journal_year 2020\n"
    (tmp_path / "multi.cif").write_text(text)
    (tmp_path / "single.cif").write_text(cif)
    rows = predictor.predict_items(read_inputs([tmp_path]))
    assert [(r["id"], r["error"]) for r in rows] == [
        ("multi:first", ""),
        ("multi:second", ""),
        ("single", ""),
    ]
    # the same crystal three times (float32 in one batch: equal up to summation order)
    first, second, single = (float(r["prediction"]) for r in rows)
    assert first == pytest.approx(single, rel=1e-6) and second == pytest.approx(single, rel=1e-6)
    # a data_ line inside a ;-text field is not a block
    (tmp_path / "multi.cif").write_text(f"data_only\n_note\n;\ndata_fake\n;\n{body}")
    assert [it.id for it in read_inputs([tmp_path / "multi.cif"])] == ["multi"]
    # beyond the cap: one error row, found without parsing the blocks
    many = tmp_path / "many.cif"
    many.write_text("".join(f"data_b{k}\n{body}\n" for k in range(2000)))
    t0 = time.perf_counter()
    rows = predictor.predict_items(read_inputs([many]))
    assert time.perf_counter() - t0 < 2.0
    assert (
        len(rows) == 1
        and f"more than {inputs_mod.MAX_CIF_BLOCKS} data blocks" in (rows[0]["error"])
    )


# -- item 3: messages that name the cause --------------------------------------------------------


def _write(kind: str, tmp_path: Path, cif: str) -> Path:
    """A crafted bad input of `kind`."""
    f = tmp_path / f"{kind}.cif"
    if kind == "length-1e30":
        f.write_text(cif.replace("_cell_length_a   3.90000000", "_cell_length_a   1e30"))
    elif kind == "huge-cell-cif":
        f.write_text(cif.replace("3.90000000", "4056.00000000"))
    elif kind == "huge-cell-poscar":
        f = tmp_path / "POSCAR_huge"
        f.write_text(_srtio3(4056.0).to(fmt="poscar"))
    elif kind == "truncated-mid-row":
        f.write_text(cif[:-30])
    elif kind == "truncated-in-header":
        f.write_text(cif[: cif.index("_atom_site_fract_x")])
    elif kind == "utf16":
        f.write_bytes(cif.encode("utf-16"))
    elif kind == "utf16-no-bom":
        f.write_bytes(cif.encode("utf-16-le"))
    else:
        assert kind == "xyz-no-lattice"
        f = tmp_path / "nacl.extxyz"
        f.write_text("2\nProperties=species:S:1:pos:R:3\nNa 0 0 0\nCl 2.8 0 0\n")
    return f


@pytest.mark.parametrize(
    ("kind", "expect"),
    [
        ("length-1e30", "cell too large: _cell_length_a = 1e+30"),
        ("huge-cell-cif", "cell too large: _cell_length_a = 4056"),
        ("huge-cell-poscar", "cell too large"),
        ("truncated-mid-row", "looks truncated"),
        ("truncated-in-header", "truncated or incomplete"),
        ("utf16", "UTF-16"),
        ("utf16-no-bom", "UTF-16"),
        ("xyz-no-lattice", "without a lattice"),
    ],
)
def test_messages_name_the_cause(kind, expect, tmp_path, cif, predictor):
    assert "3.90000000" in cif  # the crafted edits below apply
    f = _write(kind, tmp_path, cif)
    t0 = time.perf_counter()
    (row,) = predictor.predict_items(read_inputs([f]))
    assert time.perf_counter() - t0 < 5.0  # rejected up front, no huge allocation
    assert expect in row["error"], row["error"]
    assert not any(s in row["error"] for s in INTERNAL), row["error"]
    assert len(row["error"]) <= 200 and "\n" not in row["error"]


def test_good_inputs_of_the_same_kinds_still_predict(tmp_path, cif, predictor):
    """Negative control for the checks above: a 3.9 Å cell, a 100 Å cell, a whole file."""
    (tmp_path / "ok.cif").write_text(cif)
    (tmp_path / "POSCAR_big").write_text(_srtio3(100.0).to(fmt="poscar"))
    (tmp_path / "bom.cif").write_bytes(cif.encode("utf-8-sig"))
    rows = predictor.predict_items(read_inputs([tmp_path]))
    assert [r["error"] for r in rows] == ["", "", ""], rows


def test_parse_cif_names_the_cause_without_internal_text(cif):
    for text, expect in [
        (cif[:-30], "truncated"),
        ("data_x\n_cell_length_a 4\n", "no atom sites"),
        ("hello", "no cell"),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(BadInput, match=expect) as info:
                parse_cif(text)
        assert not any(s in str(info.value) for s in INTERNAL)


def test_long_messages_are_cut_at_a_word_boundary():
    words = "the quick brown fox jumps over the lazy dog " * 20
    short = shorten(words, 60)
    assert len(short) <= 60 and short.endswith(" ...")
    kept = short[: -len(" ...")]
    assert words.startswith(kept) and words[len(kept)] == " "  # cut between words
    assert shorten("a short message") == "a short message"  # negative control: unchanged
    assert shorten("two\nlines") == "two lines"
