#!/bin/bash
# Issue 13 acceptance: from a fresh virtual environment, install ecn from this tree (a wheel, not
# editable) and run `ecn models` and `ecn predict --model perov5-heat_all` on a folder of CIFs.
# Usage: bash scripts/fresh_venv_transcript.sh results/pretrained/pretrained_transcript.txt
# MODELS (default: perov5-heat_all and every mp-* model shipped) are each run on the folder.
set -euo pipefail
out=${1:-results/pretrained/pretrained_transcript.txt}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m venv "$work/venv"
. "$work/venv/bin/activate"
{
  echo "# fresh venv: $(python --version), $(date -u +%Y-%m-%dT%H:%MZ), ecn at $(git -C "$repo" rev-parse --short HEAD)"
  echo "$ pip install torch==2.13.0 <repo>   (non-editable: the wheel's package data)"
  pip install -q torch==2.13.0 >/dev/null 2>&1
  pip install -q "$repo" >/dev/null 2>&1
  cd "$work"
  mkdir cifs
  python - <<'PY'
from pymatgen.core import Lattice, Structure
sr = Structure(Lattice.cubic(3.905), ["Sr", "Ti", "O", "O", "O"],
               [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
sr.to(filename="cifs/SrTiO3_primitive.cif")
(sr * (2, 1, 1)).to(filename="cifs/SrTiO3_2x1x1.cif")
ba = Structure(Lattice.cubic(4.00), ["Ba", "Ti", "O", "O", "O"],
               [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
ba.to(filename="cifs/BaTiO3.cif")
open("cifs/broken.cif", "w").write("data_x\nnot a cif\n")
PY
  echo "$ ls cifs"; ls cifs
  echo "$ ecn models"; COLUMNS=200 ecn models | sed "s#$work/##g"
  models=${MODELS:-$(python -c "from ecn.inference.pretrained import list_models
print(' '.join(m['name'] for m in list_models()))")}
  for m in $models; do
    echo "$ ecn predict --model $m cifs/ --out p_$m.csv"
    COLUMNS=200 ecn predict --model "$m" cifs/ --out "p_$m.csv" 2>&1 | grep -v "^INFO"
    echo "$ cat p_$m.csv"; sed "s#$work/##g" "p_$m.csv"
  done
} > "$repo/$out" 2>&1
echo "wrote $out"
