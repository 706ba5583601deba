"""Hyperparameter sweeps on Ray Tune: ``tfrl sweep sweep.yaml`` and ``run_sweep``.

A sweep file names an algorithm, an environment, the seeds, fixed settings and a search space (a grid, or
random samples). Every configuration is trained once per seed; each trial is an ordinary tfrl run
directory, ``<sweep_dir>/trials/<config>/seed-<s>/``, made by ``tfrl.train.train``. Ray Tune schedules the
trials (on this machine, or on a cluster with ``address``), may stop poor ones early (ASHA on the evaluation
mean), and keeps its own records in ``<sweep_dir>/ray/``. The results are gathered per configuration into
``results.csv`` and ``results.md`` (and per trial into ``trials.csv``): seeds completed and failed, the mean
of the final evaluation return with a 95% confidence interval over seeds, the mean steps to the target return
and the mean wall time.

Modules: ``tfrl.sweep.spec`` (the sweep file: validation, grids and random samples x seeds),
``tfrl.sweep.tune`` (running the trials on Ray Tune, resume, failures) and ``tfrl.sweep.results`` (the
tables and the confidence intervals). Ray, SciPy, TensorFlow and the agents are imported only inside the
functions that need them: importing ``tfrl.sweep`` stays fast.
"""

from __future__ import annotations

from tfrl.sweep.results import SweepResult, markdown_table, mean_ci, summarize, t_quantile, write_results
from tfrl.sweep.spec import SweepSpec, load_spec, parse_spec
from tfrl.sweep.tune import connect_ray, run_sweep

__all__ = ["SweepSpec", "SweepResult", "load_spec", "parse_spec", "run_sweep", "connect_ray", "summarize",
           "t_quantile", "mean_ci", "markdown_table", "write_results"]
