# Shared steps of the background training queues (sourced by scripts/flat_queue.sh and
# scripts/continuous_queue.sh): runs/ does not outlive a session, so a finished run is kept under
# results/ (record + model.pt) and a run paused at its session cap is parked under results/ (what
# resuming needs) until a later session resumes it (ecn.train.record.keep_run / park_run /
# unpark_run).

# unpark PARKED OUT: put a parked run back where training resumes it (never over OUT's own last.ckpt)
unpark() {
  python -c "import sys; from ecn.train.record import unpark_run; unpark_run(*sys.argv[1:]) and print('resuming the parked', sys.argv[1])" "$1" "$2"
}

# park_or_clear OUT PARKED: park a paused run; once it finished (or never started), drop its parked copy
park_or_clear() {
  python - "$1" "$2" <<'PY'
import shutil
import sys

from ecn.train.record import park_run

if park_run(sys.argv[1], sys.argv[2]):
    print("parked in", sys.argv[2])
else:
    shutil.rmtree(sys.argv[2], ignore_errors=True)
PY
}

# keep OUT KEPT: keep a finished run's record and model.pt (each only if not kept already)
keep() {
  python -c "import sys; from ecn.train.record import keep_run; [print('kept', p) for p in keep_run(*sys.argv[1:])]" "$1" "$2"
}
