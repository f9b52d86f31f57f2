"""sha256 of every data file we know (values from ../shared/data/SOURCES.md).

Why: a silently different file (a re-exported CSV, a truncated download) would change every
number downstream; a mismatch is an error that names the file.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from ecn import io

logger = logging.getLogger(__name__)

# Keyed by "<dataset directory>/<file name>" relative to the data directory.
SHA256: dict[str, str] = {
    "perov_5/val.csv": "326f401219901270374b71e2faff63df3a29a99fd26f469993b9f476b693daf2",
    "perov_5/test.csv": "a85878c685037f0a578257f6d4fcdde00e968dbab73c5f1e90ecef65218513f6",
    # perov_5/train.csv: no copy was obtainable, so no recorded hash (SOURCES.md).
    "castelli_perovskites_matminer_subset/test.csv.gz": "0b30aa79dd430a8fe0663bd4884dd2047a54351fbad85bf75caa4b5587846e22",  # noqa: E501
    "castelli_perovskites_matminer_subset/valid.csv.gz": "93b4cf1325ab4b51a9688b4387218eed1b2a460f1736f2f04eeba67468218bb1",  # noqa: E501
    "mp_cgcnn_36k/mp_cgcnn_36k.csv.gz": "3ef92c8d1313bb55d0a08af49295150dfe7c4451594079fb1e2b072f3a339cbe",  # noqa: E501
    # Package data written by scripts/make_perov5_sample.py (deterministic gzip).
    "resources/perov5_sample.csv.gz": "722c05e4672903f1f89ac48dd95dbc21c1fd000f2eaca4746b551f5633666585",  # noqa: E501
}

# Hashes of the decompressed bytes of the .gz copies (equal to the blobs in the source repos).
SHA256_DECOMPRESSED: dict[str, str] = {
    "castelli_perovskites_matminer_subset/test.csv": "44327d22d330a82cb2daa10549c3ad8881018b6e6f56371f19eec28ec6cf8114",  # noqa: E501
    "castelli_perovskites_matminer_subset/valid.csv": "030df47a82d9071fba721eeb8af2b412be947ece28dbca5e1841d3c8f1b9187b",  # noqa: E501
    "mp_cgcnn_36k/mp_cgcnn_36k.csv": "456359e4109c402c69456bd42df3a705efa828edf779d2a0201f1d8f583ccdf2",  # noqa: E501
}

_memo: dict[tuple[str, int, int], str] = {}


class ChecksumError(ValueError):
    """A data file's sha256 differs from the recorded value."""


def sha256_file(path: str | Path) -> str:
    """sha256 hex digest of a file (memoised on path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _memo:
        _memo[key] = io.sha256_file(p)
    return _memo[key]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def combine(parts: list[str]) -> str:
    """One sha256 over an ordered list of strings (file hashes, split name, options)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def expected_sha256(path: str | Path) -> str | None:
    """Recorded hash for a file, looked up by its last two path components."""
    p = Path(path)
    return SHA256.get(f"{p.parent.name}/{p.name}")


def verify_file(path: str | Path, expected: str | None = None) -> str:
    """Hash `path` and compare with `expected` (default: the table). Returns the hash.

    Raises:
        ChecksumError: the file differs from the recorded hash.
    """
    p = Path(path)
    digest = sha256_file(p)
    want = expected if expected is not None else expected_sha256(p)
    if want is None:
        logger.debug("no recorded sha256 for %s (sha256=%s)", p, digest)
    elif digest != want:
        raise ChecksumError(
            f"checksum mismatch for {p}: sha256 is {digest}, expected {want} "
            "(see ../shared/data/SOURCES.md). The file is corrupt or a different version; "
            "replace it, or pass verify=False to load it anyway."
        )
    return digest
