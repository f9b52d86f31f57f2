#!/usr/bin/env bash
# Converged Perov-5 Table 2 (issue 13, item 3) as two one-thread workers on a 2-core CPU:
#   nohup bash scripts/table2_queue.sh ecn > runs/table2_ecn.log 2>&1 &
#   nohup bash scripts/table2_queue.sh baselines > runs/table2_baselines.log 2>&1 &
# Every run stops early on validation (patience 25), at 1000 epochs, or at a 90-minute cap;
# interrupted runs resume from last.ckpt when the same line is run again (also in a later
# session). Each call rewrites results/table2/table2.{md,json,png} from every finished run, so
# the table fills as runs finish; `bash scripts/table2_queue.sh table` rewrites it (and the size
# curve) from the finished runs alone, with the same flags. Finished runs' records are kept
# in results/table2_runs/ (the runs of the current table2.md predate that: its record is
# results/table2/table2.{md,json}).
# Then the training-size curve: 25 % and 50 % of the split for ECN-SΛ and CGCNN, and
# `ecn reproduce sizes`.
set -euo pipefail
# float32: the table's runs ran on a CPU without bf16, where `auto` means float32
common=(--epochs 1000 --patience 25 --time-budget 90 --threads 1 --precision 32
        --recipe configs/table2_recipe.yaml --runs runs/table2_conv --results results
        --seeds 3 --seeds-for ecn_p1=1 --seeds-for ecn_glambda=1 --seeds-for ecn_sn=1
        --seeds-for megnet=1 --seeds-for schnet=1)
ecn() { python -m ecn.cli reproduce table2 "${common[@]}" "$@"; }
case "${1:?ecn, baselines or table}" in
  ecn)
    ecn --model ecn_slambda
    ecn --model ecn_p1 --model ecn_glambda --model ecn_sn
    for f in 0.25 0.5; do ecn --model ecn_slambda --seeds 1 --train-fraction "$f"; done ;;
  baselines)
    ecn --model cgcnn
    ecn --model megnet --model schnet
    for f in 0.25 0.5; do ecn --model cgcnn --seeds 1 --train-fraction "$f"; done ;;
  table)
    ecn --no-train
    for f in 0.25 0.5; do
      ecn --no-train --seeds 1 --train-fraction "$f" --model ecn_slambda --model cgcnn || true
    done
    python -m ecn.cli reproduce sizes --results results ;;
  *) echo "usage: $0 ecn|baselines|table" >&2; exit 2 ;;
esac
