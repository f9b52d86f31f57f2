#!/usr/bin/env bash
# The Perov-5 ablation ladder (issue 23) on one lent GPU: many one-thread runs at once.
#
#   bash scripts/ablation_gpu.sh OUT MINUTES [PARALLEL]
#
# On a bare GPU machine that has torch and Lightning but not pymatgen/spglib, prepare here first
# (in the repository root; both folders are git-ignored through .git/info/exclude):
#   bash scripts/ablation_gpu.sh --stage      # wheels -> .whl/ (ecn + pymatgen, spglib, ...),
#                                            # Perov-5 files -> .gpu/data/
# and carry `.whl` and `.gpu` with the command. Steps on the GPU machine:
#   1. install the carried wheels into /tmp/site (no index, no deps: the machine's torch stays);
#   2. a 1-epoch smoke run on 64 crystals (fails fast, before the budget is spent);
#   3. build every rung's graph cache once with all cores (`ecn reproduce ablation --prepare`);
#   4. run the GPU rungs PARALLEL at a time (default 16), each stopped by --session-cap at the
#      deadline (MINUTES after the start, less a packing margin); a capped run keeps last.ckpt
#      and resumes with the same command later (here, or on a CPU with scripts/ablation_queue.sh);
#   5. pack into OUT: finished runs' records (results/table2_ablation_runs/), every run's
#      metrics.csv and config.yaml, and the last.ckpt of unfinished runs while they fit, as
#      tar parts of at most 15 MB (the device tool brings back 8 files of 16 MiB).
# Without a GPU, steps 1-3 and the smoke run still run (on the CPU) and it stops before step 4.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Rungs for the GPU, in priority order (the queue starts them in this order).
GPU_JOBS=(
  "ecn_slambda_r5_64x4_plateau 0" "ecn_sn_r5_64x4_plateau 0" "cgcnn_plateau 0"
  "ecn_slambda_r5_64x4_cover_plateau 0" "ecn_slambda_r5_64x4_sameatom_plateau 0"
  "ecn_slambda_r5_128x6_plateau 0" "ecn_p1_r5_64x4_plateau 0"
  "ecn_slambda_r5_64x4_es 0" "ecn_sn_r5_64x4_es 0"
  "ecn_slambda_r5_64x4_plateau 1" "ecn_sn_r5_64x4_plateau 1" "cgcnn_plateau 1"
  "ecn_slambda_r5_64x4_plateau 2" "ecn_sn_r5_64x4_plateau 2" "cgcnn_plateau 2"
  "ecn_sn_r5_128x6_plateau 0" "ecn_sn_r5_64x4_cover_plateau 0" "ecn_slambda_r5_64x4_authors 0"
)

if [ "${1:-}" = "--stage" ]; then
  set -e
  DATA=${ECN_DATA_DIR:-$ROOT/../shared/data}
  mkdir -p .whl .gpu/data
  rm -f .whl/ecn-*.whl
  # ecn from the committed tree (HEAD), not from uncommitted work in progress
  src=$(mktemp -d) && git archive HEAD | tar -x -C "$src"
  python -m pip wheel -q --no-deps --no-build-isolation -w .whl "$src" >/dev/null
  rm -rf "$src"
  python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    pymatgen-core==2026.10.16 pymatgen==2026.10.24 spglib==2.8.0 moyopy==0.21.0 monty==2026.10.21 \
    orjson==3.13.0 ruamel.yaml==0.19.1 uncertainties==3.2.3 palettable==3.3.3 wcwidth==0.9.4
  for d in perov_5 castelli_perovskites_matminer_subset; do
    rm -rf ".gpu/data/$d"; cp -r "$DATA/$d" .gpu/data/
  done
  cp "$DATA/SOURCES.md" .gpu/data/
  du -sh .whl .gpu
  exit 0
fi

OUT=${1:?usage: ablation_gpu.sh OUT MINUTES [PARALLEL] | --stage}
MINUTES=${2:?minutes}
PARALLEL=${3:-16}
mkdir -p "$OUT"
LOG="$OUT/ablation_gpu.log"
exec > >(tee -a "$LOG") 2>&1
START=$(date +%s)
DEADLINE=$((START + ${MINUTES%.*} * 60 - 75)) # 75 s for the last validations and packing
say() { echo "== $(date -u +%H:%M:%S) (+$(($(date +%s) - START)) s) $*"; }

. "$ROOT/scripts/gpu_common.sh"
gpu_install_wheels
export ECN_DATA_DIR=${ECN_DATA_DIR:-$ROOT/.gpu/data} ECN_CACHE_DIR=${ECN_CACHE_DIR:-/tmp/ecncache}
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
PY=python3
$PY - <<'EOF'
import json, platform, torch, lightning, pymatgen.core, spglib, ecn
cuda = torch.cuda.is_available()
print(json.dumps({"ecn": ecn.__version__, "torch": torch.__version__,
                  "lightning": lightning.__version__, "python": platform.python_version(),
                  "gpu": torch.cuda.get_device_name(0) if cuda else None}))
EOF
[ $? = 0 ] || { echo "imports failed"; exit 1; }
ACC=gpu
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || ACC=cpu
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
gpu_start_mps

RUNS=${ECN_ABL_RUNS:-runs/ablation}
ABL=($PY -m ecn.cli reproduce ablation --threads 1 --no-table --runs "$RUNS")
say "smoke run (64 crystals, 1 epoch, $ACC)"
$PY -m ecn.cli train --dataset perov5 --model ecn --group slambda --width 16 --layers 2 \
  --epochs 1 --limit 64 --accelerator "$ACC" --precision 32 --threads 1 --no-progress \
  --graph-strategy cutoff --cutoff 5 --out /tmp/smoke_$$ || { echo "smoke run failed"; exit 1; }

say "graph caches"
"${ABL[@]}" --prepare $(for j in "${GPU_JOBS[@]}"; do echo "--rung ${j% *}"; done | sort -u) \
  || { echo "prepare failed"; exit 1; }
if [ "$ACC" != gpu ] && [ "${ECN_GPU_QUEUE_ON_CPU:-0}" != 1 ]; then
  say "no GPU: stopping before the queue"; exit 0
fi

run_job() { # rung seed: capped at the deadline, whenever it starts
  local left=$(((DEADLINE - $(date +%s)) / 6)) # tenths of a minute
  [ "$left" -gt 5 ] || return 0
  $ABL_CMD --rung "$1" --seed "$2" --accelerator "$ACC" \
    --session-cap "$((left / 10)).$((left % 10))" > "runs/gpu_$1_seed$2.log" 2>&1
  echo "$1 seed $2 rc $?"
}
export -f run_job
export DEADLINE ACC ABL_CMD="${ABL[*]}"
mkdir -p runs
say "queue: ${#GPU_JOBS[@]} runs, $PARALLEL at a time, until $(date -u -d @"$DEADLINE" +%H:%M:%S)"
(
  while sleep 60; do
    say "progress: $(for f in "$RUNS"/*/metrics.csv; do
      [ -f "$f" ] && printf '%s:%s ' "$(basename "$(dirname "$f")")" "$(($(wc -l <"$f") - 1))"
    done)"
    nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
  done
) &
MON=$!
printf '%s\n' "${GPU_JOBS[@]}" | xargs -P "$PARALLEL" -L 1 bash -c 'run_job $0 $1'
kill $MON 2>/dev/null

say "pack"
PACK=$(mktemp -d)
mkdir -p "$PACK/results" "$PACK/runs"
[ -d results/table2_ablation_runs ] && cp -r results/table2_ablation_runs "$PACK/results/"
cp runs/gpu_*.log "$PACK/runs/" 2>/dev/null
budget=$((56 * 1024 * 1024))
for d in "$RUNS"/*/; do
  n=$(basename "$d")
  mkdir -p "$PACK/runs/ablation/$n"
  cp "$d"/config.yaml "$d"/metrics.csv "$PACK/runs/ablation/$n/" 2>/dev/null
  if [ ! -f "$d/results.json" ] && [ -f "$d/last.ckpt" ]; then
    # an unfinished run needs both: last.ckpt to resume, best.ckpt to be evaluated at its best
    # epoch (without it a resumed run can only report its last epoch)
    size=$(cat "$d/last.ckpt" "$d/best.ckpt" 2>/dev/null | wc -c)
    if [ "$size" -lt "$budget" ]; then
      cp "$d/last.ckpt" "$PACK/runs/ablation/$n/" && budget=$((budget - size))
      [ -f "$d/best.ckpt" ] && cp "$d/best.ckpt" "$PACK/runs/ablation/$n/"
    else
      echo "not packed (no room): $d/{last,best}.ckpt"
    fi
  fi
done
tar -C "$PACK" -czf - . | split -b 15000000 -d - "$OUT/ablation_gpu.tgz.part"
ls -la "$OUT"
say "done"
