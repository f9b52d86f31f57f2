# Shared steps of the background training queues (sourced by scripts/flat_queue.sh and
# scripts/continuous_queue.sh): runs/ does not outlive a session, so a finished run is kept under
# results/ (record + model.pt) and a run paused at its session cap is parked under results/ (what
# resuming needs) until a later session resumes it (ecn.train.record.keep_run / park_run /
# unpark_run).

# unpark PARKED OUT: put a parked run back where training resumes it (never over OUT's own last.ckpt)
unpark() {
  python -c "import sys; from ecn.train.record import unpark_run; unpark_run(*sys.argv[1:]) and print('resuming the parked', sys.argv[1])" "$1" "$2"
}

# park OUT PARKED: park a paused run (a finished one's parked copy is removed)
park() {
  python -c "import sys; from ecn.train.record import park_run; park_run(*sys.argv[1:]) and print('parked in', sys.argv[2])" "$1" "$2"
}

# keep OUT KEPT: keep a finished run's record and model.pt (each only if not kept already)
keep() {
  python -c "import sys; from ecn.train.record import keep_run; [print('kept', p) for p in keep_run(*sys.argv[1:])]" "$1" "$2"
}

# train_queued OUT KEPT PARKED ARG...: unless OUT finished or KEPT holds its weights, run
# `ecn train ARG... --out OUT` on one thread with SESSION_CAP, resuming OUT or its parked copy;
# then park it if paused, and keep it once finished
train_queued() {
  local out=$1 kept=$2 parked=$3
  shift 3
  if [ ! -f "$out/results.json" ] && [ ! -f "$kept/model.pt" ]; then
    unpark "$parked" "$out"
    local resume=()
    [ -f "$out/last.ckpt" ] && resume=(--resume)
    OMP_NUM_THREADS=1 python -m ecn.cli train "$@" --out "$out" --threads 1 \
      --session-cap "${SESSION_CAP:-150}" --no-progress "${resume[@]}"
    park "$out" "$parked"
  fi
  keep "$out" "$kept"
}
