#!/usr/bin/env bash
# Materials Project Table 1 (issue 13, item 4), paper split: ECN-SΛ and CGCNN on E_form, band gap
# (insulators) and metal/non-metal, one seed, to early stopping on validation (patience 25) or a
# 120-minute cap per run, one torch thread, float32 (the ECN-SΛ rows ran in float32 on a CPU
# without bf16; `auto` would pick bf16 on one with it), with the recipe tuned on Perov-5. Two workers:
#   nohup bash scripts/table1_queue.sh ecn_slambda > runs/table1_ecn.log 2>&1 &
#   nohup bash scripts/table1_queue.sh cgcnn > runs/table1_cgcnn.log 2>&1 &
# Interrupted runs resume from last.ckpt when the same line runs again; each call rewrites
# results/table1*.md from every finished run (`ecn reproduce table1 --no-train` alone) and keeps
# each finished run's records under results/table1_runs/, so a fresh clone rewrites the tables.
set -euo pipefail
model="${1:?ecn_slambda or cgcnn}"
for target in e_form band_gap is_metal; do
  python -m ecn.cli reproduce table1 --model "$model" --target "$target" --seeds 1 \
    --epochs 1000 --patience 25 --time-budget 120 --threads 1 --precision 32 \
    --recipe configs/table2_recipe.yaml --runs runs/table1_conv --results results
done
