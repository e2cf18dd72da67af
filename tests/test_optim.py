"""Optimizers and schedules built from a config against optax built by hand."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import config as config_lib
from jaxdl import optim

PARAMS = {"dense": {"kernel": jnp.array([[0.5, -1.5], [2.0, 1.0]]), "bias": jnp.array([0.3, -0.2])}}
STEPS = 100


def opt_config(**overrides):
    c = config_lib.default().optimizer
    for key, value in overrides.items():
        if key.startswith("schedule_"):
            c.schedule[key.removeprefix("schedule_")] = value
        else:
            c[key] = value
    return c


def run(tx: optax.GradientTransformation, n: int = 5):
    """n steps on the loss sum(p^3 + p^2) (a gradient that changes with p)."""
    loss = lambda p: sum(jnp.sum(x ** 3 + x ** 2) for x in jax.tree.leaves(p))
    params, state = PARAMS, tx.init(PARAMS)
    for _ in range(n):
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
    return params


MASK = {"dense": {"kernel": True, "bias": False}}
CASES = {
    "sgd": (dict(name="sgd", lr=0.1), optax.sgd(0.1)),
    "momentum": (dict(name="momentum", lr=0.1, momentum=0.8), optax.sgd(0.1, momentum=0.8)),
    "nesterov": (dict(name="nesterov", lr=0.1, momentum=0.8),
                 optax.sgd(0.1, momentum=0.8, nesterov=True)),
    "adam": (dict(name="adam", lr=0.01, b1=0.8, b2=0.99), optax.adam(0.01, b1=0.8, b2=0.99)),
    "adam_l2": (dict(name="adam", lr=0.01, weight_decay=0.1),
                optax.chain(optax.add_decayed_weights(0.1, MASK), optax.adam(0.01))),
    "sgd_l2_all": (dict(name="sgd", lr=0.1, weight_decay=0.1, decay_biases_and_norms=True),
                   optax.chain(optax.add_decayed_weights(0.1), optax.sgd(0.1))),
    "adamw": (dict(name="adamw", lr=0.01, weight_decay=0.1),
              optax.adamw(0.01, weight_decay=0.1, mask=MASK)),
    "lars": (dict(name="lars", lr=0.1, weight_decay=0.01, momentum=0.9),
             optax.lars(0.1, weight_decay=0.01, weight_decay_mask=MASK, trust_ratio_mask=MASK,
                        momentum=0.9)),
    "clipped": (dict(name="sgd", lr=0.1, clip_norm=0.5),
                optax.chain(optax.clip_by_global_norm(0.5), optax.sgd(0.1))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_optimizer_matches_optax(case):
    overrides, reference = CASES[case]
    ours = run(optim.make_optimizer(opt_config(**overrides), STEPS))
    expected = run(reference)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), ours, expected)
    # and it moved: the test could fail
    assert not np.allclose(ours["dense"]["kernel"], PARAMS["dense"]["kernel"])


def test_weight_decay_skips_biases_by_default():
    tx = optim.make_optimizer(opt_config(name="sgd", lr=1.0, weight_decay=0.5), STEPS)
    zero = jax.tree.map(jnp.zeros_like, PARAMS)
    updates, _ = tx.update(zero, tx.init(PARAMS), PARAMS)
    np.testing.assert_allclose(updates["dense"]["kernel"], -0.5 * PARAMS["dense"]["kernel"])
    np.testing.assert_array_equal(updates["dense"]["bias"], 0.0)


def lr_at(steps, **overrides):
    schedule = optim.learning_rate_schedule(opt_config(lr=1.0, **overrides), STEPS)
    return [float(schedule(s)) for s in steps]


def test_constant_schedule():
    assert lr_at([0, 50, 99]) == [1.0, 1.0, 1.0]


def test_warmup_then_cosine():
    got = lr_at([0, 5, 10, 55, 100], schedule_name="cosine", schedule_warmup_steps=10)
    # linear 0 -> 1 over 10 steps, then cosine over the remaining 90
    np.testing.assert_allclose(got, [0.0, 0.5, 1.0, 0.5, 0.0], atol=1e-6)


def test_cosine_end_fraction():
    got = lr_at([0, 100], schedule_name="cosine", schedule_end_fraction=0.1)
    np.testing.assert_allclose(got, [1.0, 0.1], atol=1e-6)


def test_step_schedule_decays_at_fractions():
    got = lr_at([49, 50, 74, 75, 99], schedule_name="step", schedule_boundaries=(0.5, 0.75),
                schedule_decay_rate=0.1)
    np.testing.assert_allclose(got, [1.0, 0.1, 0.1, 0.01, 0.01], rtol=1e-6)


def test_linear_schedule():
    got = lr_at([0, 50, 100], schedule_name="linear")
    np.testing.assert_allclose(got, [1.0, 0.5, 0.0], atol=1e-6)
