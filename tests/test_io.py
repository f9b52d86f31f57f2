"""ecn.io.atomic_write: the one temp-file-then-rename helper."""

from __future__ import annotations

import os
import stat

import pytest

from ecn.io import atomic_write, atomic_write_bytes, atomic_write_text


def test_text_and_bytes_written_without_leftovers(tmp_path):
    out = tmp_path / "a" / "b" / "note.txt"  # parents are created
    assert atomic_write_text(out, "héllo\n") == out
    assert out.read_text(encoding="utf-8") == "héllo\n"
    blob = tmp_path / "blob.bin"
    atomic_write_bytes(blob, b"\x00\x01")
    assert blob.read_bytes() == b"\x00\x01"
    with atomic_write(blob, "wb", suffix=".part") as f:
        f.write(b"new")
    assert blob.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["blob.bin", "note.txt"]


def test_permissions_follow_umask_not_mkstemp(tmp_path):
    mask = os.umask(0o022)
    try:
        out = atomic_write_text(tmp_path / "x.txt", "x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_error_keeps_original_and_removes_temp(tmp_path, exc):
    out = tmp_path / "keep.txt"
    out.write_text("original")
    with pytest.raises(exc), atomic_write(out) as f:
        f.write("half")
        f.flush()
        assert len(list(tmp_path.iterdir())) == 2  # the temp file exists meanwhile
        raise exc("writer failed")
    assert out.read_text() == "original"
    assert list(tmp_path.iterdir()) == [out]


def test_error_on_new_file_leaves_nothing(tmp_path):
    with pytest.raises(ValueError), atomic_write(tmp_path / "new.bin", "wb") as f:
        f.write(b"x")
        raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []


def test_bad_mode():
    with pytest.raises(ValueError, match="mode"), atomic_write("x", "a"):  # type: ignore[arg-type]
        pass
