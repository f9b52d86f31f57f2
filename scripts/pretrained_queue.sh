#!/usr/bin/env bash
# Pretrained models for Table 1 targets (issue 27 item 2): retrain the converged Table 1 ECN-SΛ
# run of each target from its archived config (same data, split, recipe, seed) into
# runs/pretrained/<name>, because the archive keeps records, not weights. A finished run is
# skipped, an interrupted one resumes; SESSION_CAP (minutes, default 150) pauses a run.
#   nohup bash scripts/pretrained_queue.sh magmom_per_atom:mp-magmom e_fermi:mp-e_fermi &
# Then package each: ecn models package runs/pretrained/mp-magmom --name mp-magmom
set -euo pipefail
for pair in "$@"; do
  target=${pair%%:*}
  name=${pair#*:}
  cfg=results/table1_runs/$target/ecn_slambda_seed0/config.yaml
  out=runs/pretrained/$name
  [ -f "$out/results.json" ] && continue
  resume=()
  [ -f "$out/last.ckpt" ] && resume=(--resume)
  OMP_NUM_THREADS=1 python -m ecn.cli train --config "$cfg" --out "$out" --threads 1 \
    --session-cap "${SESSION_CAP:-150}" --no-progress "${resume[@]}"
done
