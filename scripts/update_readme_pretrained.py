"""Write the shipped models' table into README.md between its pretrained-table markers, the
Table 1 side-by-side summary (from results/table1/table1.json) and the shipped models'
continuity (from results/continuity/*.json) between theirs.

    python scripts/update_readme_pretrained.py       # after `ecn models package ...` or
                                                     # `ecn reproduce table1`

`tests/inference/test_pretrained.py` checks that the README's table is the generated one.
"""

from __future__ import annotations

import json
from pathlib import Path

from ecn.experiments.pretrained_report import continuity_table, pretrained_table
from ecn.experiments.tables import table1_side_by_side

README = Path(__file__).resolve().parents[1] / "README.md"
#: Our own baselines' numbers (``results/table1/table1.json``, ``results/table2/table2.json``)
#: for the "CGCNN here, same split" column.
RESULTS = README.parent / "results"
START, END = "<!-- pretrained-table:start -->", "<!-- pretrained-table:end -->"
T1_START, T1_END = "<!-- table1-summary:start -->", "<!-- table1-summary:end -->"
C_START, C_END = "<!-- continuity-table:start -->", "<!-- continuity-table:end -->"


def _replace(text: str, start: str, end: str, lines: list[str]) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n" + "\n".join(lines) + f"\n{end}{tail}"


def render(text: str) -> str:
    """`text` with the blocks between the markers replaced by the generated tables."""
    text = _replace(text, START, END, pretrained_table(results=RESULTS))
    table1 = RESULTS / "table1" / "table1.json"
    if T1_START in text and table1.is_file():
        text = _replace(text, T1_START, T1_END, table1_side_by_side(json.loads(table1.read_text())))
    if C_START in text:
        text = _replace(text, C_START, C_END, continuity_table(RESULTS / "continuity"))
    return text


if __name__ == "__main__":
    README.write_text(render(README.read_text()))
    print(f"updated {README}")
