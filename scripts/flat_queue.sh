#!/usr/bin/env bash
# Slope-penalty fine-tunes (issue 26: flat in atom moves and strain, optim.slope_penalty), one
# thread each, resumable (SESSION_CAP minutes, default 150, pauses; the same line resumes):
#   perov5:K   member K of the shipped perov5-heat_all      (configs/perov5_flat.yaml)
#   mp:K       member K of the shipped mp-e_form, made continuous (configs/mp_e_form_flat.yaml)
#   cont:T     the shipped single-model mp-T made continuous, no slope penalty (T: band_gap,
#              magmom_per_atom or is_metal; configs/mp_continuous_finetune.yaml)
#   e_form:S   the continuous MP E_form run of seed S        (configs/mp_e_form_continuous_flat.yaml,
#              from scripts/continuous_queue.sh e_form:S: its model.pt kept in results/table1_runs/)
#   flat:T     the shipped continuous single-model mp-T with the slope penalty (T: e_fermi,
#              magmom_per_atom; configs/mp_e_form_continuous_flat.yaml with --target T)
#   scratch:K  Perov-5 ECN-SΛ of seed K trained from scratch with the penalty, the shipped
#              members' setup otherwise (configs/perov5_flat_scratch.yaml)
#   nohup bash scripts/flat_queue.sh perov5:0 perov5:1 perov5:2 > runs/flat_a.log 2>&1 &
# SLOPE=X sets optim.slope_penalty instead of the config's, in a run of its own (name suffix
# _slopeX; perov5 and mp jobs), e.g. SLOPE=0.03 bash scripts/flat_queue.sh perov5:0.
# EPOCHS=N caps the epochs (the plateau schedule is unchanged, so a capped run is the same run
# stopped earlier). Each finished run's record and its model.pt (small: the run directory under
# runs/ does not outlive a session) are kept under results/flat_runs/<run name>/; a run paused at
# its SESSION_CAP is parked in results/flat_parked/<run name>/ (commit it) and the same line in a
# later session resumes it from there (ecn.train.record.park_run / unpark_run).
set -euo pipefail
. "$(dirname "$0")/queue_common.sh"
for job in "$@"; do
  kind=${job%%:*}
  k=${job##*:}
  case $kind in
    perov5)
      cfg=configs/perov5_flat.yaml
      out=runs/slope/perov5_flat_seed$k
      extra=(--init-member "$k" --seed "$k")
      ;;
    mp)
      cfg=configs/mp_e_form_flat.yaml
      out=runs/slope/mp_e_form_flat_member$k
      extra=(--init-member "$k" --seed "$k")
      ;;
    cont | flat)
      cfg=configs/mp_continuous_finetune.yaml
      out=runs/slope/mp_${k}_continuous
      if [ "$kind" = flat ]; then cfg=configs/mp_e_form_continuous_flat.yaml; out=${out}_flat; fi
      src=mp-$k
      [ "$k" = magmom_per_atom ] && src=mp-magmom
      extra=(--target "$k" --init-from "$src" --seed 0)
      ;;
    scratch)
      cfg=configs/perov5_flat_scratch.yaml
      out=runs/slope/perov5_flat_scratch_seed$k
      extra=(--seed "$k")
      ;;
    e_form)
      cfg=configs/mp_e_form_continuous_flat.yaml
      out=runs/slope/e_form_flat_seed$k
      extra=(--init-from "results/table1_runs/e_form/ecn_slambda_continuous_seed$k" --seed "$k")
      ;;
    *)
      echo "unknown job $job (perov5:K, mp:K, cont:T, flat:T, scratch:K or e_form:S)" >&2
      exit 2
      ;;
  esac
  if [ -n "${SLOPE:-}" ]; then
    case $kind in
      perov5 | mp | scratch) out=${out%_*}_slope${SLOPE}_${out##*_}; extra+=(--slope-penalty "$SLOPE") ;;
      flat) out=${out}_slope${SLOPE}; extra+=(--slope-penalty "$SLOPE") ;;
      *) echo "SLOPE is for perov5:K, mp:K, scratch:K and flat:T jobs" >&2; exit 2 ;;
    esac
  fi
  kept=results/flat_runs/$(basename "$out")
  parked=results/flat_parked/$(basename "$out")
  [ -n "${EPOCHS:-}" ] && extra+=(--epochs "$EPOCHS")
  train_queued "$out" "$kept" "$parked" --config "$cfg" "${extra[@]}"
done
