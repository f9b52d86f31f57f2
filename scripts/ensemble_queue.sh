#!/usr/bin/env bash
# Members of the perov5-heat_all ensemble (issue 29 item 3): the shipped model's recipe (the
# ablation rung ecn_slambda_r5_64x4_sameatom_plateau: ECN-SΛ 64x4 + same-atom branch on the 5 Å
# graph, plateau schedule to min_lr), seeds 0, 1, 2, one torch thread. A finished member is
# skipped, an interrupted one resumes from last.ckpt; SESSION_CAP (minutes, default 150) pauses
# a run so the next call resumes it:
#   nohup bash scripts/ensemble_queue.sh > runs/ensemble.log 2>&1 &
# Then: ecn models package runs/ensemble/perov5_heat_all_seed{0,1,2} --name perov5-heat_all
set -euo pipefail
cfg=results/table2_ablation_runs/ecn_slambda_r5_64x4_sameatom_plateau_seed2/config.yaml
for seed in ${SEEDS:-0 1 2}; do
  out=runs/ensemble/perov5_heat_all_seed$seed
  [ -f "$out/results.json" ] && continue
  resume=()
  [ -f "$out/last.ckpt" ] && resume=(--resume)
  OMP_NUM_THREADS=1 python -m ecn.cli train --config "$cfg" --seed "$seed" --out "$out" \
    --threads 1 --session-cap "${SESSION_CAP:-150}" --no-progress "${resume[@]}"
done
