"""Materials Project dataset `mp`: readers, the paper's §8 curation, its splits and Table 1 targets.

Modules: `spec` (registry entry: name, targets, graph settings, split names), `sources` (CSV and
summary-document readers, target derivation), `curation` (§8 curation, facts cache, report),
`splits` (paper id lists, seeded random split, split names), `loader` (records of one split:
`load`, `load_mp`) and `fetch` (download through `mp-api`). Public names are re-exported here.

Sources (all become one table: id, raw DFT values, structure):
- the `mp_cgcnn_36k` CSV in the data directory (36,737 MP structures with DFT targets, an MP
  release from ~2020 — older than the paper's v2021.05; see ../shared/data/SOURCES.md),
  checksum-verified;
- a JSON / JSON-lines dump of Materials Project summary documents, the format the official
  `mp-api` client returns (`ecn data fetch mp` writes one);
- `fetch_summary_docs`, which downloads such a dump through `mp-api` (optional extra `ecn[mp]`).

Targets (Table 1 of the paper):

| name | from | unit | task |
|---|---|---|---|
| e_form | formation_energy_per_atom | eV/atom | regression |
| e_fermi | efermi | eV | regression |
| band_gap | band_gap, insulators only (band_gap > 0; NaN for metals) | eV | regression |
| is_metal | band_gap == 0 -> 1, band_gap > 0 -> 0 | - | classification |
| magmom_per_atom | abs(total_magnetization) / n_sites | μB/atom | regression |

Missing or non-numeric values (e.g. `efermi` == "None") are NaN and drop per target, not per row.

Hubbard U: MP computes oxides and fluorides containing Co, Cr, Fe, Mn, Mo, Ni, V or W with GGA+U
(`ecn.elements.hubbard_u_flag`); the dataset's default graph settings switch the `hubbard_u` node
feature on (the paper adds it as a binary atom feature, §7).
"""

from ecn.data.mp.curation import (
    DEDUPE_KEYS,
    Curated,
    CurationOptions,
    curate,
    curate_report,
    facts_cache_path,
    output_dir,
)
from ecn.data.mp.fetch import (
    SUMMARY_FIELDS,
    doc_to_jsonable,
    fetch_summary_docs,
    read_id_file,
    write_summary_docs,
)
from ecn.data.mp.loader import load, load_mp
from ecn.data.mp.sources import (
    CSV_COLUMNS,
    MP_CSV,
    RAW_TARGETS,
    SourceTable,
    default_csv_path,
    derive_targets,
    iter_summary_docs,
    read_cgcnn_csv,
    read_source,
    read_summary_docs,
)
from ecn.data.mp.spec import (
    DEFAULT_TARGET,
    DESCRIPTION,
    GRAPH_SETTINGS,
    NAME,
    NOTES,
    SPLITS,
    TARGET_NAMES,
    TARGETS,
)
from ecn.data.mp.splits import (
    PAPER_SPLIT_DIR,
    PAPER_SPLIT_FILE,
    PAPER_SPLIT_SHA256,
    PARTS,
    RANDOM_FRACTIONS,
    SPLIT_MODES,
    make_splits,
    paper_split_ids,
    parse_split,
    split_name,
    split_note,
)

__all__ = [
    "CSV_COLUMNS",
    "DEDUPE_KEYS",
    "DEFAULT_TARGET",
    "DESCRIPTION",
    "GRAPH_SETTINGS",
    "MP_CSV",
    "NAME",
    "NOTES",
    "PAPER_SPLIT_DIR",
    "PAPER_SPLIT_FILE",
    "PAPER_SPLIT_SHA256",
    "PARTS",
    "RANDOM_FRACTIONS",
    "RAW_TARGETS",
    "SPLITS",
    "SPLIT_MODES",
    "SUMMARY_FIELDS",
    "TARGETS",
    "TARGET_NAMES",
    "Curated",
    "CurationOptions",
    "SourceTable",
    "curate",
    "curate_report",
    "default_csv_path",
    "derive_targets",
    "doc_to_jsonable",
    "facts_cache_path",
    "fetch_summary_docs",
    "iter_summary_docs",
    "load",
    "load_mp",
    "make_splits",
    "output_dir",
    "paper_split_ids",
    "parse_split",
    "read_cgcnn_csv",
    "read_id_file",
    "read_source",
    "read_summary_docs",
    "split_name",
    "split_note",
    "write_summary_docs",
]
