"""experiments/ssl_vs_supervised.py's verdict rule on hand-made numbers: an effect is
decided on its 95% interval, and the per-seed pairing of the two arms."""
import importlib.util

import numpy as np
import pandas as pd
import pytest

from jaxdl.study import report

SPEC = importlib.util.spec_from_file_location("ssl_vs_supervised", "experiments/ssl_vs_supervised.py")
svs = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(svs)


def test_an_effect_is_decided_on_its_interval_not_its_mean():
    assert svs.interval_outcome(0.02, 0.14) == "confirmed"
    assert svs.interval_outcome(-0.14, -0.02) == "refuted"
    assert svs.interval_outcome(-0.01, 0.17) == "not resolved"  # mean +0.08: the old rule's "wins"
    assert svs.interval_outcome(np.nan, np.nan) == "not resolved"  # one seed: no interval


def _results(ssl: dict, sup: dict) -> report.Results:
    """Two seeds; ssl[f] / sup[f]: the two seeds' test accuracies at label fraction f."""
    axes = ["objective.name", "data.train_split"]
    rows = []
    for seed in range(2):
        rows += [{"trial": f"ssl{seed}", "objective.name": "simclr", "data.train_split": np.nan,
                  "seed": seed, "status": "done", "step": 1,
                  "metric": f"measure/probe_{svs._pct(f)}", "value": v[seed]} for f, v in ssl.items()]
        rows += [{"trial": f"sup{f}-{seed}", "objective.name": "supervised",
                  "data.train_split": 0.8 * f, "seed": seed, "status": "done", "step": 1,
                  "metric": "measure/test_accuracy", "value": v[seed]} for f, v in sup.items()]
    return report.Results(pd.DataFrame(rows), axes, svs.METRICS, svs.PUBLISHED,
                          pd.DataFrame(columns=["trial", *axes, "seed", "error"]))


def test_the_arms_are_paired_by_seed_and_the_verdict_states_its_rule_first():
    # SSL ahead, seed 0 / 1: 1% 0.100 / 0.102, 10% 0.11 / 0.09, 100% -0.20 / -0.18. Paired,
    # the 1% interval is 0.101 ± 0.013; paired the wrong way (seed 0 against seed 1) the
    # differences would be 0.17 and 0.032: not resolved with two seeds.
    results = _results({0.01: (0.30, 0.232), 0.1: (0.55, 0.50), 1.0: (0.70, 0.75)},
                       {0.01: (0.20, 0.13), 0.1: (0.44, 0.41), 1.0: (0.90, 0.93)})
    diff = svs.advantages(results).set_index(["fraction", "seed"])["value"]
    assert diff[0.01, 0] == pytest.approx(0.10) and diff[0.01, 1] == pytest.approx(0.102)
    assert diff[1.0, 1] == pytest.approx(-0.18)
    verdict = svs.analyze(results).verdict
    few, _, catch_up = verdict.partition("\n\n")
    assert few.startswith("**Few labels, SSL + probe beats supervised: confirmed.** Refuted if")
    assert catch_up.startswith("**With all labels supervised training catches up: confirmed.**")
    assert few.index("Refuted if") < few.index("1% 0.101 ± 0.013")  # the rule, then the numbers
