"""Adversarial examples: white-box FGSM and PGD, black-box finite-difference (SPSA) and
transfer attacks, robust accuracy, and the random-ensemble defense — pure, jit-able.

    loss = adversarial.mean_loss(predict)                    # predict(x) -> logits
    x_fgsm = adversarial.fgsm(loss, x, y, eps=0.2, norm="linf")
    x_pgd = adversarial.pgd(loss, x, y, key, eps=0.2, step_size=0.05, steps=10, norm="linf")
    attack = adversarial.pgd_attack(loss, eps=0.2, step_size=0.05, steps=10)
    adversarial.robust_accuracy(lambda x, k: predict(x), attack, x_test, y_test, key)

An attack looks for x' = x + δ with ||δ|| <= eps (per example) that raises the loss.
The steepest-ascent step under a norm ball is argmax_{||d|| <= 1} <g, d>: sign(g) for
L∞, g / ||g||_2 for L2 (`ascent_direction`); projecting back onto the ball is clipping
each coordinate to [-eps, eps] (L∞) or rescaling δ to norm eps when it is longer (L2).

- FGSM (Goodfellow et al. 2015): one step of size eps from x: x + eps · sign(∇ₓL).
- PGD (Madry et al. 2018): from a uniform random point of the ball, `steps` ascent
  steps of `step_size`, each projected back onto the ball. A stronger attack of the
  same budget: its loss is at least FGSM's in practice (not a theorem: FGSM can win
  when the loss is linear and PGD's steps are too short to reach the ball's corner).
- SPSA (Spall 1992; used as an attack by Uesato et al. 2018): PGD whose gradient is
  estimated from loss *values* alone, g ≈ mean_i [L(x + c v_i) − L(x − c v_i)] / (2c) · v_i
  with Rademacher v_i (E[v vᵀ] = I, so the estimate is unbiased up to O(c²)). It needs
  only queries: the black-box threat model, and the one a random defense can confuse.
- Transfer: craft with white-box PGD on a surrogate model, evaluate on the target.

Loss functions are closures over a model's params: `loss_fn(x, y) -> scalar` is the
*mean* loss of a batch (the examples do not interact, so its gradient w.r.t. x is each
example's gradient / batch size — the same direction). Black-box attacks see a
`query_loss(x, y, key) -> per-example losses`; the key drives any randomness of the
defended model (ignored by a deterministic one).

Keys: PGD's random start draws from its key; `robust_accuracy` gives batch b the key
`fold_in(key, b)` (the attack folds in 0, the prediction 1), so the same key gives the
same bits, and a result depends on the batch size (as the batches' keys do).

Inputs are unbounded by default (MNIST-1D is); `clip=(low, high)` keeps x' in a data
range (images in [0, 1]).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxdl import losses
from jaxdl.gradients.attacks import (NORMS, Clip, LossFn, ascend, ascent_direction,  # noqa: F401
                                    check_norm, fgsm, in_range, per_example_norm, pgd,
                                    project, uniform_in_ball)

__all__ = ["spsa_gradient", "spsa", "mean_loss", "query_loss", "no_attack", "fgsm_attack",
           "pgd_attack", "spsa_attack", "robust_accuracy", "transfer_accuracy", "stack",
           "random_ensemble"]

QueryLoss = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]  # (x, y, key) -> (batch,)
Predict = Callable[[jax.Array, jax.Array], jax.Array]  # (x, key) -> logits
Attack = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]  # (x, y, key) -> x'


# ---------------------------------------------------------------- black-box attacks


def spsa_gradient(query_loss: QueryLoss, x: jax.Array, y: jax.Array, key: jax.Array,
                  samples: int = 32, c: float = 0.01) -> jax.Array:
    """Estimate of ∇ₓ of each example's loss from 2·samples queries of loss values:
    mean_i [L(x + c v_i) − L(x − c v_i)] / (2c) · v_i, v_i uniform in {−1, +1}^d.

    Query i's ± evaluations get keys fold_in(key, 2i + 1) and fold_in(key, 2i + 2): a
    randomized model answers each query independently."""
    v = jax.random.rademacher(jax.random.fold_in(key, 0), (samples, *x.shape), x.dtype)

    def difference(i, vi):
        up = query_loss(x + c * vi, y, jax.random.fold_in(key, 2 * i + 1))
        down = query_loss(x - c * vi, y, jax.random.fold_in(key, 2 * i + 2))
        return (up - down) / (2 * c)

    d = jax.vmap(difference)(jnp.arange(samples), v)  # (samples, batch)
    return jnp.mean(d.reshape(d.shape + (1,) * (x.ndim - 1)) * v, axis=0)


def spsa(query_loss: QueryLoss, x: jax.Array, y: jax.Array, key: jax.Array,
         eps: float | jax.Array, step_size: float | jax.Array, steps: int,
         norm: str = "linf", samples: int = 32, c: float = 0.01,
         random_start: bool = False, clip: Clip = None) -> jax.Array:
    """PGD with the SPSA gradient estimate (gradient-free: 2 · samples · steps queries).
    Step t estimates with key fold_in(key, t + 1); the random start (off by default)
    draws from fold_in(key, 0)."""
    check_norm(norm)
    delta = (uniform_in_ball(jax.random.fold_in(key, 0), x.shape, eps, norm) if random_start
             else jnp.zeros_like(x))
    delta = in_range(x + delta, clip) - x

    def gradient(xt, t):
        return spsa_gradient(query_loss, xt, y, jax.random.fold_in(key, t + 1), samples, c)

    return ascend(gradient, x, delta, eps, step_size, steps, norm, clip)


# ---------------------------------------------------------------- models as loss closures


def mean_loss(predict: Callable[[jax.Array], jax.Array], label_smoothing: float = 0.0) -> LossFn:
    """(x, y) -> mean cross-entropy of predict(x) (logits) against class ids y."""
    return lambda x, y: jnp.mean(losses.cross_entropy(predict(x), y, label_smoothing))


def query_loss(predict: Predict) -> QueryLoss:
    """(x, y, key) -> per-example cross-entropy of predict(x, key): what a black-box
    attacker may observe (loss values, no gradients)."""
    return lambda x, y, key: losses.cross_entropy(predict(x, key), y)


# ---------------------------------------------------------------- attacks as functions of (x, y, key)


def no_attack(x: jax.Array, y: jax.Array, key: jax.Array) -> jax.Array:
    return x


def fgsm_attack(loss_fn: LossFn, eps, norm: str = "linf", clip: Clip = None) -> Attack:
    return lambda x, y, key: fgsm(loss_fn, x, y, eps, norm, clip)


def pgd_attack(loss_fn: LossFn, eps, step_size, steps: int, norm: str = "linf",
               random_start: bool = True, clip: Clip = None) -> Attack:
    return lambda x, y, key: pgd(loss_fn, x, y, key, eps, step_size, steps, norm,
                                 random_start, clip)


def spsa_attack(query: QueryLoss, eps, step_size, steps: int, norm: str = "linf",
                samples: int = 32, c: float = 0.01, clip: Clip = None) -> Attack:
    return lambda x, y, key: spsa(query, x, y, key, eps, step_size, steps, norm, samples, c,
                                  clip=clip)


# ---------------------------------------------------------------- evaluation


def robust_accuracy(predict: Predict, attack: Attack, x: jax.Array, y: jax.Array,
                    key: jax.Array, batch_size: int = 500) -> jax.Array:
    """Accuracy of `predict` on attack(x, y) over the whole set, in batches of
    `batch_size` (the last one padded and masked). Batch b attacks with key
    fold_in(fold_in(key, b), 0) and predicts with fold_in(fold_in(key, b), 1)."""
    n = x.shape[0]
    batch_size = min(batch_size, n)
    nb = -(-n // batch_size)
    pad = nb * batch_size - n
    batches = lambda a: jnp.concatenate([a, jnp.repeat(a[:1], pad, 0)]).reshape(
        nb, batch_size, *a.shape[1:])
    mask = (jnp.arange(nb * batch_size) < n).reshape(nb, batch_size)

    def one(batch):
        b, xb, yb = batch
        kb = jax.random.fold_in(key, b)
        x_adv = attack(xb, yb, jax.random.fold_in(kb, 0))
        return losses.accuracy(predict(x_adv, jax.random.fold_in(kb, 1)), yb)

    correct = jax.lax.map(one, (jnp.arange(nb), batches(x), batches(y)))
    return jnp.sum(correct * mask) / n


def transfer_accuracy(target: Predict, surrogate_loss: LossFn, x: jax.Array, y: jax.Array,
                      key: jax.Array, eps, step_size, steps: int, norm: str = "linf",
                      batch_size: int = 500, clip: Clip = None) -> jax.Array:
    """Accuracy of `target` on PGD examples crafted white-box on a surrogate model (the
    transfer attack: no access to the target beyond its training distribution)."""
    attack = pgd_attack(surrogate_loss, eps, step_size, steps, norm, clip=clip)
    return robust_accuracy(target, attack, x, y, key, batch_size)


# ---------------------------------------------------------------- the random-ensemble defense


def stack(trees: list[Any]) -> Any:
    """Pytrees of equal structure stacked on a new leading axis (e.g. K models' params)."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def random_ensemble(apply: Callable[[Any, jax.Array], jax.Array], stacked: Any) -> Predict:
    """predict(x, key): each example (each query) answered by one of the K models in
    `stacked` (params with a leading axis K), chosen uniformly by `key` independently per
    example. A finite-difference attacker then differences two *different* models' losses;
    a transfer attacker is unaffected (every member is just another model).

    All K models run on the whole batch and each row is picked from its chosen model:
    K times the compute of one model, no per-example copies of the weights."""
    k = jax.tree.leaves(stacked)[0].shape[0]

    def predict(x: jax.Array, key: jax.Array) -> jax.Array:
        logits = jax.vmap(lambda p: apply(p, x))(stacked)  # (K, batch, classes)
        choice = jax.random.randint(key, (x.shape[0],), 0, k)
        return jnp.take_along_axis(logits, choice[None, :, None], axis=0)[0]

    return predict
