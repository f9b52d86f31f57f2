"""ecn.experiments: workflows built on ``ecn.train`` and ``ecn.inference``.

* :mod:`ecn.experiments.quickstart`: the README's main job (small real training + predictions).
* :mod:`ecn.experiments.reproduce`: the paper's tables (Table 1 on MP, Table 2 on Perov-5) and
  ``ecn report``, generated from run directories.
"""
