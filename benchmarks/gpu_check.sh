#!/usr/bin/env bash
# GPU readiness check for ecn (issue 12): install, CUDA bf16 throughput, a short Perov-5 training.
#
#   bash benchmarks/gpu_check.sh OUT            # OUT receives *.json and gpu_check.log
#
# 1. Installs the project (pip install -e . with torch==2.13.0 pinned) into the current Python,
#    or into a fresh venv when ECN_GPU_VENV=DIR is set. ECN_SKIP_INSTALL=1 skips this step;
#    a failed install (e.g. no network) is reported and the check continues if ecn imports.
# 2. CPU part (always): a tiny `ecn bench train` and a one-epoch training on a few Perov-5
#    crystals, to prove the install works.
# 3. GPU part (only when torch sees a CUDA device): `ecn bench train --device cuda` in fp32 and
#    bf16-mixed, then a Perov-5 training of ECN-SΛ in bf16-mixed with a time budget.
#    Without a GPU it says so and exits 0 after the CPU part.
# Budget: ECN_GPU_TRAIN_MIN (default 3) minutes of training; the whole check stays under 8 min
# on one GPU. Data: ECN_DATA_DIR as usual (the embedded Perov-5 sample if no data is found).
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: bash benchmarks/gpu_check.sh OUT_DIR" >&2
  exit 2
fi
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
LOG="$OUT/gpu_check.log"
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
TRAIN_MIN=${ECN_GPU_TRAIN_MIN:-3}
CPU_LIMIT=${ECN_GPU_CHECK_CPU_LIMIT:-16}
START=$(date +%s)

step() { echo; echo "== $(date -u +%H:%M:%S) $*"; }
elapsed() { echo $(( $(date +%s) - START )); }

step "gpu_check: root $ROOT, out $OUT"
uname -a
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv

if [ -n "${ECN_GPU_VENV:-}" ]; then
  step "venv $ECN_GPU_VENV"
  [ -x "$ECN_GPU_VENV/bin/python" ] || "$PY" -m venv "$ECN_GPU_VENV"
  PY="$ECN_GPU_VENV/bin/python"
fi
if [ "${ECN_SKIP_INSTALL:-0}" != 1 ]; then
  step "install: pip install -e $ROOT torch==2.13.0"
  if ! "$PY" -m pip install --disable-pip-version-check -q -e "$ROOT" "torch==2.13.0"; then
    echo "WARNING: pip install failed (offline?); continuing with what is installed"
  fi
fi
if ! "$PY" -c "import ecn, torch" 2>/dev/null; then
  echo "ERROR: ecn or torch does not import with $PY" >&2
  exit 1
fi
# Use this checkout's sources even when another checkout is installed in editable mode.
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
"$PY" - <<'EOF' | tee "$OUT/env.json"
import json, platform, torch, ecn
from ecn.train.precision import cpu_has_native_bf16, resolve_precision
cuda = torch.cuda.is_available()
print(json.dumps({
    "ecn": ecn.__version__, "torch": torch.__version__, "python": platform.python_version(),
    "cuda_available": cuda, "cuda_version": torch.version.cuda,
    "gpu": torch.cuda.get_device_name(0) if cuda else None,
    "bf16_supported": bool(cuda and torch.cuda.is_bf16_supported()),
    "cpu_native_bf16": cpu_has_native_bf16(),
    "auto_precision": resolve_precision("auto", "auto")[0],
}, indent=2))
EOF
ECN=("$PY" -m ecn.cli)

step "CPU part: tiny throughput benchmark"
"${ECN[@]}" bench train --device cpu --threads 1 --n-structures "$CPU_LIMIT" --batch-size 8 \
  --repeats 1 --precision 32 --model ecn-slambda --model cgcnn --no-memory --train-size 1000 \
  --json "$OUT/bench_cpu.json" || { echo "ERROR: CPU benchmark failed" >&2; exit 1; }

step "CPU part: one-epoch training on $CPU_LIMIT Perov-5 crystals"
"${ECN[@]}" train --dataset perov5 --model ecn --width 16 --layers 2 --epochs 1 --batch-size 8 \
  --limit "$CPU_LIMIT" --threads 1 --accelerator cpu --precision 32 --no-progress \
  --out "$OUT/train_cpu" || { echo "ERROR: CPU training failed" >&2; exit 1; }
cp "$OUT/train_cpu/results.json" "$OUT/train_cpu_results.json"
rm -f "$OUT"/train_cpu/*.ckpt

if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  step "no GPU present (torch.cuda.is_available() is False): CPU part done, exiting 0"
  echo "{\"gpu\": false, \"cpu_part\": \"ok\", \"elapsed_s\": $(elapsed)}" > "$OUT/gpu_check.json"
  exit 0
fi

step "GPU part: ecn bench train on CUDA, fp32 and bf16-mixed"
"${ECN[@]}" bench train --device cuda --n-structures 256 --batch-size 64 --repeats 3 \
  --precision 32 --precision bf16-mixed --json "$OUT/bench_cuda.json"
BENCH_RC=$?

step "GPU part: Perov-5 ECN-SΛ training, bf16-mixed, $TRAIN_MIN min budget"
"${ECN[@]}" train --dataset perov5 --model ecn --group slambda --accelerator gpu --devices 1 \
  --precision bf16-mixed --time-budget "$TRAIN_MIN" --no-progress --out "$OUT/train_cuda"
TRAIN_RC=$?
[ -f "$OUT/train_cuda/results.json" ] && cp "$OUT/train_cuda/results.json" "$OUT/train_cuda_results.json"
rm -f "$OUT"/train_cuda/*.ckpt

echo "{\"gpu\": true, \"bench_rc\": $BENCH_RC, \"train_rc\": $TRAIN_RC, \"elapsed_s\": $(elapsed)}" \
  > "$OUT/gpu_check.json"
step "done in $(elapsed) s (bench rc $BENCH_RC, train rc $TRAIN_RC)"
[ "$BENCH_RC" = 0 ] && [ "$TRAIN_RC" = 0 ]
