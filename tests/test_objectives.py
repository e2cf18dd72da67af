"""Objectives and gradient methods as registered components (jaxdl/objectives/,
jaxdl/gradients/): the default objective and every self-supervised one train bit for bit
as the step they replaced (a frozen copy, tests/reference_step.py, run in this process),
SAM against a hand-written SAM update, and a user objective with its own option."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

import jaxdl
from jaxdl import config as config_lib
from jaxdl import saved as saved_lib
from jaxdl import models, objectives, rng
from jaxdl.training import loop

from equivalence import run_and_reference  # tests/equivalence.py
import reference_step  # tests/reference_step.py: the step before this change, frozen

OLD_LOSS = reference_step.OLD_LOSS


def small(*overrides: str) -> ml_collections.ConfigDict:
    return config_lib.load(None, ["steps=20", "eval_every=0", "chunk_size=10",
                                  "data.num_samples=1000", *overrides])


@pytest.mark.parametrize("overrides", [
    [],  # the default: supervised cross-entropy
    ["objective.name=simclr", "augment.name=mnist1d"],
    ["objective.name=byol", "augment.name=mnist1d"],
    ["objective.name=vicreg", "augment.name=mnist1d"],
    ["objective.name=barlow_twins", "augment.name=mnist1d"],
    ["objective.name=mae", "augment.name=mnist1d"],
    ["objective.name=simclr", "objective.online_probe=True", "augment.name=mnist1d"],
], ids=["supervised", "simclr", "byol", "vicreg", "barlow_twins", "mae", "online_probe"])
def test_trains_bit_for_bit_as_the_frozen_step(overrides):
    """Params, optimizer state, model state, byol's target and every per-step metric of the
    frozen step equal today's exactly, over two chunks (so the carried state too)."""
    run = loop.build(small(*overrides))
    reference = reference_step.make_train_step(run.model, run.optimizer, OLD_LOSS, True,
                                               augment=run.config.augment)
    for (state, metrics), (old_state, old_metrics) in run_and_reference(run, reference, [10, 10]):
        for leaf, old_leaf in zip(jax.tree.leaves(state), jax.tree.leaves(old_state)):
            np.testing.assert_array_equal(leaf, old_leaf)
        assert set(old_metrics) == set(metrics)
        for name in old_metrics:
            np.testing.assert_array_equal(metrics[name], old_metrics[name])
    assert jax.tree.structure(state) == jax.tree.structure(old_state)


def test_sam_is_the_hand_written_update():
    """One SAM step of an MLP equals w - lr ∇L(w + ρ g/||g||) written out by hand."""
    config = small("model.name=mlp", "gradient.name=sam", "gradient.rho=0.1",
                   "optimizer.name=sgd", "optimizer.lr=0.1", "optimizer.momentum=0.0")
    run = loop.build(config)
    state = run.init(rng.root_key(0))
    x, y = (jnp.asarray(run.dataset.x_train[:100]), jnp.asarray(run.dataset.y_train[:100]))
    new_state, metrics = jax.jit(run.train_step)(state, (x, y))

    def loss(params):
        logits = run.model.apply({"params": params}, x, train=True,
                                 rngs={"dropout": rng.step_key(state.key, rng.DROPOUT, 0)})
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    g = jax.grad(loss)(state.params)
    norm = jnp.sqrt(sum(jnp.sum(v ** 2) for v in jax.tree.leaves(g)))
    g_sam = jax.grad(loss)(jax.tree.map(lambda w, v: w + 0.1 * v / norm, state.params, g))
    expected = jax.tree.map(lambda w, v: w - 0.1 * v, state.params, g_sam)
    for got, want in zip(jax.tree.leaves(new_state.params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert float(metrics["loss"]) == pytest.approx(float(loss(state.params)), rel=1e-5)
    plain = jax.jit(loop.build(small("model.name=mlp", "optimizer.name=sgd", "optimizer.lr=0.1",
                                     "optimizer.momentum=0.0")).train_step)(state, (x, y))[0]
    assert not np.allclose(jax.tree.leaves(plain.params)[0], jax.tree.leaves(new_state.params)[0])


def test_sam_trains_end_to_end(tmp_path):
    result = jaxdl.train(small("model.name=mlp", "gradient.name=sam", "steps=200"),
                         str(tmp_path / "sam"), progress=False)
    assert result["test"]["accuracy"] > 0.3  # chance is 0.1: it learns


@objectives.register("test_focal")
def focal(setup, gamma: float = 2.0):
    """Focal loss (Lin et al. 2017): -(1 - p_y)^gamma log p_y."""
    def loss(params, model_state, extra, batch, keys):
        logits, model_state = setup.apply(params, model_state, batch[0], keys)
        logp = jax.nn.log_softmax(logits)[jnp.arange(len(batch[1])), batch[1]]
        value = jnp.mean(-(1 - jnp.exp(logp)) ** gamma * logp)
        return value, ({"loss": value}, model_state)
    return loss


def focal_check(options):
    objectives.require(options["gamma"] >= 0, "gamma", "must be >= 0", options["gamma"])


focal.check = focal_check


def test_a_user_objective_has_its_option_in_the_config():
    config = small("model.name=mlp", "objective.name=test_focal", "objective.gamma=0.0")
    assert dict(config.objective) == {"name": "test_focal", "gamma": 0.0}
    with pytest.raises(config_lib.ConfigError, match=r"config\.objective\.gamma: must be >= 0"):
        small("objective.name=test_focal", "objective.gamma=-1.0")
    with pytest.raises(config_lib.ConfigError, match=r"config\.objective\.lambda: unknown key"):
        small("objective.name=test_focal", "objective.lambda=1.0")
    # gamma 0 is the cross-entropy: the same loss values as the default objective
    focal_run = loop.build(config)
    plain_run = loop.build(small("model.name=mlp"))
    data = plain_run.device_data()
    a = focal_run.train_chunk(focal_run.init(rng.root_key(0)), data, 10)[1]["loss"]
    b = plain_run.train_chunk(plain_run.init(rng.root_key(0)), data, 10)[1]["loss"]
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert saved_lib.components(config)["objective"]["path"].endswith(":focal")


def test_unknown_objective_is_one_line():
    with pytest.raises(config_lib.ConfigError, match=r"config\.objective\.name: unknown objective "
                                                     r"'nope'; choose one of supervised, "):
        small("objective.name=nope")
