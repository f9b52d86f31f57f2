"""Where the experiments write in ``results/``: one folder per topic, named here once.

The tables of a topic and their figures share its folder (``results/table1/table1.md``; an
``ecn report --name NAME`` table goes to ``results/NAME/``); the run records a table is
rewritten from stay in ``results/<table>_runs/`` beside it, where the queues expect them.
``ecn results index`` describes every folder in ``results/README.md``
(:mod:`ecn.experiments.results_index`).
"""

from __future__ import annotations

__all__ = ["ABLATION_DIR", "TABLE1_DIR", "TABLE1_PARKED", "TABLE2_DIR"]

#: Paper Table 1 (Materials Project): the summary and one table per target.
TABLE1_DIR = "table1"
#: Unfinished Table 1 runs paused at a session cap, kept so the next session resumes them.
TABLE1_PARKED = "table1_parked"
#: Paper Table 2 (Perov-5), its training-size tables and the size curve.
TABLE2_DIR = "table2"
#: The Perov-5 ablation ladder.
ABLATION_DIR = "table2_ablation"
