#!/bin/bash
# Regenerates results/continuity/ (issue 26). Run from the repository root.
set -e
R=results/continuity
run() { name=$1; shift; OMP_NUM_THREADS=1 ecn check continuity "$@" --out $R/$name.json 2>/dev/null | grep -v "^wrote\|^results/" || true; }
# `bash results/continuity/regenerate.sh trained-continuous`: only the shipped continuous
# models and the trained continuous MP model(s) below, and the README (each summary's header names its model and settings).
# "Before": a shipped model since replaced by its continuous fine-tune (scripts/flat_queue.sh) is
# measured as it was shipped at commit $BEFORE (parity colours, hard edges), read from git, as
# <name>-before*, with 1% of its own test MAE as the threshold; the others under their name.
BEFORE=169d458
mkdir -p runs/continuity
src_of() {  # name -> "<file or name> <output name> <threshold flag>"
  f=runs/continuity/$1-before.pt
  git show $BEFORE:src/ecn/resources/pretrained/$1.pt > $f
  if cmp -s $f src/ecn/resources/pretrained/$1.pt; then echo "$1 $1"; return; fi
  t=$(git show $BEFORE:src/ecn/resources/pretrained/registry.json | python -c "import json, sys; m = (json.load(sys.stdin)['$1'].get('test') or {}).get('mae'); print(0.01 * m if m else 1e-3)")
  echo "$f $1-before --threshold $t"
}
# (an ensemble's options cannot be changed: `ecn check` refuses its envelope-poly variants and
# writes no file; perov5-heat_all already has the poly envelope)
if [ "${1:-all}" != trained-continuous ]; then
for m in perov5-heat_all mp-e_form mp-band_gap mp-is_metal; do
  read -r b n th <<< "$(src_of $m)"
  run $n $b --limit 100 $th
  run ${n}_envelope-poly $b --limit 100 --option envelope=poly $th
  run ${n}_canonical-off $b --limit 100 --canonical off $th
  run ${n}_canonical-off_envelope-poly $b --limit 100 --canonical off --option envelope=poly $th
done
for m in mp-magmom mp-e_fermi; do  # the shipped models added later: as shipped
  read -r b n th <<< "$(src_of $m)"
  run $n $b --limit 100 $th
done
for m in perov5-heat_all mp-e_form; do
  read -r b n th <<< "$(src_of $m)"
  run ${n}_canonical-off_no-wrap $b --limit 100 --canonical off --no-wrap $th
  run ${n}_canonical-off_no-wrap_envelope-poly $b --limit 100 --canonical off --no-wrap --option envelope=poly $th
done
C=runs/ablation/cgcnn_es_seed0/model.pt   # CGCNN on Perov-5, test MAE 0.0734 eV/cell
run cgcnn-perov5 $C --limit 100 --threshold 0.000734
run cgcnn-perov5_canonical-off_no-wrap $C --limit 100 --threshold 0.000734 --canonical off --no-wrap
# CGCNN on MP (Table 1 runs; threshold 1% of each run's test MAE), when their runs are here
for t in magmom_per_atom e_fermi; do
  C=runs/table1_conv/$t/cgcnn_seed0
  if [ -f $C/model.pt ]; then run cgcnn-mp-$t $C --limit 100; fi
done
mkdir -p runs/continuity
# untrained ECN-SΛ 64x4 + same-atom on the 5 Å graph, seed 0 (float32; threshold 1e-6)
python -c "
import torch
from ecn.inference import PropertyModel, TargetInfo, save_model_file
from ecn.nn import ModelConfig, build_model
from ecn.nn.graph_settings import resolve_graph_settings
gs = resolve_graph_settings('ecn', 'perov5')
torch.manual_seed(0)
net = build_model(ModelConfig('ecn', gs.node_feature_dim, gs.n_gaussians, options=dict(width=64, layers=4, same_atom=True)))
save_model_file('runs/continuity/ecn_untrained_r5.pt', PropertyModel(net, TargetInfo(('y',), ('',))), gs, 'perov5')
"
U=runs/continuity/ecn_untrained_r5.pt
run untrained-ecn-r5_canonical-off_no-wrap $U --limit 100 --threshold 1e-6 --canonical off --no-wrap
run untrained-ecn-r5_canonical-off_no-wrap_envelope-poly $U --limit 100 --threshold 1e-6 --canonical off --no-wrap --option envelope=poly
# the same untrained weights, parity colours vs soft cell colours (cell_colors=soft, weight-free):
# as shipped (canonical step on, wrapped coordinates) and with no canonical step at all
run untrained-ecn-r5_envelope-poly $U --limit 100 --threshold 1e-6 --option envelope=poly
run untrained-ecn-r5_envelope-poly_soft-cells $U --limit 100 --threshold 1e-6 --option envelope=poly --option cell_colors=soft
run untrained-ecn-r5_canonical-off_envelope-poly $U --limit 100 --threshold 1e-6 --canonical off --option envelope=poly
run untrained-ecn-r5_canonical-off_envelope-poly_soft-cells $U --limit 100 --threshold 1e-6 --canonical off --option envelope=poly --option cell_colors=soft
# untrained ECN-SΛ 64x4 on MP's Voronoi + Cordero graph, seed 0 (float32; threshold 1e-6): soft
# cell colours with the band envelope, without and with the Voronoi face weight (face_area=0.5
# Å^2: a face opens with zero area), as shipped (canonical step on) and with none
python -c "
import torch
from ecn.inference import PropertyModel, TargetInfo, save_model_file
from ecn.nn import ModelConfig, build_model
from ecn.nn.graph_settings import resolve_graph_settings
gs = resolve_graph_settings('ecn', 'mp')
torch.manual_seed(0)
net = build_model(ModelConfig('ecn', gs.node_feature_dim, gs.n_gaussians, options=dict(width=64, layers=4, envelope='band', cell_colors='soft')))
save_model_file('runs/continuity/ecn_untrained_mp.pt', PropertyModel(net, TargetInfo(('y',), ('',))), gs, 'mp')
"
V=runs/continuity/ecn_untrained_mp.pt
run untrained-ecn-mp_envelope-band_soft-cells $V --limit 100 --threshold 1e-6
run untrained-ecn-mp_envelope-band_soft-cells_face $V --limit 100 --threshold 1e-6 --option face_area=0.5
run untrained-ecn-mp_canonical-off_envelope-band_soft-cells_face $V --limit 100 --threshold 1e-6 --canonical off --option face_area=0.5
fi
# every shipped model that replaced a "before" one, as shipped now (the continuous fine-tunes:
# configs/mp_e_form_flat.yaml, configs/mp_continuous_finetune.yaml)
for m in $(python -c "from ecn.inference.pretrained import read_registry; print(' '.join(sorted(read_registry())))"); do
  read -r b n th <<< "$(src_of $m)"
  if [ "$n" = "$m-before" ]; then run $m $m --limit 100; fi
done
# trained continuous ECN-SΛ on MP (configs/mp_e_form_continuous_voronoi.yaml, band envelope +
# Voronoi face weight + soft cell colours, from scratch: scripts/continuous_queue.sh), when its
# model.pt is kept beside its record (results/table1_runs/) or its run is here
# (a PATIENCE=N run is named mp-<target>-continuous-patienceN-seed<S>)
seen=" "
for t in e_form e_fermi magmom_per_atom band_gap is_metal; do
  for d in results/table1_runs/$t/ecn_slambda_continuous*_seed* runs/table1_conv/$t/ecn_slambda_continuous*_seed*; do
    v=$(basename $d); v=${v#ecn_slambda_}; n=mp-$t-${v//_/-}
    if [ -f $d/model.pt ] && [[ $seen != *" $n "* ]]; then run $n $d/model.pt --limit 100; seen="$seen$n "; fi
  done
done
# the same, fine-tuned with the slope penalty (scripts/flat_queue.sh: optim.slope_penalty, flat in
# atom moves and strain), when their runs are here: MP E_form seeds and perov5-heat_all members
# (their model.pt is kept beside the record in results/flat_runs/, else taken from runs/slope/)
flat() { [ -f results/flat_runs/$1/model.pt ] && echo results/flat_runs/$1/model.pt || echo runs/slope/$1/model.pt; }
for s in 0 1 2; do
  M=$(flat e_form_flat_seed$s)
  if [ -f $M ]; then run mp-e_form-flat-seed$s $M --limit 100; fi
  M=$(flat perov5_flat_seed$s)
  if [ -f $M ]; then run perov5-heat_all-flat-seed$s $M --limit 100; fi
  for M in results/flat_runs/perov5_flat_slope*_seed$s/model.pt; do  # SLOPE=X flat_queue.sh runs
    v=$(basename $(dirname $M)); v=${v#perov5_flat_}
    if [ -f $M ]; then run perov5-heat_all-flat-${v%_seed*}-seed$s $M --limit 100; fi
  done
  # trained from scratch with the penalty (flat_queue.sh scratch:K, configs/perov5_flat_scratch.yaml)
  M=results/flat_runs/perov5_flat_scratch_seed$s/model.pt
  if [ -f $M ]; then run perov5-heat_all-flat-scratch-seed$s $M --limit 100; fi
  # the shipped mp-e_form's members made continuous and flat (configs/mp_e_form_flat.yaml)
  M=$(flat mp_e_form_flat_member$s)
  if [ -f $M ]; then run mp-e_form-flat-member$s $M --limit 100; fi
done
# the shipped single MP models fine-tuned continuous (configs/mp_continuous_finetune.yaml), kept
# in results/flat_runs/ whether shipped or not (mp-magmom's lost accuracy: not shipped)
for t in band_gap magmom_per_atom is_metal; do
  M=results/flat_runs/mp_${t}_continuous/model.pt
  if [ -f $M ]; then run mp-$t-continuous-finetune $M --limit 100; fi
done
# the shipped continuous single MP models fine-tuned with the slope penalty (flat_queue.sh flat:T,
# SLOPE=X), kept in results/flat_runs/ whether shipped or not
for M in results/flat_runs/mp_*_continuous_flat*/model.pt; do
  v=$(basename $(dirname $M)); v=${v#mp_}; v=${v/_continuous_flat/-continuous-flat}
  if [ -f $M ]; then run mp-${v//_slope/-slope} $M --limit 100; fi
done
# ECN-SΛ on CGCNN's 8 Å / 12-neighbour graph (configs/mp_ecn_r8n12.yaml, scripts/config_queue.sh;
# a k-cap switches edges: a Table 1 variant, not continuous), kept with model.pt in table1_runs/
for M in results/table1_runs/*/ecn_slambda_r8n12_seed*/model.pt; do
  [ -f $M ] || continue
  d=$(dirname $M); t=$(basename $(dirname $d)); s=${d##*_seed}
  run mp-$t-r8n12-seed$s $M --limit 100
done
# ECN-SΛ on the continuous form of that graph (configs/mp_ecn_r8n12_continuous.yaml: every edge
# fades out before min(8 Å, d_12 + 0.5 Å), a limit continuous in the positions), kept likewise
for M in results/table1_runs/*/ecn_slambda_r8n12_continuous_seed*/model.pt; do
  [ -f $M ] || continue
  d=$(dirname $M); t=$(basename $(dirname $d)); s=${d##*_seed}
  run mp-$t-r8n12-continuous-seed$s $M --limit 100
done
# README: what each file isolates (text), then every generated summary (numbers), in this order
{
  echo "# Continuity: nearby crystal, nearby prediction (issue 26)"
  echo
  echo "Generated by \`bash results/continuity/regenerate.sh\` (every file here comes from"
  echo "\`ecn check continuity\`; JSON beside each summary has every crystal's row). Default: the"
  echo "first 100 test crystals, every atom moved by eps along fixed random directions (displace) or"
  echo "a random strain (strain), seed 0. A jump: change > 1% of the model's test MAE and > 10x the"
  echo "linear trend from the next smaller size. Variants isolate the sources: as shipped (canonical"
  echo "step on, wrapped CIF coordinates); \`envelope-poly\` (the same weights with the smooth"
  echo "envelope: another function, the model was not trained with it); \`canonical-off\` (no spglib"
  echo "step: a wrap across a cell face changes image offsets, i.e. parity colours); \`no-wrap\`"
  echo "(offsets kept: only the neighbour graph can jump); \`soft-cells\` (the S_Λ colour of each"
  echo "edge weighted smoothly from its vector and the lattice, \`cell_colors=soft\`: no parity"
  echo "colours left to jump); \`envelope-band\` (weight 1 up to 0.5 Å before each edge's limit,"
  echo "then a smooth fade to 0); \`face\` (each edge also weighted by the area of its Voronoi face,"
  echo "0 at zero area, 1 from 0.5 Å^2 on); \`continuous\` (trained with band envelope, face"
  echo "weight and soft colours, configs/mp_e_form_continuous_voronoi.yaml); \`flat\` (fine-tuned"
  echo "with the slope penalty on atom moves and strain, optim.slope_penalty, scripts/flat_queue.sh);"
  echo "\`cgcnn-mp-<target>\` (CGCNN's Table 1 runs); \`mp-<target>-r8n12-seed<k>\` (ECN-SΛ on CGCNN's"
  echo "8 Å / 12-neighbour graph: its k-cap switches edges); \`mp-<target>-r8n12-continuous-seed<k>\`"
  echo "(the same graph made continuous: each edge fades out before min(8 Å, d_12 + 0.5 Å),"
  echo "configs/mp_ecn_r8n12_continuous.yaml); \`<name>-before\` (a shipped model since"
  echo "replaced by its continuous fine-tune, as shipped at commit $BEFORE: parity colours, hard"
  echo "edges). Jumps are refined: a flagged size is re-examined on 8 finer sizes along the same"
  echo "line and cleared if the rise is smooth there. Commit: $(git rev-parse --short HEAD)."
  for f in $R/*.md; do
    [ "$(basename $f)" = README.md ] && continue
    echo; echo "## $(basename $f .md)"; echo; cat $f
  done
} > $R/README.md
