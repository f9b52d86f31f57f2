"""ecn.experiments: workflows built on ``ecn.train`` and ``ecn.inference``.

* :mod:`~ecn.experiments.quickstart`: the README's main job (small real training + predictions).
* :mod:`~ecn.experiments.reproduce`: ``ecn reproduce table1 | table2`` (train or reuse every
  row's seeds, archive the records); the rows and the paper's numbers are in
  :mod:`~ecn.experiments.variants`, what each row gets in :mod:`~ecn.experiments.budget`.
* :mod:`~ecn.experiments.tables`: tables from run records (``ecn report``), with
  :mod:`~ecn.experiments.seeds` (mean ± std over seeds) and :mod:`~ecn.experiments.plots`;
  :mod:`~ecn.experiments.setups`: same-budget comparisons (``ecn report --group-by setup``).
* :mod:`~ecn.experiments.size_curve`: test MAE against training-set size, power-law fit.
* :mod:`~ecn.experiments.ablation`: the Perov-5 ablation ladder (``ecn reproduce ablation``), and
  :mod:`~ecn.experiments.table2_settled`: paper Table 2 on the setup the ladder settled.
* :mod:`~ecn.experiments.layout`: the folder of each topic in ``results/``, and
  :mod:`~ecn.experiments.results_index`: ``ecn results index`` writes ``results/README.md``
  (every table and figure, what it shows, the command that regenerates it, its commit).
* :mod:`~ecn.experiments.packaging` and :mod:`~ecn.experiments.pretrained_report`: shipping a
  run as a pretrained model (card, registry) and the shipped models' table.
* :mod:`~ecn.experiments.ensembles`: several runs packaged as one ensemble with a recalibrated
  std (``ecn models package RUN1 RUN2 ...``); its steps in
  :mod:`~ecn.experiments.ensemble_members`, :mod:`~ecn.experiments.ensemble_calibration` and
  :mod:`~ecn.experiments.ensemble_spread`.
"""
