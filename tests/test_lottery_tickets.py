"""Claim (1) of experiments/lottery_tickets.py, small: iterative magnitude pruning finds
tickets that beat random pruning at high sparsity (Frankle & Carbin 2019; the MNIST-1D
notebook) — asserted at 98% only, not at every sparsity >= 90% as the study states it.

Why less: the full study (5 seeds, 1500 steps, 12 rounds) resolves the claim only from 93%
up (Δ 0.066 ± 0.034 at 93%, 0.263 ± 0.037 at 98%); at 90% its 5 seeds do not
(0.019 ± 0.025: our random pruning is much stronger than the notebook's). One seed at the
--quick length cannot decide a gap that 5 full seeds leave open, so this test asks only
where the study's gap is large."""
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
    """The study's MLP and recipe at 500 steps (the --quick length), seed 0: IMP in 3
    rounds (75%, 94%, 98%) rewound to the initialization, against one random mask at 98%
    with the same per-layer counts, from the same initialization for the same steps.
    Measured: 0.466 vs 0.324 (seed 1: 0.515 vs 0.376); the full study's 12 gentler rounds
    widen the gap. Asked: a margin of 0.05."""
    config = study().get_config()
    config.steps = 500
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
