"""experiments/ssl_more_data.py's verdict rules on hand-made numbers: a trial's steps
read from its rows, the larger pools paired by seed against the 4,000 default signals at
equal steps and at equal epochs, and the two parts of the claim decided on those intervals.

    PYTHONPATH=. python -m pytest -q tests/test_ssl_more_data.py   # ~10 s on 2 CPU cores

Without the effect — every pool scoring, seed by seed, what the 4,000 default signals
score at the same steps — the rule says "more default data helps" is "not resolved" at
equal steps, never "confirmed": the last assertion of
`test_more_data_is_compared_at_equal_steps_and_at_equal_epochs`.
"""
import importlib.util

import numpy as np
import pandas as pd

from jaxdl.study import report

SPEC = importlib.util.spec_from_file_location("ssl_more_data", "experiments/ssl_more_data.py")
smd = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(smd)
AXES = ["data.num_samples", "data.train_split", "data.mix_samples", "data.mix_shift", "steps"]


def _results(accuracy) -> report.Results:
    """Three seeds of the study's full sweep; accuracy(pool label, steps, seed) -> value.
    A point without steps (the first sweep's) trained for smd.STEPS."""
    rows = []
    for point in smd.SWEEP:
        steps = point.get("steps", smd.STEPS)
        axes = {a: point.get(a, np.nan) for a in AXES}
        label = smd._label(pd.Series(axes))
        for seed in range(3):
            rows.append({"trial": f"{label}-{steps}-{seed}", **axes, "seed": seed,
                         "status": "done", "step": steps, "metric": "measure/probe_accuracy",
                         "value": accuracy(label, steps, seed)})
    return report.Results(pd.DataFrame(rows), AXES, smd.METRICS, smd.PUBLISHED,
                          pd.DataFrame(columns=["trial", *AXES, "seed", "error"]))


def _saturating(label: str, steps: int, seed: int) -> float:
    """Probe accuracy that grows with the epochs, then with the pool, plus a seed offset."""
    signals = sum(int(w.replace(",", "")) for w in label.split() if w.replace(",", "").isdigit())
    epochs = steps * smd.BATCH / signals
    noise = "noise" in label
    return 0.6 + 0.05 * np.log10(epochs) + 0.02 * np.log2(signals / 4000) * (not noise) \
        - 0.05 * noise + 0.01 * seed


def test_a_trials_steps_and_epochs_come_from_its_rows():
    final = smd.trials(_results(_saturating))
    row = final[(final["pool"] == "64,000 default") & (final["steps"] == 16000)].iloc[0]
    assert row["signals"] == 64000 and row["epochs"] == 25
    mixture = final[final["pool"].str.contains("shear")].iloc[0]
    assert mixture["signals"] == 16000 and mixture["steps"] == smd.STEPS  # the first sweep's


def test_more_data_is_compared_at_equal_steps_and_at_equal_epochs():
    final = smd.trials(_results(_saturating))
    changes = smd.comparisons(final)
    epochs = changes[changes["kind"] == "equal epochs"].set_index(["pool", "steps"])
    # 16,000 signals at 4000 steps and 64,000 at 16000 are 25 epochs: the 4,000 at 1000 steps.
    assert epochs.loc[("16,000 default", 4000), "against_steps"] == 1000
    assert epochs.loc[("64,000 default", 16000), "against_steps"] == 1000
    assert epochs.loc[("16,000 default", 16000), "against_steps"] == 4000  # 100 epochs
    assert ("64,000 default", 4000) not in epochs.index  # 6.25 epochs: 250 steps, not trained
    steps = changes[changes["kind"] == "equal steps"]
    assert set(steps["steps"]) == {4000, 16000} and (steps["steps"] == steps["against_steps"]).all()
    assert (changes["n"] == 3).all()
    more, shifted = smd.more_data_outcomes(changes[changes["kind"] == "equal epochs"])
    assert (more, shifted) == ("confirmed", "refuted")  # the noise mixture lowers it by 0.05
    analysis = smd.analyze(_results(_saturating))
    assert analysis.verdict.startswith("**More default data helps: confirmed at equal steps, "
                                       "confirmed at equal epochs.** Against")
    assert analysis.verdict.index("refuted if") < analysis.verdict.index("At equal steps:")
    # The effect removed: every pool scores what the 4,000 default signals score.
    flat = smd.comparisons(smd.trials(_results(lambda label, steps, seed: 0.7 + 0.01 * seed)))
    assert smd.more_data_outcomes(flat[flat["kind"] == "equal steps"]) == ("not resolved",
                                                                            "confirmed")
