"""White-box attacks on the inputs: FGSM and PGD under an L∞ or L2 ball — pure, jit-able.

Shared by adversarial training (`jaxdl.gradients.adversarial`, a gradient method) and the
robustness probes (``jaxdl.probes.adversarial``, which adds black-box and transfer attacks).

    x_fgsm = attacks.fgsm(loss_fn, x, y, eps=0.2, norm="linf")       # loss_fn(x, y) -> mean loss
    x_pgd = attacks.pgd(loss_fn, x, y, key, eps=0.2, step_size=0.05, steps=10, norm="linf")

The steepest-ascent step under a norm ball is argmax_{||d|| <= 1} <g, d>: sign(g) for
L∞, g / ||g||_2 for L2 (`ascent_direction`); projecting back onto the ball is clipping
each coordinate to [-eps, eps] (L∞) or rescaling δ to norm eps when it is longer (L2).
"""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

__all__ = ["NORMS", "check_norm", "per_example_norm", "ascent_direction", "project",
           "uniform_in_ball", "in_range", "fgsm", "ascend", "pgd"]

NORMS = ("linf", "l2")
LossFn = Callable[[jax.Array, jax.Array], jax.Array]  # (x, y) -> mean loss (scalar)
Clip = tuple[float, float] | None


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm: must be one of {', '.join(NORMS)}, got {norm!r}")


# ---------------------------------------------------------------- geometry of the ball


def per_example_norm(v: jax.Array) -> jax.Array:
    """||v_i||_2 over every axis but the batch axis, shaped to broadcast against v."""
    axes = tuple(range(1, v.ndim))
    return jnp.sqrt(jnp.sum(jnp.square(v), axis=axes, keepdims=True))


def ascent_direction(g: jax.Array, norm: str) -> jax.Array:
    """argmax over ||d|| <= 1 of <g, d>, per example: sign(g) (L∞) or g / ||g||₂ (L2;
    0 where g = 0)."""
    check_norm(norm)
    if norm == "linf":
        return jnp.sign(g)
    n = per_example_norm(g)
    return jnp.where(n > 0, g / jnp.where(n > 0, n, 1.0), 0.0)


def project(delta: jax.Array, eps: float | jax.Array, norm: str) -> jax.Array:
    """The closest point of the ball ||δ|| <= eps, per example: coordinates clipped to
    [-eps, eps] (L∞); δ · min(1, eps / ||δ||₂) (L2)."""
    check_norm(norm)
    if norm == "linf":
        return jnp.clip(delta, -eps, eps)
    n = per_example_norm(delta)
    return delta * jnp.minimum(1.0, eps / jnp.maximum(n, 1e-12))


def uniform_in_ball(key: jax.Array, shape: tuple[int, ...], eps: float | jax.Array,
                    norm: str) -> jax.Array:
    """A uniform random point of the ball, per example: U[-eps, eps] per coordinate (L∞);
    a Gaussian direction at radius eps · U^(1/d) (L2: uniform in the volume of the ball)."""
    check_norm(norm)
    if norm == "linf":
        return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0) * eps
    k_dir, k_radius = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
    direction = ascent_direction(jax.random.normal(k_dir, shape), "l2")
    d = max(1, math.prod(shape[1:]))
    radius = jax.random.uniform(k_radius, (shape[0],) + (1,) * (len(shape) - 1)) ** (1.0 / d)
    return direction * radius * eps


def in_range(x: jax.Array, clip: Clip) -> jax.Array:
    return x if clip is None else jnp.clip(x, clip[0], clip[1])


# ---------------------------------------------------------------- white-box attacks


def fgsm(loss_fn: LossFn, x: jax.Array, y: jax.Array, eps: float | jax.Array,
         norm: str = "linf", clip: Clip = None) -> jax.Array:
    """x + eps · ascent_direction(∇ₓ loss): one step to the ball's surface (FGSM for L∞;
    the fast gradient method for L2)."""
    g = jax.grad(loss_fn)(x, y)
    return in_range(x + eps * ascent_direction(g, norm), clip)


def ascend(gradient: Callable[[jax.Array, int], jax.Array], x: jax.Array,
            delta: jax.Array, eps, step_size, steps: int, norm: str, clip: Clip) -> jax.Array:
    """`steps` projected ascent steps δ <- Π(δ + step_size · dir(gradient(x + δ, t)))."""
    def body(t, delta):
        g = gradient(x + delta, t)
        delta = project(delta + step_size * ascent_direction(g, norm), eps, norm)
        return in_range(x + delta, clip) - x
    return x + jax.lax.fori_loop(0, steps, body, delta)


def pgd(loss_fn: LossFn, x: jax.Array, y: jax.Array, key: jax.Array, eps: float | jax.Array,
        step_size: float | jax.Array, steps: int, norm: str = "linf",
        random_start: bool = True, clip: Clip = None) -> jax.Array:
    """Projected gradient ascent on the loss inside the eps-ball around x (Madry et al.
    2018), from a uniform random point of the ball (`random_start`) or from x."""
    check_norm(norm)
    delta = (uniform_in_ball(key, x.shape, eps, norm) if random_start else jnp.zeros_like(x))
    delta = in_range(x + delta, clip) - x
    grad = jax.grad(loss_fn)
    return ascend(lambda xt, t: grad(xt, y), x, delta, eps, step_size, steps, norm, clip)
