#!/usr/bin/env bash
# The Perov-5 ablation ladder (issue 23) on CPU, as one-thread workers (2 on a 2-core machine):
#   nohup bash scripts/ablation_queue.sh cpu-a > runs/ablation_a.log 2>&1 &
#   nohup bash scripts/ablation_queue.sh cpu-b > runs/ablation_b.log 2>&1 &
#   bash scripts/ablation_queue.sh table      # rewrite results/table2_ablation/table2_ablation.md
# Each worker trains or resumes its rungs (`ecn reproduce ablation`: a finished run is reused,
# an interrupted one resumes from last.ckpt), archives finished runs' records under
# results/table2_ablation_runs/ and rewrites the table. The rungs that need a GPU to converge in
# reasonable time (5 Å graph with the plateau schedule, 128x6, the cover) are queued on a lent
# GPU by scripts/ablation_gpu.sh; any of them can also run here with `--rung NAME`.
# `set -e` is off on purpose: a rung that fails (e.g. an option this build lacks) must not
# stop the rungs after it.
set -uo pipefail
abl() { python -m ecn.cli reproduce ablation --threads 1 "$@"; }
# ECN_QUEUE_AFTER=PID: start once that process (a run already going) has ended
while [ -n "${ECN_QUEUE_AFTER:-}" ] && kill -0 "$ECN_QUEUE_AFTER" 2>/dev/null; do sleep 15; done
case "${1:?cpu-a, cpu-b, resume-a, resume-b, bigsplit, gpu-rungs-on-cpu or table}" in
  cpu-a)
    abl --rung ecn_slambda_voronoi_64x4_es
    abl --rung ecn_slambda_voronoi_64x4_plateau ;;
  cpu-b)
    abl --rung ecn_slambda_r8n12_64x4_es
    abl --rung cgcnn_es ;;
  resume-a) # session 2026-12-04: the settled recipe (es) at 3 seeds, then the authors' parts
    abl --rung ecn_slambda_r5_64x4_es --seed 0
    abl --rung ecn_slambda_r5_64x4_es --seed 1
    abl --rung ecn_slambda_r5_64x4_es --seed 2
    abl --rung ecn_slambda_r5_64x4_sameatom_plateau
    abl --rung ecn_slambda_r8n12_64x4_es --seed 1
    abl --rung ecn_slambda_r8n12_64x4_es --seed 2
    abl --rung ecn_slambda_r5_64x4_es_frac0.25
    abl --rung ecn_slambda_r5_64x4_es_frac0.5
    abl --rung ecn_slambda_r5_64x4_cover_plateau
    abl --rung ecn_slambda_r5_64x4_plateau --seed 0
    abl --rung ecn_slambda_r5_64x4_plateau --seed 2 ;;
  resume-b)
    abl --rung ecn_sn_r5_64x4_es --seed 1
    abl --rung ecn_sn_r5_64x4_es --seed 2
    abl --rung cgcnn_es --seed 1
    abl --rung cgcnn_es --seed 2
    abl --rung cgcnn_es_frac0.25
    abl --rung cgcnn_es_frac0.5
    abl --rung ecn_slambda_r5_64x4_es_bigsplit
    abl --rung cgcnn_es_bigsplit
    abl --rung ecn_p1_r5_64x4_plateau
    abl --rung ecn_sn_r5_64x4_plateau --seed 1
    abl --rung ecn_sn_r5_64x4_es_bigsplit
    abl --rung ecn_sn_r5_64x4_cover_plateau
    abl --rung ecn_slambda_r5_128x6_plateau ;;
  bigsplit) # the winners on the larger training split (not the paper's protocol)
    abl --rung ecn_slambda_r5_64x4_es_bigsplit
    abl --rung cgcnn_es_bigsplit
    abl --rung ecn_sn_r5_64x4_es_bigsplit ;;
  gpu-rungs-on-cpu)
    abl --rung ecn_slambda_r5_64x4_es --rung ecn_sn_r5_64x4_es \
        --rung ecn_slambda_r5_64x4_plateau --rung ecn_sn_r5_64x4_plateau --rung cgcnn_plateau ;;
  table)
    abl --no-train ;;
  *) echo "usage: $0 cpu-a|cpu-b|resume-a|resume-b|bigsplit|gpu-rungs-on-cpu|table" >&2; exit 2 ;;
esac
