"""Checksum-verified downloads into the user cache (for datasets with a public URL).

Never called implicitly by a load (machines here have no network and a hanging request is worse
than a clear message); `ecn data download perov5` or `download_perov5()` does it on request.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from ecn.data.checksums import SHA256, ChecksumError, sha256_file
from ecn.data.perov5 import CDVAE_URL, PEROV5_DIR
from ecn.io import atomic_write
from ecn.settings import user_cache_dir

logger = logging.getLogger(__name__)

Opener = Callable[..., object]


def download(
    url: str,
    dest: str | Path,
    sha256: str | None,
    *,
    opener: Opener | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch `url` to `dest` (temp file + rename) and check its sha256.

    `sha256=None` means no recorded hash exists: the file is kept and its hash logged as a
    warning. `opener` defaults to `urllib.request.urlopen` (also serves file:// URLs).

    Raises:
        ChecksumError: the downloaded bytes differ from `sha256` (nothing is kept).
    """
    dest = Path(dest)
    open_url = opener or urllib.request.urlopen
    h = hashlib.sha256()
    with atomic_write(dest, "wb", suffix=".part") as out:
        with open_url(url, timeout=timeout) as resp:  # type: ignore[attr-defined]
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                h.update(chunk)
        digest = h.hexdigest()
        if sha256 is not None and digest != sha256:
            raise ChecksumError(  # raised inside atomic_write: the partial file is removed
                f"checksum mismatch for {url} (-> {dest}): sha256 is {digest}, "
                f"expected {sha256}; nothing was saved"
            )
    if sha256 is None:
        logger.warning("%s has no recorded sha256; downloaded file has sha256=%s", url, digest)
    logger.info("downloaded %s -> %s", url, dest)
    return dest


def download_perov5(
    dest_dir: str | Path | None = None,
    splits: Sequence[str] = ("train", "val", "test"),
    *,
    url_template: str | None = None,
    opener: Opener | None = None,
) -> Path:
    """Download the official CDVAE Perov-5 CSVs into `<user cache>/data/perov_5` (default).

    val/test are checked against the recorded hashes; train.csv has none (no offline copy
    existed to hash), so its hash is logged. Returns the folder.
    """
    folder = Path(dest_dir) if dest_dir is not None else user_cache_dir() / "data" / PEROV5_DIR
    template = url_template or CDVAE_URL
    for split in splits:
        target = folder / f"{split}.csv"
        want = SHA256.get(f"{PEROV5_DIR}/{split}.csv")
        if target.is_file() and want is not None and sha256_file(target) == want:
            logger.info("%s already present and verified", target)
            continue
        download(template.format(split=split), target, want, opener=opener)
    return folder


__all__ = ["ChecksumError", "download", "download_perov5"]
