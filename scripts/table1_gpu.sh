#!/usr/bin/env bash
# Materials Project Table 1 (issue 27 item 3) on one lent GPU: the runs the CPU queue
# (scripts/table1_queue.sh) has not finished, many one-thread runs at once, with the CPU queue's
# settled recipe and run folders (runs/table1_conv/<target>/<model>_seed<k>), so a run paused
# here resumes on a CPU and the other way round.
#
#   bash scripts/table1_gpu.sh --stage                  # here: what a bare GPU machine lacks
#   bash scripts/table1_gpu.sh OUT MINUTES [PARALLEL]   # there (the device `run` tool)
#   bash scripts/table1_gpu.sh --unpack DIR             # here: the parts that came back
#   bash scripts/table1_gpu.sh --list                   # the job list: model target seed, done?
#
# --stage (in the repository root; .whl/ and .gpu/ are git-ignored) writes
#   .whl/        ecn's wheel from the committed HEAD, pymatgen, spglib, moyopy and their missing needs
#                (Python 3.12, the GPU machine's; the same pins as scripts/ablation_gpu.sh)
#   .gpu/data/   mp_cgcnn_36k/, kaba_mp_v2021_05_split_ids/, SOURCES.md (from ../shared/data;
#                .gpu/ is rewritten, so what scripts/ablation_gpu.sh --stage put there goes)
#   .gpu/cache/  this machine's MP curation facts (spglib + dimensionality of 36,737 crystals,
#                ~5 min with the loader's 2 processes) and parsed records, when they fit
#   .gpu/runs/   unfinished CPU runs of the job list (last.ckpt, best.ckpt without optimiser
#                state, metrics.csv, config.yaml), in priority order, while they fit
# and checks that the tree plus the carried paths stay under the tool's 64 MiB. Carry `.whl`
# and `.gpu`. On the GPU machine, the run mode:
#   1. installs the carried wheels into /tmp/site (no index, no deps: the machine's torch stays),
#      seeds ECN_CACHE_DIR (/tmp/ecncache) from .gpu/cache and runs/ from .gpu/runs;
#   2. a 1-epoch smoke run on 64 MP crystals (fails fast, before the budget is spent);
#   3. builds the graph caches of the jobs' models once with all cores
#      (`ecn reproduce table1 --prepare`: ECN-SΛ/ECN-P-1 share one, CGCNN and MEGNet one each);
#   4. starts the unfinished jobs in priority order whose checkpoints can still come back (what
#      returns is 64 MiB: see PACK_MB), PARALLEL at a time (default 16), each stopped by
#      --session-cap at the deadline (MINUTES after the start, less 90 s to pack). A run that
#      finishes archives its record under results/table1_runs/ as on a CPU; a capped one keeps
#      last.ckpt and resumes with the same command (here, or scripts/table1_queue.sh on a CPU).
#      An archived run that a time cap ended (CGCNN e_form, 120 min) is moved to
#      results/table1/capped_runs/ and trained again from scratch;
#   5. packs into OUT: table1_gpu.log, table1_gpu_times.tsv (GPU seconds and epochs per run in
#      this call) and table1_gpu.tgz.partNN (at most 15 MB each): finished runs' records, every
#      job's metrics.csv/config.yaml/log, last.ckpt + best.ckpt (optimiser state dropped: it is
#      only evaluated) of unfinished runs while they fit in PACK_MB.
# Without a GPU, steps 1-3 still run (on the CPU) and it stops before step 4. Test knobs:
# ECN_GPU_SKIP_WHEELS=1 (use this machine's packages), ECN_GPU_LIMIT=N (N crystals per split,
# in the caches and runs: never for real runs), ECN_GPU_QUEUE_ON_CPU=1 (step 4 on the CPU; test
# it in a clone, since it trains into runs/ and results/ of the tree it is in).
#
# The session that gets the parts back (the tool's files_at folder) runs --unpack DIR: the same
# superseded moves, the new records into results/table1_runs/, the checkpoints into runs/
# (unless the local run got further), the log and GPU times into
# results/table1/gpu_calls/<UTC time>/, then it rewrites the tables in results/table1/
# (`ecn reproduce table1 --no-train`, 3 seeds on e_form and band_gap). The CPU queue
# (scripts/table1_queue.sh) then resumes what is unfinished; the GPU seconds of a run that
# finished are part of its train_time_s, which the tables count as CPU hours.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Priority order: the Table 1 cells still missing, then the paper's extra seeds.
JOBS=(
  "cgcnn e_fermi 0" "cgcnn magmom_per_atom 0" "cgcnn e_form 0"
  "megnet e_form 0" "megnet e_fermi 0" "megnet magmom_per_atom 0" "megnet band_gap 0"
  "megnet is_metal 0"
  "ecn_p1 e_form 0" "ecn_p1 e_fermi 0" "ecn_p1 magmom_per_atom 0" "ecn_p1 band_gap 0"
  "ecn_p1 is_metal 0"
  "ecn_slambda e_form 1" "cgcnn e_form 1" "ecn_slambda band_gap 1" "cgcnn band_gap 1"
  "ecn_slambda e_form 2" "cgcnn e_form 2" "ecn_slambda band_gap 2" "cgcnn band_gap 2"
)
# The CPU queue's settled recipe (scripts/table1_queue.sh), so both write the same runs.
RUNS=runs/table1_conv
COMMON=(--epochs 1000 --patience 25 --precision 32 --recipe configs/table2_recipe.yaml
  --runs "$RUNS" --results results --threads 1)
ARCHIVE=results/table1_runs
CAPPED=results/table1/capped_runs # archived records a time cap ended, kept aside
# MB that one unfinished run brings back (last.ckpt + best.ckpt without optimiser state), as
# measured on MP: ECN-P-1 64x4 has 0.95 M parameters (11.4 + 3.8 MB), ECN-SΛ 0.29 M.
declare -A PACK_MB=([cgcnn]=1.4 [megnet]=2.9 [ecn_slambda]=4.7 [ecn_p1]=15.2)
PACK_BYTES=58000000 # + records and logs: under the 64 MiB that comes back, in <= 7 files
CARRY_LIMIT=$((64 * 1024 * 1024))

run_dir() { echo "$RUNS/$2/$1_seed$3"; }  # model target seed
kept_dir() { echo "$ARCHIVE/$2/$1_seed$3"; }
stopped_by() { # results.json -> its stopped_by ('' if none)
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("stopped_by") or "")' "$1"
}
job_done() { # finished and archived, and not ended by a time cap (those are trained again)
  local kept
  kept=$(kept_dir "$@")
  [ -f "$kept/results.json" ] && [ "$(stopped_by "$kept/results.json")" != time_budget ]
}
rows() { # epochs in a run's metrics.csv
  if [ -f "$1/metrics.csv" ]; then echo $(($(wc -l <"$1/metrics.csv") - 1)); else echo 0; fi
}
elapsed() { # the last elapsed_s of a run's metrics.csv (training seconds over all sessions)
  python3 - "$1" <<'EOF'
import csv, sys
try:
    rows = list(csv.DictReader(open(f"{sys.argv[1]}/metrics.csv")))
    print(float(rows[-1]["elapsed_s"]) if rows and rows[-1].get("elapsed_s") else 0.0)
except OSError:
    print(0.0)
EOF
}
copy_unfinished() { # SRC DST: config, history, last.ckpt and best.ckpt without optimiser state
  mkdir -p "$2" && cp "$1"/config.yaml "$1"/metrics.csv "$1"/last.ckpt "$2"/ 2>/dev/null
  [ -f "$1/best.ckpt" ] || return 0
  # best.ckpt is only evaluated at the end (ecn.inference.load_model_file reads its weights), so
  # its Adam moments, 2/3 of the file, need not travel
  python3 - "$1/best.ckpt" "$2/best.ckpt" <<'EOF'
import sys, torch
ck = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
ck.pop("optimizer_states", None)
torch.save(ck, sys.argv[2])
EOF
}
bytes_of() { cat "$@" 2>/dev/null | wc -c; }

if [ "${1:-}" = "--list" ]; then
  for j in "${JOBS[@]}"; do
    set -- $j
    if job_done "$@"; then s=done; elif [ -f "$(run_dir "$@")/last.ckpt" ]; then
      s="unfinished, epoch $(rows "$(run_dir "$@")")"
    else s=todo; fi
    echo "$j: $s"
  done
  exit 0
fi

if [ "${1:-}" = "--stage" ]; then
  set -e
  for p in .whl .gpu; do
    git check-ignore -q "$p/x" || { echo "$p/ is not git-ignored"; exit 1; }
  done
  DATA=${ECN_DATA_DIR:-$ROOT/../shared/data}
  [ -d "$DATA/mp_cgcnn_36k" ] || { echo "no MP data in $DATA: set ECN_DATA_DIR"; exit 1; }
  CACHE=$(python3 -c "from ecn.settings import cache_dir; print(cache_dir())")
  mkdir -p .whl
  rm -f .whl/ecn-*.whl
  # ecn from the committed tree (HEAD), not from uncommitted work in progress
  src=$(mktemp -d) && git archive HEAD | tar -x -C "$src"
  python3 -m pip wheel -q --no-deps --no-build-isolation -w .whl "$src" >/dev/null
  rm -rf "$src"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    pymatgen-core==2026.10.16 pymatgen==2026.10.24 spglib==2.8.0 moyopy==0.21.0 monty==2026.10.21 \
    orjson==3.13.0 ruamel.yaml==0.19.1 uncertainties==3.2.3 palettable==3.3.3 wcwidth==0.9.4
  rm -rf .gpu && mkdir -p .gpu/data .gpu/cache
  cp -r "$DATA/mp_cgcnn_36k" "$DATA/kaba_mp_v2021_05_split_ids" "$DATA/SOURCES.md" .gpu/data/
  # what travels: tracked and untracked-not-ignored files, plus the carried .whl and .gpu
  tree=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 cat 2>/dev/null ||
    true) | wc -c) # (a deleted tracked file is listed but not read)
  room() { # bytes left under the carry limit, 1 MiB kept free
    echo $((CARRY_LIMIT - 1048576 - tree - $(du -sb .whl .gpu | awk '{s += $1} END {print s}')))
  }
  if ls "$CACHE"/curation/mp/facts-*.csv.gz >/dev/null 2>&1; then
    mkdir -p .gpu/cache/curation/mp
    cp "$CACHE"/curation/mp/facts-*.csv.gz .gpu/cache/curation/mp/
  else
    echo "no MP curation facts in $CACHE: the GPU machine computes them (~5 min)"
  fi
  # the newest parsed records of each paper split (a stale one would only miss there)
  recs=()
  for s in train valid test; do
    f=$(ls -t "$CACHE"/records/mp-$s-*.npz 2>/dev/null | head -1 || true)
    [ -n "$f" ] && recs+=("$f")
  done
  if [ ${#recs[@]} -gt 0 ] && [ "$(bytes_of "${recs[@]}")" -lt "$(room)" ]; then
    mkdir -p .gpu/cache/records && cp "${recs[@]}" .gpu/cache/records/
  else
    echo "MP records not staged (none here, or no room): the GPU machine parses the CIFs"
  fi
  set +e
  for j in "${JOBS[@]}"; do # unfinished CPU runs, so that they continue on the GPU
    set -- $j
    d=$(run_dir "$@")
    { job_done "$@" || [ -f "$d/results.json" ] || [ ! -f "$d/last.ckpt" ]; } && continue
    copy_unfinished "$d" ".gpu/$d.tmp"
    if [ "$(du -sb ".gpu/$d.tmp" | cut -f1)" -lt "$(room)" ]; then
      mv ".gpu/$d.tmp" ".gpu/$d" && echo "staged $d (epoch $(rows "$d"))"
    else
      rm -rf ".gpu/$d.tmp" && echo "not staged (no room): $d"
    fi
  done
  du -sh .whl .gpu
  echo "tree $((tree / 1048576)) MiB + .whl + .gpu: $(((CARRY_LIMIT - $(room)) / 1048576)) MiB" \
    "of the tool's 64 (1 MiB kept free)"
  [ "$(room)" -gt 0 ] || { echo "over the carry limit"; exit 1; }
  exit 0
fi

if [ "${1:-}" = "--unpack" ]; then
  IN=${2:?usage: table1_gpu.sh --unpack DIR (with table1_gpu.tgz.part*)}
  ls "$IN"/table1_gpu.tgz.part* >/dev/null || exit 1
  PACK=$(mktemp -d)
  cat "$IN"/table1_gpu.tgz.part* | tar -xz -C "$PACK" || { echo "broken parts"; exit 1; }
  # 1. runs trained again here too: the capped record moves aside (before the new one lands)
  while read -r rel; do
    [ -n "$rel" ] && [ -f "$ARCHIVE/$rel/results.json" ] || continue
    [ "$(stopped_by "$ARCHIVE/$rel/results.json")" = time_budget ] || continue
    mkdir -p "$(dirname "$CAPPED/$rel")" && rm -rf "${CAPPED:?}/$rel"
    mv "$ARCHIVE/$rel" "$CAPPED/$rel" && echo "superseded: $ARCHIVE/$rel -> $CAPPED/$rel"
  done <"$PACK/superseded.txt"
  # 2. finished runs' records
  if [ -d "$PACK/$ARCHIVE" ]; then
    cp -r "$PACK/$ARCHIVE/." "$ARCHIVE/"
    (cd "$PACK/$ARCHIVE" && find . -name results.json -printf "finished: %h\n")
  fi
  # 3. unfinished runs: the GPU's checkpoints, unless the local run got further meanwhile
  for d in "$PACK/$RUNS"/*/*/; do
    [ -f "$d/last.ckpt" ] || continue
    rel=${d#"$PACK/"} && rel=${rel%/}
    if [ "$(rows "$rel")" -gt "$(rows "$d")" ]; then
      echo "kept the local $rel (epoch $(rows "$rel") > GPU's $(rows "$d"))"
      continue
    fi
    mkdir -p "$rel" && cp "$d"/* "$rel"/ && echo "resumable: $rel (epoch $(rows "$rel"))"
  done
  for d in "$PACK/$RUNS"/*/*/; do
    [ -f "$d/metrics.csv" ] && [ ! -f "$d/last.ckpt" ] && [ ! -f "$d/results.json" ] &&
      echo "not brought back (no room), the GPU's epochs are lost: ${d#"$PACK/"}"
  done
  # 4. the log and GPU times, beside the CPU times of the tables
  dest=results/table1/gpu_calls/$(date -u +%Y%m%dT%H%M)
  mkdir -p "$dest"
  cp "$IN"/table1_gpu.log "$IN"/table1_gpu_times.tsv "$dest"/ 2>/dev/null
  cp "$PACK"/runs/gpu_*.log "$dest"/ 2>/dev/null
  echo "log and GPU times: $dest"
  cat "$dest/table1_gpu_times.tsv" 2>/dev/null
  rm -rf "$PACK"
  # 5. the tables from every finished run (3 seeds on e_form and band_gap, one elsewhere)
  python3 -m ecn.cli reproduce table1 --no-train --target e_form --target band_gap \
    --seeds "${SEEDS:-3}" --seeds-for ecn_p1=1 --seeds-for megnet=1 --model ecn_slambda \
    --model cgcnn --model ecn_p1 --model megnet "${COMMON[@]}" >/dev/null &&
    echo "tables rewritten: results/table1/ (then: ecn results index)"
  exit 0
fi

OUT=${1:?usage: table1_gpu.sh OUT MINUTES [PARALLEL] | --stage | --unpack DIR | --list}
MINUTES=${2:?minutes}
PARALLEL=${3:-16}
mkdir -p "$OUT"
LOG="$OUT/table1_gpu.log"
exec > >(tee -a "$LOG") 2>&1
START=$(date +%s)
DEADLINE=$((START + ${MINUTES%.*} * 60 - 90)) # 90 s for the last validations and packing
say() { echo "== $(date -u +%H:%M:%S) (+$(($(date +%s) - START)) s) $*"; }

. "$ROOT/scripts/gpu_common.sh"
gpu_install_wheels
export ECN_DATA_DIR=${ECN_DATA_DIR:-$ROOT/.gpu/data} ECN_CACHE_DIR=${ECN_CACHE_DIR:-/tmp/ecncache}
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
PY=python3
$PY - <<'EOF'
import json, platform, torch, lightning, pymatgen.core, pymatgen.io.cif, spglib, ecn
from ecn.settings import cache_dir, data_dir
cuda = torch.cuda.is_available()
print(json.dumps({"ecn": ecn.__version__, "torch": torch.__version__,
                  "lightning": lightning.__version__, "python": platform.python_version(),
                  "gpu": torch.cuda.get_device_name(0) if cuda else None,
                  "data": str(data_dir()), "cache": str(cache_dir())}))
try:  # only MP curation's facts pass needs them, and .gpu/cache carries its facts
    import pymatgen.analysis.dimensionality, pymatgen.analysis.local_env
except ImportError as err:
    print(f"warning: {err}: MP curation facts must come from .gpu/cache")
EOF
[ $? = 0 ] || { echo "imports failed"; exit 1; }
if [ -d .gpu/cache ]; then # carried facts and records: no spglib pass, no CIF parsing here
  mkdir -p "$ECN_CACHE_DIR" && cp -rn .gpu/cache/. "$ECN_CACHE_DIR"/
fi
ACC=gpu
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || ACC=cpu
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
gpu_start_mps

say "smoke run (64 MP crystals, 1 epoch, $ACC)"
$PY -m ecn.cli train --dataset mp --target e_form --model ecn --group slambda --width 16 \
  --layers 2 --epochs 1 --limit 64 --accelerator "$ACC" --precision 32 --threads 1 \
  --no-progress --out /tmp/smoke_$$ || { echo "smoke run failed"; exit 1; }

# the jobs to run: not finished (a run continued on the CPU since a warm call resumes there)
TODO=()
for j in "${JOBS[@]}"; do
  set -- $j
  job_done "$@" && continue
  d=$(run_dir "$@")
  if [ -d ".gpu/$d" ] && [ "$(rows ".gpu/$d")" -gt "$(rows "$d")" ]; then
    mkdir -p "$d" && cp ".gpu/$d"/* "$d"/
    say "continues from the CPU: $d (epoch $(rows "$d"))"
  fi
  TODO+=("$j")
done
[ ${#TODO[@]} -gt 0 ] || { say "nothing to do: every job finished"; exit 0; }
MODELS=$(for j in "${TODO[@]}"; do echo "--model ${j%% *}"; done | awk '!seen[$0]++')
TARGETS=$(for j in "${TODO[@]}"; do set -- $j; echo "--target $2"; done | awk '!seen[$0]++')
say "graph caches for ${#TODO[@]} unfinished jobs"
# shellcheck disable=SC2086 # one word per flag
$PY -m ecn.cli reproduce table1 --prepare $MODELS $TARGETS "${COMMON[@]}" \
  ${ECN_GPU_LIMIT:+--limit "$ECN_GPU_LIMIT"} || { echo "prepare failed"; exit 1; }
if [ "$ACC" != gpu ] && [ "${ECN_GPU_QUEUE_ON_CPU:-0}" != 1 ]; then
  say "no GPU: stopping before the queue"; exit 0
fi

# start only what can come back: PACK_MB per unfinished run, in priority order, up to PACK_BYTES
QUEUE=() && room=$PACK_BYTES
for j in "${TODO[@]}"; do
  set -- $j
  need=$(awk -v mb="${PACK_MB[$1]}" 'BEGIN {printf "%d", mb * 1e6}')
  if [ "$need" -le "$room" ]; then
    QUEUE+=("$j") && room=$((room - need))
  else
    say "not started (its checkpoints would not come back): $j"
  fi
done
mkdir -p runs && : >runs/table1_gpu_start.tsv && : >runs/table1_gpu_superseded.txt
for j in "${QUEUE[@]}"; do
  set -- $j
  kept=$(kept_dir "$@")
  if [ -f "$kept/results.json" ]; then # ended by a time cap: trained again, from scratch
    rel=${kept#"$ARCHIVE/"}
    mkdir -p "$(dirname "$CAPPED/$rel")" && rm -rf "${CAPPED:?}/$rel" && mv "$kept" "$CAPPED/$rel"
    echo "$rel" >>runs/table1_gpu_superseded.txt && say "superseded (time-capped): $kept"
  fi
  printf '%s\t%s\t%s\n' "$j" "$(rows "$(run_dir "$@")")" "$(elapsed "$(run_dir "$@")")" \
    >>runs/table1_gpu_start.tsv
done

run_job() { # model target seed: capped at the deadline, whenever it starts
  local left=$(((DEADLINE - $(date +%s)) / 6)) # tenths of a minute
  [ "$left" -gt 5 ] || return 0
  # shellcheck disable=SC2086 # COMMON_S holds the flags, one word each
  $PY -m ecn.cli reproduce table1 --model "$1" --target "$2" --seeds "$(($3 + 1))" --seed "$3" \
    --no-table --accelerator "$ACC" --session-cap "$((left / 10)).$((left % 10))" $COMMON_S \
    ${ECN_GPU_LIMIT:+--limit "$ECN_GPU_LIMIT"} >"runs/gpu_t1_$2_$1_seed$3.log" 2>&1
  echo "$1 $2 seed $3 rc $?"
}
export -f run_job
export DEADLINE ACC PY COMMON_S="${COMMON[*]}"
say "queue: ${#QUEUE[@]} runs, $PARALLEL at a time, until $(date -u -d @"$DEADLINE" +%H:%M:%S)"
(
  while sleep 60 </dev/null >/dev/null 2>&1; do # a sleep left behind must not hold the log open
    say "progress: $(for j in "${QUEUE[@]}"; do
      set -- $j
      printf '%s/%s_seed%s:%s ' "$2" "$1" "$3" "$(rows "$(run_dir "$@")")"
    done)"
    nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
  done
) &
MON=$!
printf '%s\n' "${QUEUE[@]}" | xargs -P "$PARALLEL" -L 1 bash -c 'run_job $0 $1 $2'
kill $MON 2>/dev/null

say "GPU times (this call)"
TIMES="$OUT/table1_gpu_times.tsv"
printf 'run\tdevice\tepochs_before\tepochs_after\tgpu_s\tfinished\n' >"$TIMES"
while IFS=$'\t' read -r j e0 t0; do
  set -- $j
  d=$(run_dir "$@")
  fin=no && [ -f "$(kept_dir "$@")/results.json" ] && fin=yes
  [ -f "$d/metrics.csv" ] || fin="not started"
  gpu_s=$(awk -v a="$(elapsed "$d")" -v b="$t0" 'BEGIN {printf "%.0f", a - b}')
  printf '%s/%s_seed%s\t%s\t%s\t%s\t%s\t%s\n' "$2" "$1" "$3" "$ACC" "$e0" "$(rows "$d")" \
    "$gpu_s" "$fin" >>"$TIMES"
done <runs/table1_gpu_start.tsv
column -t -s $'\t' "$TIMES" 2>/dev/null || cat "$TIMES"

say "pack"
PACK=$(mktemp -d)
cp runs/table1_gpu_superseded.txt "$PACK/superseded.txt"
mkdir -p "$PACK/runs" && cp runs/gpu_t1_*.log "$TIMES" "$PACK/runs/" 2>/dev/null
budget=$PACK_BYTES
for j in "${QUEUE[@]}"; do
  set -- $j
  d=$(run_dir "$@") kept=$(kept_dir "$@")
  if [ -f "$kept/results.json" ]; then # finished: its record is all a table needs
    mkdir -p "$PACK/$kept" && cp -r "$kept/." "$PACK/$kept/"
    continue
  fi
  [ -f "$d/last.ckpt" ] || continue
  copy_unfinished "$d" "$PACK/$d.tmp"
  size=$(bytes_of "$PACK/$d.tmp"/*.ckpt)
  if [ "$size" -lt "$budget" ]; then
    mv "$PACK/$d.tmp" "$PACK/$d" && budget=$((budget - size))
  else
    rm -rf "$PACK/$d.tmp" && mkdir -p "$PACK/$d" && cp "$d"/metrics.csv "$d"/config.yaml "$PACK/$d/"
    echo "not packed (no room): $d/{last,best}.ckpt"
  fi
done
tar -C "$PACK" -czf - . | split -b 15000000 -d - "$OUT/table1_gpu.tgz.part"
rm -rf "$PACK"
ls -la "$OUT"
say "done: bash scripts/table1_gpu.sh --unpack <the folder these files come back in>"
