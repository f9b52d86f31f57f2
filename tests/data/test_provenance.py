"""Source notes and source files name data files relative to the data directory, never by a
local absolute path (they go into every results file)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from ecn.data import load_split, mp
from ecn.settings import data_dir, display_path

FIXTURE = Path(__file__).parent / "fixtures" / "mp_summary_docs.json"
_ABSOLUTE = re.compile(r"(^|[\s(\"'])/\w")  # a "/" that starts a path token


def _assert_no_absolute(split, *local: Path) -> None:
    texts = [split.source_note, *split.source_files, str(split.info.get("training_source", ""))]
    for text in texts:
        assert not _ABSOLUTE.search(text), text
        for d in (data_dir(), *local):
            assert str(d.resolve()) not in text and str(d) not in text, text
    assert not any(f.startswith("/") for f in split.source_files)


def test_display_path(tmp_path, monkeypatch):
    monkeypatch.setenv("ECN_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data" / "perov_5").mkdir(parents=True)
    assert display_path(tmp_path / "data" / "perov_5" / "test.csv") == "perov_5/test.csv"
    assert display_path(tmp_path / "data" / "perov_5") == "perov_5"
    assert display_path("my_cifs/id_prop.csv") == "my_cifs/id_prop.csv"  # relative: as given
    assert display_path(tmp_path / "elsewhere" / "x" / "id_prop.csv") == "x/id_prop.csv"
    assert display_path("/id_prop.csv") == "id_prop.csv"


@pytest.mark.parametrize(
    ("name", "split"),
    [("perov5", "val"), ("perov5", "test"), ("perov5", "train"), ("castelli", "test")],
)
def test_real_split_notes_are_relative(shared_data_dir, name, split):
    loaded = load_split(name, split, limit=3)
    _assert_no_absolute(loaded, shared_data_dir)
    assert all(not Path(f).is_absolute() for f in loaded.source_files)
    assert all((data_dir() / f).is_file() for f in loaded.source_files)


def test_real_split_note_names_files_relative_to_data_dir(shared_data_dir):
    loaded = load_split("castelli", "test", limit=3)
    assert loaded.source_files == ["castelli_perovskites_matminer_subset/test.csv.gz"]
    assert "castelli_perovskites_matminer_subset/test.csv.gz" in loaded.source_note


def test_sample_note_is_relative(tmp_path, monkeypatch):
    monkeypatch.setenv("ECN_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    loaded = load_split("perov5", "val", limit=3)
    assert loaded.source_files == ["resources/perov5_sample.csv.gz"]
    _assert_no_absolute(loaded, tmp_path)


def test_cif_folder_note_is_relative(tmp_path, monkeypatch):
    folder = tmp_path / "my_cifs"
    folder.mkdir()
    nacl = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    (folder / "nacl.cif").write_text(nacl.to(fmt="cif"))
    (folder / "id_prop.csv").write_text("nacl,1.0\n")
    loaded = load_split("cif", "all", path=str(folder))
    assert loaded.source_files == ["my_cifs/id_prop.csv"]
    _assert_no_absolute(loaded, tmp_path)
    monkeypatch.chdir(tmp_path)
    rel = load_split("cif", "all", path="my_cifs", use_cache=False)
    assert rel.source_files == ["my_cifs/id_prop.csv"] and "my_cifs" in rel.source_note


def test_mp_note_is_relative(tmp_path, monkeypatch):
    monkeypatch.setenv("ECN_CACHE_DIR", str(tmp_path / "cache"))
    loaded = mp.load_mp("random0:train", path=FIXTURE)
    assert loaded.source_files == ["fixtures/mp_summary_docs.json"]
    _assert_no_absolute(loaded, FIXTURE.parent)
