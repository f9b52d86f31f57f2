"""Registry, CIF-folder reader, castelli reader, records cache, downloads (never the network)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecn.data import DATASETS, ChecksumError, Target, get_spec, load_split
from ecn.data.checksums import sha256_file, verify_file
from ecn.data.download import download, download_perov5


def test_specs():
    p = get_spec("perov5")
    assert p.target_names == ("heat_all", "heat_ref", "dir_gap", "ind_gap")
    assert p.default_target == "heat_all"
    # the authors' 5 Å graph, settled by the ablation ladder (results/table2_ablation/)
    assert p.graph_defaults == {"strategy": "cutoff", "cutoff": 5.0}
    assert p.units["heat_all"] == "eV/cell" and p.units["ind_gap"] == "eV"
    assert set(p.tasks.values()) == {"regression"}
    assert p.splits == ("train", "val", "test")
    assert get_spec("castelli").tasks["gap_is_direct"] == "classification"
    assert get_spec("cif").graph_defaults["strategy"] == "voronoi_radii"
    assert set(DATASETS) >= {"perov5", "castelli", "cif"}
    with pytest.raises(ValueError, match="known"):
        get_spec("nope")
    with pytest.raises(ValueError, match="splits"):
        load_split("perov5", "training")


def test_one_target_type():
    """Every dataset's targets are `ecn.data.Target`; the mp ones name their raw MP column."""
    for spec in DATASETS.values():
        assert spec.targets and all(type(t) is Target for t in spec.targets)
        assert spec.default_target in spec.target_names
        assert spec.target(spec.default_target).name == spec.default_target
    mp = get_spec("mp")
    assert mp.tasks["is_metal"] == "classification" and mp.units["e_form"] == "eV/atom"
    assert mp.target("is_metal").source == "band_gap"
    assert get_spec("perov5").target("heat_all").source is None
    with pytest.raises(ValueError, match="no target"):
        mp.target("heat_all")
    with pytest.raises(ValueError, match="task"):
        Target("x", "eV", "ranking")  # type: ignore[arg-type]


def test_download_failure_keeps_existing_file(tmp_path):
    """A download that fails midway leaves the previous file and no partial file."""

    class Broken:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self, n):
            raise OSError("connection reset")

    dest = tmp_path / "x.csv"
    dest.write_text("old")
    with pytest.raises(OSError, match="reset"):
        download("http://example.invalid/x.csv", dest, None, opener=lambda url, timeout: Broken())
    assert dest.read_text() == "old" and list(tmp_path.iterdir()) == [dest]


def _write_folder(folder: Path, structures, header: str | None = None) -> None:
    lines = [header] if header else []
    for k, s in enumerate(structures):
        (folder / f"m{k}.cif").write_text(s.to(fmt="cif"))
        lines.append(f"m{k},{k + 0.5},{-k}")
    (folder / "id_prop.csv").write_text("\n".join(lines) + "\n")


def test_cif_folder_targets_and_cache(tmp_path, BaTiO3, NaCl, Si):
    _write_folder(tmp_path, [BaTiO3, NaCl, Si] * 4)
    first = load_split("cif", "all", path=str(tmp_path))
    assert first.target_names == ("target", "target_2")  # column 1 is `target` at any width
    assert len(first) == 12 and first.records[1].targets == {"target": 1.5, "target_2": -1.0}
    assert first.info["records_cache"].startswith("written")
    second = load_split("cif", "all", path=str(tmp_path))
    assert second.info["records_cache"].startswith("hit")
    assert second.checksum == first.checksum
    for a, b in zip(first.records, second.records, strict=False):
        assert a.id == b.id and a.targets == b.targets
        np.testing.assert_array_equal(a.structure.lattice.matrix, b.structure.lattice.matrix)
        np.testing.assert_array_equal(a.structure.frac_coords, b.structure.frac_coords)
        assert [str(x.specie) for x in a.structure] == [str(x.specie) for x in b.structure]
    limited = load_split("cif", "all", limit=5, path=str(tmp_path))
    assert [r.id for r in limited.records] == [r.id for r in first.records[:5]]
    assert limited.checksum != first.checksum
    # a changed CIF changes the checksum (no stale cache hit)
    (tmp_path / "m0.cif").write_text(NaCl.to(fmt="cif"))
    third = load_split("cif", "all", path=str(tmp_path))
    assert third.checksum != first.checksum
    # seeded 80/10/10 split partitions the rows
    parts = [load_split("cif", s, path=str(tmp_path)).ids for s in ("train", "val", "test")]
    assert sorted(i for p in parts for i in p) == sorted(first.ids) and [len(p) for p in parts] == [
        10,
        1,
        1,
    ]


def test_cif_folder_header_names(tmp_path, BaTiO3):
    _write_folder(tmp_path, [BaTiO3], header="id,e_form,gap")
    s = load_split("cif", "all", path=str(tmp_path), required=["gap"])
    assert s.target_names == ("e_form", "gap") and s.records[0].targets["e_form"] == 0.5


def test_cif_needs_path():
    with pytest.raises(ValueError, match="path"):
        load_split("cif", "all")


def test_castelli_reader(shared_data_dir):
    s = load_split("castelli", "test", limit=30)
    assert len(s) + len(s.rejected) == 30
    r = s.records[0]
    assert r.id.startswith("castelli-")
    assert set(r.targets) >= {"e_form", "gap_gllbsc", "gap_is_direct"}
    assert r.targets["gap_is_direct"] in (0.0, 1.0)


def test_verify_file_mismatch(tmp_path):
    f = tmp_path / "perov_5" / "val.csv"
    f.parent.mkdir()
    f.write_text("not the real file\n")
    with pytest.raises(ChecksumError, match=r"perov_5/val.csv"):
        verify_file(f)
    other = tmp_path / "x" / "unknown.csv"
    other.parent.mkdir()
    other.write_text("a\n")
    assert verify_file(other) == sha256_file(other)  # no recorded hash: accepted


def test_download_file_url(tmp_path):
    src = tmp_path / "src.csv"
    src.write_bytes(b"a,b\n1,2\n")
    good = sha256_file(src)
    out = download(src.as_uri(), tmp_path / "out" / "x.csv", good)
    assert out.read_bytes() == src.read_bytes()
    with pytest.raises(ChecksumError, match="mismatch"):
        download(src.as_uri(), tmp_path / "out" / "y.csv", "0" * 64)
    assert not (tmp_path / "out" / "y.csv").exists()
    assert not list((tmp_path / "out").glob("*.part"))


def test_download_perov5_with_fake_opener(perov5_dir, tmp_path):
    """The CDVAE URLs are formed correctly and val/test are hash-checked; no network."""
    seen = []

    class Resp:
        def __init__(self, data: bytes):
            self.data, self.pos = data, 0

        def read(self, n: int) -> bytes:
            chunk = self.data[self.pos : self.pos + n]
            self.pos += n
            return chunk

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    def opener(url, timeout=None):
        seen.append(url)
        split = url.rsplit("/", 1)[1]
        return Resp((perov5_dir / split).read_bytes())

    folder = download_perov5(tmp_path / "dl", splits=("val", "test"), opener=opener)
    assert seen == [
        "https://raw.githubusercontent.com/txie-93/cdvae/main/data/perov_5/val.csv",
        "https://raw.githubusercontent.com/txie-93/cdvae/main/data/perov_5/test.csv",
    ]
    assert sha256_file(folder / "test.csv") == sha256_file(perov5_dir / "test.csv")
    # already present and verified: no second fetch
    download_perov5(tmp_path / "dl", splits=("val",), opener=opener)
    assert len(seen) == 2

    def bad_opener(url, timeout=None):
        return Resp(b"corrupted")

    with pytest.raises(ChecksumError):
        download_perov5(tmp_path / "dl2", splits=("val",), opener=bad_opener)
