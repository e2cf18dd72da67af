"""Dropout at test time: the weight-scaling rule against Monte-Carlo averaging.

A net trained with dropout (rate p) is a random member of an ensemble of 2^n thinned
nets. Srivastava et al. (2014, JMLR, section 7.5) compare two ways of predicting with it:
the *weight-scaling* rule — one deterministic pass with every unit kept and the outgoing
weights scaled by 1 - p (flax's `nn.Dropout` scales the kept units by 1/(1 - p) during
training instead, so the deterministic pass is exactly that rule) — and *Monte-Carlo*
averaging, the mean of the softmax over T passes with independent dropout masks (MC
dropout; Gal & Ghahramani 2016). They found the rule matches MC averaging once T is about
50 (MNIST). For a linear model the two agree in expectation; the ReLU layers make them
differ.

    probs = mc_dropout.mc_probabilities(model, params, x, key, samples=50)
    probs_ws = mc_dropout.weight_scaled_probabilities(model, params, x)

Models with batch norm are refused: in training mode their layers would use the test
batch's statistics, a second change besides the masks.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["weight_scaled_probabilities", "mc_probabilities", "accuracy_of",
           "mc_accuracy_curve"]


def _check(model_state: Any) -> None:
    if model_state:
        raise ValueError("mc_dropout: the model has state (batch norm): training-mode passes "
                         "would use the test batch's statistics, not only dropout masks")


def weight_scaled_probabilities(model: nn.Module, params: Any, x: jax.Array,
                                model_state: Any = None) -> jax.Array:
    """softmax of the deterministic net (every unit kept: the weight-scaling rule)."""
    _check(model_state)
    return jax.nn.softmax(model.apply({"params": params}, x, train=False), axis=-1)


def mc_probabilities(model: nn.Module, params: Any, x: jax.Array, key: jax.Array,
                     samples: int, model_state: Any = None) -> jax.Array:
    """(samples, batch, classes): the softmax of `samples` passes with dropout on, pass t
    with the masks of fold_in(key, t) (the same mask draws for every prefix of passes).
    Average over axis 0 for the MC prediction of T <= samples passes."""
    _check(model_state)

    def one(t: jax.Array) -> jax.Array:
        logits = model.apply({"params": params}, x, train=True,
                             rngs={"dropout": jax.random.fold_in(key, t)})
        return jax.nn.softmax(logits, axis=-1)

    return jax.lax.map(one, jnp.arange(samples))


def accuracy_of(probs: jax.Array, labels: jax.Array) -> float:
    """Fraction of examples whose most probable class is the label."""
    return float(jnp.mean(jnp.argmax(probs, -1) == jnp.asarray(labels)))


def mc_accuracy_curve(mc_probs: jax.Array, labels: jax.Array,
                      passes: tuple[int, ...]) -> dict[int, float]:
    """{T: accuracy of the mean softmax over the first T passes} for each T in `passes`."""
    cumulative = jnp.cumsum(mc_probs, axis=0)
    return {t: accuracy_of(cumulative[t - 1], labels) for t in passes}
