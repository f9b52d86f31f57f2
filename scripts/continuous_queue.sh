#!/usr/bin/env bash
# Continuous, description-invariant ECN-SΛ on MP (issue 26 item 4): configs/
# mp_e_form_continuous_voronoi.yaml (the Table 1 recipe on MP's Voronoi + Cordero graph, plus the
# band envelope, the Voronoi face weight and soft cell colours) for any Table 1 target and seed.
# A finished run is skipped, an interrupted one resumes from last.ckpt; SESSION_CAP (minutes,
# default 150) pauses a run so the next call resumes it. Each finished run's record is kept
# under results/table1_runs/<target>/ecn_slambda_continuous_seed<S>/ (the Table 1 runs' place),
# with its model.pt (runs/ does not outlive a session; the weights are what a shipped model needs):
#   nohup bash scripts/continuous_queue.sh e_form:0 e_form:1 > runs/continuous_a.log 2>&1 &
#   nohup bash scripts/continuous_queue.sh band_gap:0 magmom_per_atom:0 > runs/continuous_b.log 2>&1 &
# A run paused at its SESSION_CAP is parked in results/table1_parked/<target>/<name>/ (commit
# it) and the same line in a later session resumes it from there.
# PATIENCE=N: early-stopping patience N instead of the recipe's 25, in a run of its own
# (ecn_slambda_continuous_patienceN_seed<S>): magnetic moment's val MAE has an early minimum
# (a model near 0 everywhere) that stopped seed 0 at epoch 28 while its val loss still fell.
# Targets: e_form e_fermi magmom_per_atom band_gap is_metal (ecn data info mp).
set -euo pipefail
exec bash "$(dirname "$0")/config_queue.sh" configs/mp_e_form_continuous_voronoi.yaml \
  ecn_slambda_continuous "${@:-e_form:0}"
