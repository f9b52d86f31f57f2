"""The rows of the paper's tables: which model variants they compare and the paper's numbers.

A row is a :class:`Variant`: a label, a model named in the one variant encoding
(``ecn.nn.spec.ModelSpec``, as ``ecn bench train`` names models) and the paper's number.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecn.nn.spec import ModelSpec

__all__ = [
    "PEROV5_OFFICIAL_TRAIN",
    "TABLE1",
    "TABLE1_CONFIG_ROWS",
    "TABLE1_PAPER",
    "TABLE1_PAPER_PRECISION",
    "TABLE1_PAPER_TRAIN_NOTE",
    "TABLE1_SEEDED",
    "TABLE1_TARGETS",
    "TABLE1_UNITS",
    "table1_seeds",
    "TABLE2",
    "Variant",
    "select",
]


@dataclass(frozen=True)
class Variant:
    """One row of a table: its label, its model (a ``ModelSpec`` name such as ``ecn-slambda``
    or ``cgcnn``) and the paper's test MAE (None: not reported there); for a row trained from
    a config file, that file and its runs' name (``run``)."""

    label: str
    name: str
    paper_mae: float | None = None
    run_prefix: str | None = None
    config: str | None = None

    @property
    def run(self) -> str:
        """Run directories' name before ``_seed<k>``: the slug, or `run_prefix` for a row
        trained from its `config` file (``scripts/config_queue.sh CONFIG NAME TARGET:SEED``)
        rather than by ``ecn reproduce``, which only collects its finished runs."""
        return self.run_prefix or self.slug

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec.parse(self.name)

    @property
    def model(self) -> str:
        """``ecn.nn.MODELS`` key."""
        return self.spec.model

    @property
    def group(self) -> str | None:
        """ECN's group (None for the baselines)."""
        return self.spec.group

    @property
    def slug(self) -> str:
        """``ecn_slambda`` / ``cgcnn``: run directories, ``--model``, ``--seeds-for``, recipes."""
        return self.spec.slug


# Paper Table 2 (Perov-5 heat_all, eV per cell; test MAE). None = not reported there.
TABLE2: tuple[Variant, ...] = (
    Variant("ECN-SΛ", "ecn-slambda", 0.038),
    Variant("ECN-P-1", "ecn-p1", None),
    Variant("ECN-GΛ", "ecn-glambda", None),
    Variant("MPNN (S_N)", "ecn-sn", None),
    Variant("CGCNN", "cgcnn", 0.047),
    Variant("MEGNet", "megnet", 0.059),
    Variant("SchNet", "schnet"),
)


# Paper Table 1 (Materials Project v2021.05; test MAE, ROC-AUC for is_metal). Order: targets.
TABLE1_TARGETS: tuple[str, ...] = ("e_form", "e_fermi", "magmom_per_atom", "band_gap", "is_metal")
TABLE1_PAPER: dict[str, dict[str, float]] = {
    "ECN-SΛ": {"e_form": 0.046, "e_fermi": 0.281, "magmom_per_atom": 0.106, "band_gap": 0.390},
    "ECN-P-1": {"e_form": 0.052, "e_fermi": 0.303, "magmom_per_atom": 0.108, "band_gap": 0.44},
    "CGCNN": {"e_form": 0.048, "e_fermi": 0.307, "magmom_per_atom": 0.111, "band_gap": 0.399},
    "MEGNet": {"e_form": 0.056, "e_fermi": 0.365, "magmom_per_atom": 0.110, "band_gap": 0.434},
}
#: Paper Table 1, metal/non-metal classification: (metal precision, non-metal precision).
TABLE1_PAPER_PRECISION: dict[str, tuple[float, float]] = {
    "ECN-SΛ": (0.798, 0.832),
    "ECN-P-1": (0.80, 0.84),
    "CGCNN": (0.812, 0.863),
    "MEGNet": (0.721, 0.816),
}
TABLE1_UNITS: dict[str, str] = {
    "e_form": "eV/atom",
    "e_fermi": "eV",
    "magmom_per_atom": "μB/atom",
    "band_gap": "eV",
    "is_metal": "recall metal / non-metal [paper's 'precision']; precision; ROC-AUC",
}
TABLE1_PAPER_TRAIN_NOTE = (
    "the paper trains on MP v2021.05 (78,649 curated structures; its train id list has "
    "62,919); our CSV is an older ~2020 release, so the paper split keeps only the listed ids "
    "we have "
    "(about a third of the paper's training set). Numbers are not directly comparable."
)
#: The paper's four Table 1 rows (CGCNN, MEGNet, ECN-P-1, ECN-SΛ), in Table 2's order.
TABLE1: tuple[Variant, ...] = tuple(v for v in TABLE2 if v.label in TABLE1_PAPER_PRECISION)
#: The cells the paper reports as mean ± std (ECN-SΛ and CGCNN on E_form and band gap): they
#: want the budget's seed count, every other cell one seed (issue 27's plan), so that the
#: table's "not finished" list names what the plan lacks, not 3 seeds of every cell.
TABLE1_SEEDED: frozenset[tuple[str, str]] = frozenset(
    (slug, target) for slug in ("ecn_slambda", "cgcnn") for target in ("e_form", "band_gap")
)


def table1_seeds(v: Variant, target: str, seeds: int) -> int:
    """Seeds the plan wants of row `v` on `target` when the budget asks `seeds` per row."""
    return seeds if (v.slug, target) in TABLE1_SEEDED else min(seeds, 1)


#: Table 1 rows trained from a config file by ``scripts/config_queue.sh`` (the ECN-SΛ of the
#: Table 1 recipe with one change each), shown where their runs are archived in
#: ``results/table1_runs/<target>/<run>_seed<k>``: the continuous model (``ecn train``'s default
#: since issue 26: smooth edge weights and soft cell colours), ECN-SΛ on CGCNN's graph, on that
#: graph's continuous form (``GraphSettings.neighbor_margin``) and with CGCNN's atom encoding.
TABLE1_CONFIG_ROWS: tuple[Variant, ...] = (
    Variant(
        "ECN-SΛ, continuous",
        "ecn-slambda",
        run_prefix="ecn_slambda_continuous",
        config="configs/mp_e_form_continuous_voronoi.yaml",
    ),
    Variant(
        "ECN-SΛ, CGCNN's 8 Å / 12-NN graph",
        "ecn-slambda",
        run_prefix="ecn_slambda_r8n12",
        config="configs/mp_ecn_r8n12.yaml",
    ),
    Variant(
        "ECN-SΛ, continuous, CGCNN's graph (12-NN + 0.5 Å fade)",
        "ecn-slambda",
        run_prefix="ecn_slambda_r8n12_continuous",
        config="configs/mp_ecn_r8n12_continuous.yaml",
    ),
    Variant(
        "ECN-SΛ, CGCNN's atom encoding",
        "ecn-slambda",
        run_prefix="ecn_slambda_cgcnn92",
        config="configs/mp_ecn_cgcnn92.yaml",
    ),
)

#: Perov-5's official training split (CDVAE train.csv), which our assembled split is a third of.
PEROV5_OFFICIAL_TRAIN = 11356


def select(table: tuple[Variant, ...], models: list[str] | None) -> list[Variant]:
    """The rows `models` names (by slug, ``ecn_p1``, or model, ``ecn``); all when None."""
    return [v for v in table if models is None or v.slug in models or v.model in models]
