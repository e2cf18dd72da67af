"""Studies: a base config, sweep axes, seeds, metrics and an analysis — one file each.

    jaxdl sweep experiments/quickstart_sweep.py      # runs every trial, writes report.md
    jaxdl report runs/quickstart_sweep               # the report again (shards merged)

sweep.py      axes (grid, zip, random search), trials, the study file, shards
vectorize.py  trials that differ only in values, trained as one vmapped program
programs.py   their vectorized programs, built once per process (for run.py and measure.py)
store.py      one committed record per trial; crash-safe, resumable, mergeable
report.py     mean ± 95% CI over seeds: tables, plots with bands, the verdict
run.py        drives a study: validates, skips done trials, runs the rest, reports
search.py     Bayesian optimisation with Optuna (optional extra) into the same store
cli.py        the `jaxdl sweep | report` commands
"""

__all__ = []
