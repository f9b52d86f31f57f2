"""``ecn results index``: ``results/README.md``, the index a newcomer reads first.

Why generated: a hand-kept list goes stale the day a table moves. This one lists every table,
figure and data file under ``results/``, folder by folder, with what it shows (the table's own
title, or the table a figure or JSON belongs to), the command that regenerates it and the commit
it was produced at (the last commit that changed its content, followed through renames, so a
move is not a new result). Run-record archives (a folder per run with ``config.yaml``,
``results.json``, ``metrics.csv``) are summarised, not listed file by file. What each folder is
for and its default command are in :data:`TOPICS`; a folder not described there is listed under
"Not described yet" rather than left out.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ecn.experiments.layout import ABLATION_DIR, TABLE1_DIR, TABLE1_PARKED, TABLE2_DIR
from ecn.io import atomic_write_text

__all__ = ["TOPICS", "Files", "Topic", "index_markdown", "last_changes", "write_index"]

INDEX = "README.md"
#: The command that writes the index (named in its header).
COMMAND = "ecn results index"
#: Table 1's full regeneration flags (the budget its records were trained under).
_TABLE1 = (
    "ecn reproduce table1 --no-train --seeds 3 --epochs 1000 --patience 25 --threads 1 "
    "--precision 32 --recipe configs/table2_recipe.yaml"
)


def _not_archived(runs: str) -> str:
    """The note of a same-budget table whose runs were not archived (so it cannot be rewritten)."""
    return (
        f"not regenerable: its runs ({runs}) were not archived; written by "
        "scripts/canonical_accuracy.py, since folded into `ecn report RUN... --group-by setup`"
    )


@dataclass(frozen=True)
class Files:
    """Files of a topic (a glob relative to its folder) that another command writes, or whose
    title does not say what they are."""

    pattern: str
    command: str | None = None
    shows: str | None = None


@dataclass(frozen=True)
class Topic:
    """One folder of ``results/``.

    Attributes:
        folder: its path under ``results/``.
        shows: what a reader finds there (one or two sentences).
        command: the command that regenerates its files ("" for run records, which are
            archived by the command of their table; prose where no single command does).
        files: notes on some of its files (first match wins).
    """

    folder: str
    shows: str
    command: str = ""
    files: tuple[Files, ...] = ()

    def note(self, name: str) -> Files | None:
        """The note on file `name` (a path relative to the folder), if any."""
        return next((f for f in self.files if fnmatch.fnmatch(name, f.pattern)), None)


TOPICS: tuple[Topic, ...] = (
    Topic(
        TABLE1_DIR,
        "Paper Table 1 on Materials Project (paper split): ECN-SΛ, ECN-P-1, MPNN, CGCNN and "
        "MEGNet on E_form, E_Fermi, magnetisation, band gap and metal/non-metal; a summary "
        "beside the paper's numbers and one table (with learning curves) per target.",
        _TABLE1,
        (
            Files(
                "*_errors_by_structure.md",
                "python scripts/errors_by_structure.py RUN_A RUN_B --labels A B --out FILE (the "
                "exact line is in the file)",
                "two runs' test MAE side by side by cell size, volume per atom and metal or not",
            ),
            Files(
                "gpu_calls/*",
                "bash scripts/table1_gpu.sh OUT 8, then bash scripts/table1_gpu.sh --unpack DIR",
                "the log, per-run logs and GPU seconds of one call of Table 1's GPU queue",
            ),
        ),
    ),
    Topic(
        "table1_runs",
        "Run records of Table 1 (one folder per target and run), what `ecn reproduce table1 "
        "--no-train` rewrites the tables from on a fresh clone.",
    ),
    Topic(
        TABLE1_PARKED,
        "Table 1 runs paused at their session cap, not finished (config, metrics, last.ckpt, "
        "best.ckpt): the next `ecn reproduce table1` (or scripts/table1_queue.sh) of the same "
        "run resumes each where it stopped and removes its folder once it finishes.",
    ),
    Topic(
        "flat_parked",
        "Slope-penalty runs of scripts/flat_queue.sh paused at their session cap, not finished "
        "(config, metrics, last.ckpt, best.ckpt): the same queue line in a later session resumes "
        "each where it stopped and removes its folder once it finishes.",
    ),
    Topic(
        TABLE2_DIR,
        "Paper Table 2 on Perov-5 on the setup the ablation ladder settled (the authors' 5 Å "
        "graph, 64x4, tuned recipe, early stopping), the same at 25 % and 50 % of the training "
        "split, and test MAE against training-set size. `table2_voronoi.json` is the previous "
        "Table 2 (Voronoi graph): its ECN-GΛ, MEGNet and SchNet rows, not rerun, are carried "
        "into `table2.md`.",
        "ecn reproduce ablation --no-train",
        (
            Files("table2_sizes*", "ecn reproduce sizes"),
            Files(
                "table2_voronoi.json",
                "written by an earlier ecn reproduce table2, kept as the carried rows' source",
                "the previous Table 2 (Voronoi + radii graph), source of the rows carried into "
                "table2.md",
            ),
        ),
    ),
    Topic(
        ABLATION_DIR,
        "The Perov-5 ablation ladder: one ingredient at a time from our earlier ECN-SΛ setup "
        "towards the authors' (graph, schedule, size, the cover with the cell one-hot, the "
        "same-atom branch), each at several groups; selection on validation, test reported. "
        "Also ECN-SΛ with CGCNN's element encoding, and the logs of the ladder's GPU calls.",
        "ecn reproduce ablation --no-train",
        (
            Files(
                "table2_ablation_encoding*",
                "ecn report RUN... --name table2_ablation_encoding --out results/table2_ablation",
            ),
            Files(
                "gpu_calls/*",
                "bash scripts/ablation_gpu.sh OUT 9 16",
                "the log of one call of the ladder's GPU queue (copied from OUT)",
            ),
        ),
    ),
    Topic(
        "table2_ablation_runs",
        "Run records of the ablation ladder (one folder per rung and seed), what `ecn reproduce "
        "ablation --no-train` rewrites the ladder and Table 2 from.",
    ),
    Topic(
        "perov5_cpu_budget",
        "The first Perov-5 comparison of ECN-SΛ, ECN-P-1 and MPNN 64x4 at a 45-minute CPU "
        "budget each, with the three runs' records (written by an older `ecn report`, whose "
        "table had fewer columns).",
        "ecn report results/perov5_cpu_budget/runs/slambda results/perov5_cpu_budget/runs/p1 "
        "results/perov5_cpu_budget/runs/sn --name perov5_cpu_budget",
    ),
    Topic(
        "pretrained",
        "The pretrained models shipped with ecn: their test errors beside the paper's and our "
        "CGCNN on the same split, a transcript of using one from a fresh environment, and the "
        "records of the runs they were trained in.",
        "ecn models --markdown results/pretrained/pretrained.md",
        (
            Files(
                "pretrained_transcript.txt",
                "bash scripts/fresh_venv_transcript.sh",
                "a fresh virtual environment installs ecn and predicts with a shipped model",
            ),
        ),
    ),
    Topic(
        "finetune",
        "Fine-tuning from the pretrained mp-e_form model against training from scratch: "
        "Perov-5 at 100 / 300 / 1,000 / all training structures and MP band gap, with the "
        "runs' records.",
        "ecn reproduce finetune --no-train",
    ),
    Topic(
        "ensembles",
        "Calibration reports of ensembles packaged from several runs (the std's fit on "
        "validation and its coverage on test).",
        "ecn models package RUN1 RUN2 ... --name NAME",
    ),
    Topic(
        "baselines",
        "Our CGCNN and MEGNet against the reference implementations (txie-93/cgcnn, matgl) "
        "on the same Perov-5 splits and recipe.",
        "one command per file, below",
        (
            Files(
                "cgcnn_reference*",
                "not regenerable: its runs (ecn's and the reference's, 2 seeds each) were not "
                "archived; written by `python scripts/cgcnn_reference.py table --runs RUN... "
                "--out results/baselines/cgcnn_reference`",
            ),
            Files(
                "megnet_reference*",
                "python scripts/megnet_reference.py table --runs "
                "results/baselines/megnet_reference_runs/* --out "
                'results/baselines/megnet_reference --note "$(sed -n 11p '
                'results/baselines/megnet_reference.md)"',
            ),
        ),
    ),
    Topic(
        "bench",
        "Speed benchmarks, each a ratio against a reference measured in the same run: "
        "neighbour search, ECN layers, training steps of every model, the graph cache, "
        "prediction throughput, a 1,000-atom cell, denormal Gaussians, the neighbour cap.",
        "one command per file, below (the JSON records it in its command field)",
        (
            Files(
                "graphs.json",
                "ecn bench graphs --json results/bench/graphs.json",
                "neighbour search: ecn's graph builder against pymatgen's",
            ),
            Files(
                "layers.json",
                "ecn bench layers --json results/bench/layers.json",
                "ECN layer cost per group against a plain MPNN layer",
            ),
            Files("storage.json", "ecn bench storage --json results/bench/storage.json"),
            Files("storage.md", "ecn bench report storage results/bench/storage.json"),
            Files("train.md", "ecn bench report train results/bench/train.json"),
            Files("train_ablation.md", "ecn bench report train results/bench/train_ablation.json"),
            Files(
                "denormals.json",
                "python benchmarks/denormals.py",
                "CGCNN's training step with and without zeroed subnormal Gaussians",
            ),
            Files(
                "neighbor_cap.json",
                "python benchmarks/neighbor_cap.py",
                "storing only about k nearest neighbours: bytes and load time per batch",
            ),
            Files(
                "large_cell.json",
                shows="a 1,000-atom cell: canonical step and graph, time and memory",
            ),
        ),
    ),
    Topic(
        "continuity",
        "Nearby crystal, nearby prediction: the change of each shipped model's prediction "
        "under small displacements and strains, with the sources isolated (canonical step, "
        "wrap, envelope).",
        "bash results/continuity/regenerate.sh",
    ),
    Topic(
        "egnn",
        "The E(n)-equivariant ECN (`ecn_egnn`): its training-step cost against ECN and CGCNN "
        "and the invariance of its predictions.",
        "the commands are in README.md here",
        (
            Files("bench_train.json", shows="training-step cost of ecn_egnn against ECN and CGCNN"),
            Files("invariance.json", shows="E(3) invariance of ecn_egnn's predictions"),
        ),
    ),
    Topic(
        "invariance",
        "Same crystal, same prediction: the change of a prediction across equivalent "
        "descriptions of one crystal (origin, basis, supercell, rotation, atom order), with "
        "and without the canonical step, and the accuracy cost of the step.",
        "the commands are in README.md here (scripts/measure_invariance.py, ecn report "
        "--group-by setup)",
        (
            Files("*.txt", shows="transcript of the checks named in its first lines"),
            Files("accuracy_seeds*", _not_archived("runs/inv2_*")),
        ),
    ),
    Topic(
        "mp_curation",
        "The Materials Project curation funnel (paper §8): rows in and out of each filter.",
        "ecn data curate mp --out DIR",
    ),
    Topic(
        "precision",
        "float32 against bf16-mixed training on Perov-5: accuracy and speed.",
        "python benchmarks/precision_check.py --n-train 512 --n-eval 256 --epochs 5 "
        "--seeds 0 1 --threads 1",
    ),
    Topic(
        "quotient",
        "ECN on the 8-fold cover with the cell one-hot (the paper's) against ECN on the unit "
        "cell, its exact quotient: Perov-5 test MAE at equal budget and seeds.",
        _not_archived("runs/inv2_*, runs/q_*"),
    ),
    Topic(
        "tuning",
        "The recipe search on Perov-5 (learning rate, weight decay, batch) that every table "
        "uses, validation MAE only.",
        "python scripts/tune_recipe.py table --grid ...",
    ),
)


# --- what each file shows ---------------------------------------------------------------------


def _title(md: Path) -> str:
    """The first ``# `` heading of a markdown file ("" if none)."""
    for line in md.read_text(errors="replace").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def _short(text: str, n: int = 160) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= n else text[: n - 1].rsplit(" ", 1)[0] + " …"


def _shows(path: Path) -> str:
    """What `path` shows: a table's title; for a figure or JSON, the table it belongs to."""
    stem, suffix = path.stem, path.suffix
    if path.name == "README.md":
        return "this folder's own notes (written by hand)"
    if suffix == ".md":
        return _title(path)
    if suffix == ".png":
        base = stem.removesuffix("_learning_curves")
        md = path.with_name(f"{base}.md")
        what = "learning curves of the runs in" if base != stem else "figure of"
        return f"{what} [{md.name}]({md.name})" if md.is_file() else "figure"
    if suffix == ".json":
        md = path.with_name(f"{stem}.md")
        if md.is_file():
            return f"data of [{md.name}]({md.name})"
        try:
            data = json.loads(path.read_text())
        except ValueError:
            return "data"
        return str(data.get("title", "data")) if isinstance(data, dict) else "data"
    if suffix == ".sh":
        return "the script that regenerates this folder"
    if suffix == ".log":
        return "log"
    lines = [x for x in path.read_text(errors="replace").splitlines() if x.strip()]
    return lines[0] if lines else ""


def _command(path: Path, topic: Topic | None, name: str) -> str:
    """The regenerating command: the topic's note on this file, else the one the file (or the
    JSON beside it) records, else the topic's default."""
    note = None if topic is None else topic.note(name)
    if note is not None and note.command is not None:
        return note.command
    data_file = path if path.suffix == ".json" else path.with_suffix(".json")
    if data_file.is_file():
        try:
            data = json.loads(data_file.read_text())
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("command"), str):
            return data["command"]
    if path.suffix == ".md":
        found = re.search(r"(?:Generated by|Command:|Regenerate:) `([^`]+)`", path.read_text())
        if found and topic is None:
            return found.group(1)
    return "" if topic is None else topic.command


# --- commits --------------------------------------------------------------------------------------


def last_changes(root: Path) -> dict[str, str]:
    """Path (relative to `root`) -> ``"<hash> (<date>)"`` of the last commit that changed its
    content, renames followed (a pure move, ``R100``, is not a change). Files git does not
    track are absent; an empty dict outside a git repository."""
    try:
        top = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        tracked = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\0")
        log = subprocess.run(
            ["git", "-C", top, "log", "-M", "--name-status", "--format=%x00%h (%cs)", "--", "."],
            capture_output=True,
            text=True,
            check=True,
            cwd=top,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    prefix = root.resolve().relative_to(Path(top).resolve()).as_posix()
    pending = {f"{prefix}/{t}": f"{prefix}/{t}" for t in tracked if t}  # name then -> now
    found: dict[str, str] = {}
    for entry in log.split("\0")[1:]:
        head, *changes = entry.strip("\n").splitlines()
        for change in changes:
            status, *paths = change.split("\t")
            if not paths or status.startswith("D"):
                continue
            then = paths[-1]
            if then not in pending:
                continue
            now = pending.pop(then)
            if status == "R100":  # moved unchanged: follow the old name
                pending[paths[0]] = now
            else:
                found[now] = head
        if not pending:
            break
    return {p[len(prefix) + 1 :]: c for p, c in found.items()}


# --- the index ------------------------------------------------------------------------------------


def _code(command: str) -> str:
    """`command` as code when it is one (starts with a program), else as prose."""
    return f"`{command}`" if command.split(" ", 1)[0] in ("ecn", "python", "bash") else command


def _is_record(folder: Path) -> bool:
    return (folder / "results.json").is_file() or (folder / "config.yaml").is_file()


def _is_archive(folder: Path) -> bool:
    """A folder of run folders: records (``*_runs``) or paused runs to resume (``*_parked``)."""
    return folder.name == "runs" or folder.name.endswith(("_runs", "_parked"))


def _record_dirs(folder: Path) -> list[Path]:
    """Run folders under `folder` (a finished run has ``results.json``, any has its config)."""
    found = {p.parent for name in ("results.json", "config.yaml") for p in folder.rglob(name)}
    return sorted(found)


def _entries(folder: Path) -> tuple[list[Path], list[Path]]:
    """Files of `folder` to list one by one, and the run-record subtrees to summarise."""
    files, records = [], []
    for p in sorted(folder.iterdir()):
        if p.is_dir():
            if _is_record(p) or _is_archive(p):
                records.append(p)
            else:
                sub_files, sub_records = _entries(p)
                files += sub_files
                records += sub_records
        elif p.is_file() and not p.name.startswith("."):
            files.append(p)
    return files, records


def _records_line(root: Path, sub: Path) -> str:
    n = len(_record_dirs(sub)) if not _is_record(sub) else 1
    rel = sub.relative_to(root).as_posix()
    if sub.name.endswith("_parked"):
        return f"- [{rel}/]({rel}/): {n} paused run(s) (`config.yaml`, `metrics.csv`, `last.ckpt`)"
    return f"- [{rel}/]({rel}/): {n} run record(s) (`config.yaml`, `results.json`, `metrics.csv`)"


def _section(root: Path, folder: Path, topic: Topic | None, commits: dict[str, str]) -> list[str]:
    rel = folder.relative_to(root).as_posix()
    lines = [f"## [{rel}/]({rel}/)", ""]
    if topic is not None:
        lines += [topic.shows, ""]
        if topic.command:
            lines += [f"Regenerate: {_code(topic.command)}.", ""]
    if _is_record(folder) or _is_archive(folder):
        return [*lines, _records_line(root, folder), ""]
    files, records = _entries(folder)
    if files:
        lines += [
            "| file | what it shows | command (when not the folder's) | commit |",
            "|---|---|---|---|",
        ]
        for f in files:
            name = f.relative_to(folder).as_posix()
            path = f.relative_to(root).as_posix()
            note = None if topic is None else topic.note(name)
            shows = note.shows if note is not None and note.shows else _shows(f)
            if shows.startswith(("data of [", "learning curves of", "figure of [")):
                shows = re.sub(r"\]\(([^)]+)\)", rf"]({Path(path).parent.as_posix()}/\1)", shows)
            command = _command(f, topic, name)
            if topic is not None and command == topic.command:
                command = ""
            lines.append(
                f"| [{name}]({path}) | {_short(shows)} | {_code(' '.join(command.split()))} | "
                f"{commits.get(path, 'not committed')} |"
            )
        lines.append("")
    lines += [_records_line(root, r) for r in records]
    return [*lines, ""] if records else lines


def index_markdown(root: str | Path = "results") -> str:
    """The text of ``results/README.md`` for the folder `root` as it is now."""
    root = Path(root)
    commits = last_changes(root)
    by_folder = {t.folder: t for t in TOPICS}
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    known = [by_folder[p.name] for p in folders if p.name in by_folder]
    order = {t.folder: k for k, t in enumerate(TOPICS)}
    lines = [
        "# results/",
        "",
        f"Generated by `{COMMAND}` (do not edit by hand): every table, figure and data file "
        "here, folder by folder, with what it shows, the command that regenerates it and the "
        "commit it was produced at (the last commit that changed its content; a move is not a "
        "change). Run records are summarised per folder: each holds a run's `config.yaml`, "
        "`results.json` and `metrics.csv`, read through `ecn.train.record.RunRecord`, so the "
        "tables can be rewritten from a fresh clone without training (`--no-train`).",
        "",
        "| folder | what it holds |",
        "|---|---|",
    ]
    lines += [f"| [{t.folder}/](#{t.folder}) | {_short(t.shows, 200)} |" for t in known]
    loose = sorted(p for p in root.iterdir() if p.is_file() and p.name != INDEX)
    lines.append("")
    for p in sorted(folders, key=lambda p: (order.get(p.name, len(order)), p.name)):
        lines += _section(root, p, by_folder.get(p.name), commits)
    unknown = [p.name for p in folders if p.name not in by_folder]
    if unknown or loose:
        lines += [
            "## Not described yet",
            "",
            "Folders and files with no entry in `ecn.experiments.results_index.TOPICS` "
            f"(add one): {', '.join(f'`{n}`' for n in [*unknown, *(p.name for p in loose)])}.",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def write_index(root: str | Path = "results", check: bool = False) -> tuple[Path, bool]:
    """Write ``<root>/README.md`` (with `check`, only compare). Returns (path, up to date)."""
    path = Path(root) / INDEX
    text = index_markdown(root)
    current = path.read_text() if path.is_file() else None
    if not check and current != text:
        atomic_write_text(path, text)
    return path, current == text
