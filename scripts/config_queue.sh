#!/usr/bin/env bash
# One MP config, any Table 1 targets and seeds, one thread each, resumable across sessions:
#   bash scripts/config_queue.sh CONFIG NAME TARGET:SEED [TARGET:SEED ...]
# runs runs/table1_conv/<target>/<NAME>_seed<S>. A finished run is skipped, an interrupted one
# resumes from last.ckpt; SESSION_CAP (minutes, default 150) pauses a run, which is then parked
# in results/table1_parked/<target>/<name>/ (commit it) so the same line in a later session
# resumes it (runs/ does not outlive a session). Each finished run's record and model.pt are kept
# under results/table1_runs/<target>/<name>/ (the Table 1 runs' place). PATIENCE=N: early-stopping
# patience N instead of the config's, in a run of its own (<NAME>_patienceN_seed<S>).
# Targets: e_form e_fermi magmom_per_atom band_gap is_metal (ecn data info mp).
set -euo pipefail
. "$(dirname "$0")/queue_common.sh"
cfg=${1:?CONFIG}
prefix=${2:?NAME}
shift 2
for job in "$@"; do
  target=${job%%:*}
  seed=${job##*:}
  name=$prefix${PATIENCE:+_patience$PATIENCE}_seed$seed
  out=runs/table1_conv/$target/$name
  kept=results/table1_runs/$target/$name
  parked=results/table1_parked/$target/$name
  extra=()
  [ -n "${PATIENCE:-}" ] && extra=(--patience "$PATIENCE")
  train_queued "$out" "$kept" "$parked" --config "$cfg" --target "$target" --seed "$seed" "${extra[@]}"
done
