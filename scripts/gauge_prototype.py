"""Prototype of smooth gauge averaging (issue 26 item 3) on the shipped perov5-heat_all: gauge
average vs canonical single pass on the first 12 Perov-5 test crystals: description invariance
(max over ecn.graphs.descriptions) and the change under displacements 1e-5..1e-2 Å.
Usage: python scripts/gauge_prototype.py [WIDTH_A] (about 45 min on one loaded core)."""

import sys
import time
from dataclasses import replace

import numpy as np
import pandas as pd
from pymatgen.core import Structure

import ecn
from ecn.graphs.build import unit_graph
from ecn.graphs.canonical import canonical_structure
from ecn.graphs.descriptions import equivalent_descriptions
from ecn.graphs.gauge import apply_gauge, gauge_configurations
from ecn.graphs.perturb import perturbations
from ecn.inference.forward import predict_member_graphs
from ecn.inference.prepare import with_group_inputs

width = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
p = ecn.load_model("perov5-heat_all")
st = p.settings
raw = replace(st, canonical="off")


def gauge_pred(s):
    canon = canonical_structure(s, st.canonical, st.symprec)
    u = unit_graph(canon, raw)
    cfgs = gauge_configurations(canon.lattice.matrix, canon.frac_coords, width)
    units = with_group_inputs([apply_gauge(u, c.lifts) for c in cfgs], p.group)
    out = predict_member_graphs(p.model, units, 1024, False, st)  # (K, G, T)
    w = np.array([c.weight for c in cfgs])
    return float((out.mean(axis=0)[:, 0] * w).sum()), len(cfgs)


df = pd.read_csv("/work/shared/data/perov_5/test.csv").iloc[:12]
t0 = time.time()
for cif, y in zip(df.cif, df.heat_all, strict=True):
    s = Structure.from_str(cif, fmt="cif")
    g, n = gauge_pred(s)
    c = float(p.predict([s])[0])
    descs = equivalent_descriptions(s, seed=0)
    gi = [gauge_pred(d.structure)[0] for d in descs]
    perts = perturbations(s, [1e-5, 1e-4, 1e-3, 1e-2], ["displace"], 0, True)
    gp = [abs(gauge_pred(q.structure)[0] - g) for q in perts]
    cp = [abs(float(v) - c) for v in p.predict([q.structure for q in perts])]
    print(
        f"y={y:.3f} canon={c:.3f} gauge={g:.3f} n={n} inv={max(abs(np.array(gi) - g)):.1e} "
        f"cont_gauge={' '.join(f'{v:.1e}' for v in gp)} "
        f"cont_canon={' '.join(f'{v:.1e}' for v in cp)}",
        flush=True,
    )
print("s", time.time() - t0)
