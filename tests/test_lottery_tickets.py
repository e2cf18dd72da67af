"""Claim (1) of experiments/lottery_tickets.py, small: iterative magnitude pruning finds
tickets that beat random pruning at high sparsity (Frankle & Carbin 2019; the MNIST-1D
notebook) — asserted at 98% only, not at every sparsity >= 90% as the study states it.
And (4), why the notebook's random baseline is weaker than ours: its rule by hand, and its
main difference (biases pruned with the weights), shortened.

Why less for (1): the full study (5 seeds, 1500 steps, 12 rounds) resolves the claim only
from 93% up (Δ 0.066 ± 0.034 at 93%, 0.263 ± 0.037 at 98%); at 90% its 5 seeds do not
(0.019 ± 0.025: our random pruning keeps its biases, the notebook's prunes them — (4)).
One seed of a shortened run cannot decide a gap that 5 full seeds leave open, so this
test asks only where the study's gap is large. Both claims train the study's MLP for fewer
steps than its --quick 500 (each run is one compiled chunk, chunk_size = steps: the same
bits as chunks of 100, one program fewer to trace); the margins below were measured at
these lengths on seeds 0-5 with this code (2-core Intel Xeon, shared; the default build
and XLA_FLAGS=--xla_cpu_max_isa=AVX2 give the same bits here, SSE4_2 others). (4)'s rule
is refuted when its effect is removed (the all-three arm as strong as ours):
test_the_rule_of_4_by_hand."""
import importlib.util

import jax

from jaxdl import pruning, rng
from jaxdl.training import loop


def study():
    spec = importlib.util.spec_from_file_location("lottery_tickets", "experiments/lottery_tickets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_imp_tickets_beat_random_pruning_at_98_percent_sparsity(tmp_path):
    """The study's MLP and recipe at 250 steps, seed 0: IMP in 3 rounds (75%, 94%, 98%)
    rewound to the initialization, against one random mask at 98% with the same per-layer
    counts, from the same initialization for the same steps. Measured: 0.486 vs 0.319 (under
    SSE4_2 0.453 vs 0.319); seeds 1-5: gaps 0.067-0.151 (at 200 steps seeds 1, 2 fell to
    0.06). The full study's 12 gentler rounds widen the gap. Asked: a margin of 0.05.
    (Until the suite's diet: 500 steps, 13 s of CPU; now 7.5 s.)"""
    config = study().get_config()
    config.steps = config.chunk_size = 250
    dense_run = loop.build(config)
    dense = pruning.train_steps(dense_run, dense_run.init(rng.root_key(config.seed)), config.steps)
    dense_params = jax.device_get(dense.params)
    init = pruning.weights_at_step(dense_run, 0)
    imp = pruning.prune_and_retrain(config, str(tmp_path / "imp"), dense_params, init,
                                    (0.75, 0.94, 0.98), "magnitude")
    rand = pruning.prune_and_retrain(config, str(tmp_path / "random"), dense_params, init,
                                     (0.98,), "random")
    assert abs(imp[-1]["sparsity"] - 0.98) < 1e-3 and abs(rand[-1]["sparsity"] - 0.98) < 1e-3
    assert imp[-1]["test_accuracy"] > rand[-1]["test_accuracy"] + 0.05, (imp, rand)


# ---------------------------------------------------------------- (4) the notebook's recipe


def factor_table(values, seeds=range(5)):
    """The study's long table for ours and the arms of FACTORS at FACTOR_SPARSITIES:
    values(label, sparsity) + a seed's noise (±0.004, the same for every arm)."""
    import pandas as pd
    lt = study()
    rows = []
    for label, arm in {lt.OURS_LABEL: lt.OURS, **lt.FACTORS}.items():
        for s in lt.FACTOR_SPARSITIES:
            rows += [{"init": arm.init, "arm": arm.name, "method": arm.method, "rewind": 0,
                      "sparsity": s, "seed": seed,
                      "value": values(label, s) + 0.004 * ((seed * 7) % 3 - 1)} for seed in seeds]
    return pd.DataFrame(rows, columns=lt.COLUMNS)


def test_the_rule_of_4_by_hand():
    """(4): the notebook's random mean (63.05% at 90%, 52.2% at 95%) inside the 95% CI of the
    all-three arm: confirmed; a difference "lowers" where its paired CI is below 0. With
    the effect removed — the all-three arm no weaker than ours — the rule says refuted; with
    one seed (no CI), not resolved."""
    lt = study()
    ours = {0.9: 0.72, 0.95: 0.62, 0.97: 0.5, 0.98: 0.4, 0.99: 0.3}
    notebook = {s: sum(lt.NOTEBOOK["random"][s]) / 200 for s in lt.FACTOR_SPARSITIES}
    effect = {lt.OURS_LABEL: 0.0, "(a) biases pruned": -0.05, "(b) fresh masks": 0.0,
              "(c) torch init": -0.04}

    def values(label, s):
        return notebook[s] if label == lt.ALL_THREE else ours[s] + effect[label]

    effects = lt.factor_effects(factor_table(values))
    assert lt.explained(effects) == "confirmed"
    at = lambda label, s: effects[(effects.factor == label) & (effects.sparsity == s)].iloc[0]
    words = {label: lt.effect_word(at(label, 0.9).delta_low, at(label, 0.9).delta_high)
             for label in lt.FACTORS}
    assert words == {"(a) biases pruned": "lowers", "(b) fresh masks": "no resolved effect",
                     "(c) torch init": "lowers", "(d) all three": "lowers"}
    text = lt.explanation_text(effects, lt.recipe_table(factor_table(values)))
    assert "Lowering at both: (a) biases pruned, (c) torch init;" in text
    assert "reaching the notebook's numbers alone: none" in text
    # The effect removed: all three applied, random pruning as strong as ours.
    removed = lt.factor_effects(factor_table(lambda label, s: ours[s]))
    assert lt.explained(removed) == "refuted"
    assert lt.explained(lt.factor_effects(factor_table(values, seeds=[0]))) == "not resolved"


def test_pruning_the_biases_weakens_random_pruning_at_90_and_95_percent(tmp_path):
    """(4)'s main difference, small: the study's MLP at 300 steps, seed 0, a fresh random
    mask at 90% then at 95% from the initialization, the biases pruned with their layer's
    weights (the notebook) or kept (ours). Measured: 0.567 vs 0.625 at 90%, 0.474 vs 0.556
    at 95% (under SSE4_2: gaps 0.073, 0.071; seeds 1-5: gaps 0.043-0.076; at 250 steps one
    seed's fell to 0.026); the full study: -0.077 ± 0.046 and -0.059 ± 0.033, CI below 0
    (its rule for "lowers"). Asked: a margin of 0.03 at both, for one seed's noise (set at
    500 steps as half the smallest gap measured there, 0.062). (Until the suite's diet: 500
    steps, 9 s of CPU; now 4.5 s.)"""
    config = study().get_config()
    config.steps = config.chunk_size = 300
    init = pruning.weights_at_step(loop.build(config), 0)
    kept, pruned = (pruning.prune_and_retrain(config, str(tmp_path / str(b)), init, init,
                                              (0.9, 0.95), "random", biases=b, fresh=True)
                    for b in (False, True))
    for k, p in zip(kept, pruned):
        assert abs(p["sparsity"] - k["target_sparsity"]) < 1e-3
        assert p["test_accuracy"] < k["test_accuracy"] - 0.03, (kept, pruned)
