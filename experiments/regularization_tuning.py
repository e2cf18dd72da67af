"""Strength tuning for experiments/regularization.py: each regularizer at 3-4 strengths,
one seed (100, not a study seed), scored by the *validation* accuracy (the loader's
held-out split, `test` in the run's logs) at the last step — never the fresh test sets.

    jaxdl sweep experiments/regularization_tuning.py           # 26 runs of 6000 steps
    jaxdl sweep experiments/regularization_tuning.py --quick   # 9 runs of 1500 steps

The base config and the augmentation presets are the study's (regularization.get_config).
Measured (26 runs, 3 min 10 s wall on 2 CPU cores shared with other jobs): the table in
docs/studies/regularization/tuning.md; the strengths chosen (the best final validation
accuracy per regularizer) are regularization.REGULARIZERS, listed in its docstring.
"""
from __future__ import annotations

import os

import pandas as pd

from jaxdl.study import report, sweep

study = sweep.load_module(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                       "regularization.py"))

CANDIDATES = {  # regularizer -> the config values of each candidate
    "none": [{}],
    "L2": [{"objective.l2": v} for v in (1e-4, 1e-3, 1e-2, 3e-2)],
    "L1": [{"objective.l1": v} for v in (1e-5, 1e-4, 1e-3)],
    "dropout": [{"model.dropout": v} for v in (0.05, 0.1, 0.3, 0.5)],
    "label smoothing": [{"objective.label_smoothing": v} for v in (0.05, 0.1, 0.2)],
    "input noise": [{"objective.input_noise": v} for v in (0.1, 0.3, 1.0)],
    "weight noise": [{"objective.weight_noise": v} for v in (0.01, 0.03, 0.1, 0.3)],
    "augmentation": [study.SHIFT_ONLY, study.MILD_VIEWS, study.SSL_VIEWS],
    "batch norm": [{"model.batch_norm": True}],
}
SWEEP = study.fill([c for cs in CANDIDATES.values() for c in cs])  # in CANDIDATES order
SEEDS = (100,)
METRICS = ("test/accuracy", "train/accuracy")
QUICK = {"overrides": {"steps": 1500},  # the first candidate of each regularizer
         "sweep": study.fill([cs[0] for cs in CANDIDATES.values()],
                             sorted({k for cs in CANDIDATES.values() for c in cs for k in c}))}


def get_config(name: str | None = None):
    c = study.get_config(name)
    c.checkpoint_every, c.keep_checkpoints = c.steps, 1  # no early stopping here
    return c


def analyze(results: report.Results) -> report.Analysis:
    val, train = results.final("test/accuracy"), results.final("train/accuracy")
    rows = []
    named = [(name, cand) for name, cands in CANDIDATES.items() for cand in cands]
    for (name, cand), point in zip(named, SWEEP):
        hit = lambda df: df[df.apply(lambda r: all(study._same(r[k], v)
                                                   for k, v in point.items()), axis=1)]
        v, t = hit(val)["value"], hit(train)["value"]
        rows.append({"regularizer": name, "setting": study.describe(cand),
                     "validation accuracy (final)": round(float(v.iloc[0]), 3) if len(v) else None,
                     "train accuracy": round(float(t.iloc[0]), 3) if len(t) else None})
    table = pd.DataFrame(rows)
    scores = table.groupby("regularizer", sort=False)["validation accuracy (final)"]
    best = table.loc[scores.idxmax()]
    verdict = "Chosen (best final validation accuracy per regularizer): " + "; ".join(
        f"{r['regularizer']}: {r['setting']} ({r['validation accuracy (final)']:.3f})"
        for _, r in best.iterrows())
    return report.Analysis(tables={"Validation accuracy per candidate (seed 100)": table},
                           verdict=verdict)
