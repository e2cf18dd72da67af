"""experiments/ssl_vs_supervised.py's verdict rule on hand-made numbers: an effect is
decided on its 95% interval, the per-seed pairing of the two arms, and the claim decided
against the strongest supervised arm (the published recipe; with SimCLR's `mnist1d` views;
with the views and early stopping on held-out labelled signals).

    PYTHONPATH=. python -m pytest -q tests/test_ssl_vs_supervised.py   # ~10 s on 2 CPU cores

Without the effect — SSL + probe scoring exactly what the strongest supervised arm scores,
seed by seed — the same rule says the few-labels claim is "not resolved" (a zero interval),
never "confirmed": the last assertion of
`test_the_claim_is_decided_against_the_strongest_supervised_arm`.
"""
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


def test_the_early_stopped_arm_holds_out_the_probes_share_of_the_labelled_signals():
    assert [svs.labelled(f) for f in svs.FRACTIONS] == [40, 400, 4000]
    assert [svs.fitted(f) for f in svs.FRACTIONS] == [36, 360, 3600]  # HOLD_OUT 0.1
    for f in svs.FRACTIONS:  # the generator truncates n · train_split: no signal lost
        assert int(svs.SIGNALS * (svs.fitted(f) / svs.SIGNALS)) == svs.fitted(f)
    # The best validation accuracy, ties broken by the lower cross-entropy, then the earliest.
    scores = {250: (0.5, 1.0), 500: (0.75, 2.0), 750: (0.75, 1.5), 1000: (0.75, 1.5)}
    assert svs.best_step(scores) == 750


def _results(ssl: dict, sup: dict, views: dict | None = None,
             stopped: dict | None = None) -> report.Results:
    """Two seeds; ssl[f] / sup[f] / views[f] / stopped[f]: the two seeds' test accuracies
    at label fraction f of SSL + probe and of each supervised arm."""
    axes = ["objective.name", "data.train_split"]
    rows = []

    def arm(name, split, metric, values):
        return [{"trial": f"{name}{f}-{seed}", "objective.name": "supervised",
                 "data.train_split": split(f), "seed": seed, "status": "done", "step": 1,
                 "metric": metric, "value": v[seed]} for f, v in values.items()
                for seed in range(2)]

    for seed in range(2):
        rows += [{"trial": f"ssl{seed}", "objective.name": "simclr", "data.train_split": np.nan,
                  "seed": seed, "status": "done", "step": 1,
                  "metric": f"measure/probe_{svs._pct(f)}", "value": v[seed]} for f, v in ssl.items()]
    rows += arm("sup", lambda f: 0.8 * f, "measure/test_accuracy", sup)
    fit = lambda f: svs.fitted(f) / svs.SIGNALS
    rows += arm("views", fit, "measure/test_accuracy", views or {})
    rows += arm("views", fit, "measure/early_stopped_accuracy", stopped or {})
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


def test_the_claim_is_decided_against_the_strongest_supervised_arm():
    ssl = {0.01: (0.30, 0.232), 0.1: (0.55, 0.50), 1.0: (0.70, 0.75)}
    sup = {0.01: (0.20, 0.13), 0.1: (0.44, 0.41), 1.0: (0.90, 0.93)}
    views = {0.01: (0.45, 0.40), 0.1: (0.70, 0.72), 1.0: (0.88, 0.90)}
    stopped = {0.01: (0.44, 0.38), 0.1: (0.73, 0.75), 1.0: (0.88, 0.90)}
    results = _results(ssl, sup, views, stopped)
    assert [svs.strongest(results, f) for f in svs.FRACTIONS] == [svs.VIEWS, svs.STOPPED, svs.PLAIN]
    diff = svs.advantages(results).set_index(["fraction", "seed"])["value"]
    assert diff[0.01, 0] == pytest.approx(0.30 - 0.45) and diff[0.1, 1] == pytest.approx(0.50 - 0.75)
    few, catch_up, _, _ = svs.verdicts(svs.advantages(results))
    assert few == "refuted"  # SSL beat the plain arm (+0.10) but not the one with the views
    assert svs.verdicts(svs.advantages(results, svs.PLAIN))[0] == "confirmed"
    assert "1% -0.159 ± 0.114 against supervised + views (n = 2)" in svs.analyze(results).verdict
    effects = svs.arm_effects(results)
    assert effects["strongest"].sum() == len(svs.FRACTIONS)  # one strongest arm per fraction
    # The effect removed: SSL scores what the strongest supervised arm scores, seed by seed.
    same = _results({0.01: views[0.01], 0.1: stopped[0.1], 1.0: sup[1.0]}, sup, views, stopped)
    assert svs.verdicts(svs.advantages(same))[0] == "not resolved"


@pytest.mark.slow  # the --quick sweep: 14 trials, ~95 s on 2 busy shared cores
def test_the_quick_variant_does_not_confirm_the_few_labels_claim(tmp_path):
    """On the --quick variant (2 seeds) the study's own rule does not confirm that SSL +
    probe beats the strongest supervised arm at 1% labels, and SSL's mean trails it (the
    full sweep: -0.275 ± 0.047, refuted). Two seeds give a wide interval, so the test asks
    for "not confirmed" and the sign of the mean, not for "refuted"."""
    from jaxdl.study import run, sweep
    study = sweep.load_study("experiments/ssl_vs_supervised.py", quick=True)
    run.run_study(study, str(tmp_path), progress=False)
    _, results, missing = report.load_results([str(tmp_path)])
    assert not missing
    few, _, effect, _ = svs.verdicts(svs.advantages(results))
    assert few != "confirmed" and effect.loc[0.01, "mean"] < 0
    assert svs.strongest(results, 0.01) != svs.PLAIN
    steps = results.final("measure/early_stopped_step")["value"]
    assert len(steps) == 2 * len(svs.FRACTIONS) and (steps % svs.EVERY == 0).all()
