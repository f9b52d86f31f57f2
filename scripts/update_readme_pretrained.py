"""Write the shipped models' table into README.md between its pretrained-table markers.

    python scripts/update_readme_pretrained.py       # after `ecn models package ...`

`tests/inference/test_pretrained.py` checks that the README's table is the generated one.
"""

from __future__ import annotations

from pathlib import Path

from ecn.experiments.pretrained_report import pretrained_table

README = Path(__file__).resolve().parents[1] / "README.md"
#: Our own baselines' numbers (``results/table1/table1.json``, ``results/table2/table2.json``)
#: for the "CGCNN here, same split" column.
RESULTS = README.parent / "results"
START, END = "<!-- pretrained-table:start -->", "<!-- pretrained-table:end -->"


def render(text: str) -> str:
    """`text` with the block between the markers replaced by the generated table."""
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n" + "\n".join(pretrained_table(results=RESULTS)) + f"\n{END}{tail}"


if __name__ == "__main__":
    README.write_text(render(README.read_text()))
    print(f"updated {README}")
