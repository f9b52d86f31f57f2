#!/usr/bin/env bash
# Materials Project Table 1 (issue 27), paper split, with the recipe the Perov-5 ablation
# settled (issue 23: early stopping on validation at patience 25, lr 2e-3, wd 1e-2, batch 64,
# ECN 64x4; configs/table2_recipe.yaml), one torch thread, float32. No time cap ends a run:
# SESSION_CAP (minutes, default 150) only pauses it, unfinished, and the next call of the same
# line resumes it from last.ckpt; finished runs are skipped (one a time cap ended is trained
# again: not converged, its record counts until the new one replaces it). A paused run is also parked in
# results/table1_parked/ (commit it): runs/ does not outlive a session, and the next session's
# call resumes from the parked last.ckpt instead of epoch 0. One worker per model/target list:
#   nohup bash scripts/table1_queue.sh ecn_slambda e_fermi > runs/table1_a.log 2>&1 &
#   nohup bash scripts/table1_queue.sh ecn_slambda magmom_per_atom > runs/table1_b.log 2>&1 &
# DEADLINE (a time `date -d` reads, e.g. 20:10) instead pauses each run at that clock time, so a
# list of targets ends together (a run that would get under 10 minutes is not started).
# SEEDS (default 1) seeds per run; COMPILE=1 compiles each training forward (torch.compile, the
# same function, faster steps: MEGNet). Each finished run's records are kept under
# results/table1_runs/, and after each run results/table1/*.md are rewritten from every finished
# run with 3 seeds per row (the paper's count), as a fresh clone does with
# `ecn reproduce table1 --no-train --seeds 3 ...`.
set -euo pipefail
model="${1:?ecn_slambda, ecn_p1, cgcnn or megnet}"
shift
targets=("${@:-e_form e_fermi magmom_per_atom band_gap is_metal}")
for target in ${targets[@]}; do
  cap="${SESSION_CAP:-150}"
  if [ -n "${DEADLINE:-}" ]; then  # the cap of each run: the minutes left until DEADLINE
    cap=$(( ( $(date -d "$DEADLINE" +%s) - $(date +%s) ) / 60 ))
    if [ "$cap" -lt 10 ]; then
      echo "less than 10 minutes before $DEADLINE: $model $target not started"
      break
    fi
  fi
  python -m ecn.cli reproduce table1 --model "$model" --target "$target" --seeds "${SEEDS:-1}" \
    --epochs 1000 --patience 25 --session-cap "$cap" --threads 1 --precision 32 \
    --recipe configs/table2_recipe.yaml --runs runs/table1_conv --results results --no-table \
    ${COMPILE:+--compile}
  # the tables always show the paper's seed count (3), whatever SEEDS this worker trains
  # (from the archived records under results/table1_runs/, so that the tables name committed
  # paths, not this machine's runs/ folder)
  python -m ecn.cli reproduce table1 --no-train --seeds 3 --epochs 1000 --patience 25 \
    --threads 1 --precision 32 --recipe configs/table2_recipe.yaml --results results
done
