"""Rewrite local absolute data paths in committed results files as paths relative to the data
directory (what ``ecn.settings.display_path`` writes for new runs since ecn 0.2).

Results committed before then named files by their absolute path on the machine that ran them
("/work/shared/data/perov_5"). Re-running weeks of training to change a label is pointless, so
this rewrites the label, nothing else: every occurrence of ``<data dir>/`` in the text files
under ``results/`` becomes the relative path. Run: ``python scripts/relativize_results.py``
(``--check`` exits 1 if a file still holds an absolute data path).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ecn.io import atomic_write_text
from ecn.settings import data_dir

ROOT = Path(__file__).resolve().parents[1] / "results"
SUFFIXES = {".json", ".md", ".csv", ".yaml"}


def prefixes() -> list[str]:
    """The data directory as written in older results (resolved and as configured)."""
    d = data_dir()
    return sorted({f"{d}/", f"{d.resolve()}/", "/work/shared/data/"}, key=len, reverse=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report; exit 1 if any remain")
    args = ap.parse_args()
    changed = []
    for p in sorted(ROOT.rglob("*")):
        if not p.is_file() or p.suffix not in SUFFIXES:
            continue
        text = p.read_text()
        new = text
        for pre in prefixes():
            new = new.replace(pre, "")
        if new != text:
            changed.append(p)
            if not args.check:
                atomic_write_text(p, new)
    verb = "hold" if args.check else "rewrote"
    print(f"{verb} absolute data paths: {len(changed)} files")
    for p in changed:
        print(f"  {p.relative_to(ROOT.parent)}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
