"""The supervised objective (the default): a per-example loss of the model's outputs on the
labels, with its regularizers.

    loss = mean_b ℓ(f(x̃_b), y_b) + l1 Σ|w| + l2 ½Σw² + jacobian mean_b ||∂f/∂x_b||²_F

ℓ is `loss` (cross_entropy with `label_smoothing` | mse | hinge). x̃ is the batch after
data augmentation (config.augment: one view of each example, keys(AUGMENT)) and input
noise (x + s ε, s = `input_noise`, fold_in(keys(NOISE), 0); for small s Tikhonov
regularization, Bishop 1995). With `weight_noise` = s > 0 the data loss is that of the
network with weights W + s ε on every weight matrix and kernel (fold_in(keys(NOISE), 1));
its gradient w.r.t. W is the gradient at the perturbed point, so training minimizes
E L(W + s ε) ≈ L(W) + s²/2 tr H (Graves 2011, An 1996); the penalties are of the
unperturbed W. Dropout draws from keys(DROPOUT). Every option at 0 adds no op: the
default is the plain loss op for op (tests/test_objectives.py checks it bit for bit
against a frozen copy of the step it replaced).

    jaxdl train --config.objective.l2=1e-3 --config.objective.input_noise=0.3
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxdl import losses, rng
from jaxdl.data import augment as augment_lib
from jaxdl.models import ssl
from jaxdl.objectives import (Objective, Setup, add_penalties, check_penalties,
                              evaluate_batches, require)

__all__ = ["supervised", "check", "make", "eval_batch", "perturb_weights", "jacobian_penalty",
           "LOSSES"]

LOSSES = ("cross_entropy", "mse", "hinge")


def supervised(setup: Setup, loss: str = "cross_entropy", label_smoothing: float = 0.0,
               l1: float = 0.0, l2: float = 0.0, jacobian: float = 0.0,
               input_noise: float = 0.0, weight_noise: float = 0.0) -> Objective:
    """The supervised objective with these options (see the module docstring)."""
    return make(setup, losses.per_example_loss(loss, label_smoothing), l1=l1, l2=l2,
                jacobian=jacobian, input_noise=input_noise, weight_noise=weight_noise)


def check(options: dict[str, Any]) -> None:
    require(options["loss"] in LOSSES, "loss", f"must be one of {', '.join(LOSSES)}",
            options["loss"])
    require(0 <= options["label_smoothing"] < 1, "label_smoothing", "must be in [0, 1)",
            options["label_smoothing"])
    check_penalties(options)
    for name in ("jacobian", "input_noise", "weight_noise"):
        require(options[name] >= 0, name, "must be >= 0 (0: off)", options[name])


def make(setup: Setup, per_example: losses.PerExampleLoss, *, l1: float = 0.0, l2: float = 0.0,
         jacobian: float = 0.0, input_noise: float = 0.0, weight_noise: float = 0.0,
         eval_per_example: losses.PerExampleLoss | None = None) -> Objective:
    """The supervised objective of `per_example` (distillation passes its soft-target loss);
    evaluation scores the outputs with `eval_per_example` (default: `per_example`)."""
    transform = input_transform(setup.augment, input_noise)

    def loss(params, model_state, extra, batch, keys):
        x, y = batch
        if transform is not None:
            x = transform(keys, x)
        forward = params
        if weight_noise > 0:
            forward = perturb_weights(params, jax.random.fold_in(keys(rng.NOISE), 1), weight_noise)
        outputs, model_state = setup.apply(forward, model_state, x, keys)
        value = setup.mean(jnp.mean(per_example(outputs, y)))
        metrics = {"loss": value}
        if setup.classify:
            metrics["accuracy"] = setup.mean(jnp.mean(losses.accuracy(outputs, y)))
        model_state = jax.tree.map(setup.mean, model_state)  # batch-norm statistics: device mean
        total = add_penalties(metrics["loss"], params, l1, l2)
        if jacobian > 0:
            total = total + jacobian * setup.mean(
                jacobian_penalty(setup, params, model_state, x, keys))
        return total, (metrics, model_state)

    scored = eval_batch(setup, eval_per_example or per_example)
    return Objective(loss=loss, model=setup.model, evaluate=evaluate_batches(scored))


def eval_batch(setup: Setup, per_example: losses.PerExampleLoss):
    """eval_batch(state, x, y, mask) -> sums over the unmasked examples of one batch: count,
    loss, and for a classifier accuracy and the confusion matrix."""
    def scored(state, x, y, mask):
        outputs, _ = setup.apply(state.params, state.model_state, x, train=False)
        sums = {"count": jnp.sum(mask), "loss": jnp.sum(per_example(outputs, y) * mask)}
        if setup.classify:
            sums["accuracy"] = jnp.sum(losses.accuracy(outputs, y) * mask)
            sums["confusion"] = losses.confusion_matrix(outputs, y, setup.num_classes, mask)
        return sums
    return scored


def input_transform(augment: Any, std: float):
    """transform(keys, x) -> x' of a training batch — one view by config.augment, then input
    noise of std `std` — or None when neither is on."""
    views = (ssl.augmentation(ssl.views_of(augment))
             if augment is not None and augment.name != "none" else None)
    if views is None and std == 0:
        return None

    def transform(keys, x):
        if views is not None:
            x = views(keys(rng.AUGMENT), x)
        if std > 0:
            x = augment_lib.gaussian_noise(jax.random.fold_in(keys(rng.NOISE), 0), x, std=std)
        return x

    return transform


def perturb_weights(params: Any, key: jax.Array, std: float) -> Any:
    """params with N(0, std^2) noise added to every weight matrix and kernel (the leaves
    with ndim > 1, as the L1/L2 penalties; biases and norm scales unchanged); leaf i
    draws from fold_in(key, i)."""
    leaves, tree = jax.tree.flatten(params)
    noisy = [w + std * jax.random.normal(jax.random.fold_in(key, i), w.shape, w.dtype)
             if w.ndim > 1 else w for i, w in enumerate(leaves)]
    return jax.tree.unflatten(tree, noisy)


def jacobian_penalty(setup: Setup, params: Any, model_state: Any, x: jax.Array,
                     keys: Any = None) -> jax.Array:
    """mean_b ||J_b||_F^2, J_b = d f(x_b) / d x_b the input Jacobian of the outputs (in
    training mode, the step's dropout key): one VJP per output unit, exact. Penalizing
    it asks for a smooth fit (Drucker & LeCun 1992's double backpropagation; Hoffman
    et al. 2019) — the smooth interpolators of the law of robustness. Per-example
    Jacobians come from one VJP of the batch because examples do not interact (not so
    under batch norm in training mode, where this is the batch's joint Jacobian)."""
    def f(x):
        return setup.apply(params, model_state, x, keys)[0]

    outputs, vjp = jax.vjp(f, x)
    basis = jnp.eye(outputs.shape[-1], dtype=outputs.dtype)
    cotangents = jnp.broadcast_to(basis[:, None, :], (basis.shape[0], *outputs.shape))
    grads = jax.vmap(lambda c: vjp(c)[0])(cotangents)  # (outputs, batch, *input)
    return jnp.sum(jnp.square(grads)) / x.shape[0]
