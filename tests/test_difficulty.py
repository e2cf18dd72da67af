"""Skill vs difficulty: the bucket arithmetic and the verdict rules by hand, and the claim,
small: MLPs and CNNs agree on which examples are hard (at the study's bar), and CNNs do
better on the MLPs' easy ones."""
import importlib.util

import numpy as np
import pytest
from scipy import stats

from jaxdl import config as config_lib
from jaxdl import pruning, rng
from jaxdl.study import measure
from jaxdl.training import loop

SPEC = importlib.util.spec_from_file_location("difficulty", "experiments/difficulty.py")
difficulty = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(difficulty)


def test_difficulty_buckets_by_hand():
    correct = np.array([[1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0]])  # 2 models, 6 examples
    d = difficulty.family_difficulty(correct)
    np.testing.assert_allclose(d, [0, 0.5, 1, 0.5, 0, 1])
    buckets = difficulty.bucket_of(d, 3)  # ties by index: (0, 4), (1, 3), (2, 5)
    np.testing.assert_array_equal(buckets, [0, 1, 2, 1, 0, 2])
    np.testing.assert_allclose(difficulty.bucket_accuracy(correct, buckets, 3),
                               [[1, 0.5, 0], [1, 0.5, 0]])


def test_shared_difficulty_is_decided_on_the_interval_against_the_bar():
    """Fisher's z, standard error sqrt(1.06 / (n - 3)): over 2000 examples 0.709 (the full
    run) is 0.686-0.731, above 0.5; 0.40 is below; 0.52 over 100 examples straddles it."""
    low, high = difficulty.spearman_interval(0.709, 2000)
    assert (low, high) == pytest.approx((0.686, 0.731), abs=1e-3)
    assert difficulty.agreement_outcome(0.709, 2000) == "confirmed"
    assert difficulty.agreement_outcome(0.40, 2000) == "refuted"
    assert difficulty.agreement_outcome(0.52, 100) == "not resolved"
    assert difficulty.agreement_outcome(0.9, 3) == "not resolved"  # too few to say


def test_every_bucket_must_rise_beyond_its_interval():
    """Over 27 models: ρ 0.80 is 0.60-0.91; 0.2 straddles 0 (the old rule, every ρ > 0,
    confirmed it), -0.6 falls."""
    assert difficulty.rising_outcome([0.80, 0.94, 0.98, 0.99, 0.99], 27) == "confirmed"
    assert difficulty.rising_outcome([0.80, 0.94, 0.2, 0.99, 0.99], 27) == "not resolved"
    assert difficulty.rising_outcome([0.80, 0.94, -0.6, 0.99, 0.99], 27) == "refuted"
    assert difficulty.rising_outcome([np.nan, 0.94, 0.98, 0.99, 0.99], 27) == "not resolved"


# The zoo: the study's recipe (its get_config) at 300 steps, two sizes per family and four
# seeds each (an example's difficulty then takes 9 values per family).
STEPS, SEEDS = 300, range(4)
ZOO = {"mlp": [{"model.width": 32}, {"model.width": 128}],
       "cnn1d": [{"model.channels": (8, 8, 8)}, {"model.channels": (16, 16, 16)}]}


def correctness(family: str, values: dict) -> list[np.ndarray]:
    """The study's measure (per-example correctness on its scoring set) of its model at
    `values`, trained STEPS steps, for each of SEEDS: one build for the seeds (they share its
    compiled programs, as a sweep's trials do: run.run_for), trained by the core's driver
    without a run directory (pruning.train_steps, the bits of `jaxdl.train`:
    tests/test_pruning.py), measured through a measure.Context (its `apply`)."""
    config = config_lib.apply_overrides(difficulty.get_config(), [
        f"model.name={family}", *(f"{k}={v}" for k, v in values.items()), f"steps={STEPS}"])
    config_lib.validate(config)
    run = loop.build(config)
    out = []
    for seed in SEEDS:
        state = pruning.train_steps(run, run.init(rng.root_key(seed)), STEPS)
        ctx = measure.Context(trial=None, config=config, run=run, state=state, key=None,
                              _load=None, _trials=())
        out.append(difficulty.measure(ctx)["correct"])
    return out


def test_claim_difficulty_is_shared_across_families():
    """Claim (1) by the study's rule at its bar: the interval of the families' Spearman over
    2000 examples lies at or above 0.5. Eight models per family (2 sizes x 4 seeds, 300
    steps): with two per family an example's difficulty takes 3 values and the Spearman
    stays near 0.36 (measured; interval 0.32-0.40, which the study's rule would call
    refuted). Measured (2-core Intel Xeon, shared): 0.631 (0.603-0.658); under
    XLA_FLAGS=--xla_cpu_max_isa=SSE4_2 0.638 (0.611-0.664); AVX2 gives the default's bits.
    Claim (2), accuracy rising with skill in every bucket, is tested in a weaker form: with
    8 CNNs a bucket's interval of ρ clears 0 only for ρ > 0.72, so the test asks instead
    that every CNN does better on the MLPs' easiest fifth than on their hardest by 0.1 —
    the "easy examples first" half of it (measured: by 0.375 at least). (Until issue 17: 2
    models per family, ρ > 0.3. Until the suite's diet: 4 sizes x 2 seeds through a sweep
    (0.594, 0.564-0.622), 14 s of CPU; now 5 s.)"""
    correct = {family: np.stack([c for values in arms for c in correctness(family, values)])
               for family, arms in ZOO.items()}
    d_mlp = difficulty.family_difficulty(correct["mlp"])
    d_cnn = difficulty.family_difficulty(correct["cnn1d"])
    rho = stats.spearmanr(d_mlp, d_cnn).statistic
    assert difficulty.agreement_outcome(rho, len(d_mlp)) == "confirmed", rho  # hard for both
    per_bucket = difficulty.bucket_accuracy(correct["cnn1d"], difficulty.bucket_of(d_mlp))
    assert (per_bucket[:, 0] > per_bucket[:, -1] + 0.1).all()  # every CNN: easy >> hard
