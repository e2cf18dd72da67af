"""Lipschitz constants of a trained network, bounded from both sides.

For f: R^d -> R^k, Lip(f) = sup_x ||J_f(x)||_2 (the largest singular value of the
input Jacobian). Two computable bounds bracket it:

    lower = max over sample points x of ||J_f(x)||_2      (any point is a witness)
    upper = prod_l ||W_l||_2                               (plain ReLU MLP: ReLU is 1-Lipschitz)

and a third lower bound from values alone, max_{i != j} |f(x_i) - f(x_j)| / ||x_i - x_j||
(`pairwise_lower_bound`); fed the labels instead of f, it is the smallest Lip of any
exact interpolator of the data.

Bubeck & Sellke's law of robustness (2021) is about the first kind of quantity:
any f that fits n noisy labels in d dimensions with p parameters has
Lip(f) >~ sqrt(n d / p), so the *lower* bound over the training points (where
interpolation forces f to move) and over fresh points of the input distribution
is the measured side; the upper bound shows how loose norm-based bounds are.

    >>> f = lambda x: x @ jnp.array([[3.0], [4.0]])          # Lip = 5
    >>> float(lipschitz_lower_bound(f, jnp.ones((4, 2))))
    5.0
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.probes import regions

__all__ = ["jacobian_norms", "lipschitz_lower_bound", "pairwise_lower_bound", "spectral_norm",
           "mlp_upper_bound", "margin", "law_of_robustness_scale", "parameter_count"]

Function = Callable[[jax.Array], jax.Array]  # (n, d) -> (n, k) or (n,)


def jacobian_norms(f: Function, x: jax.Array, batch_size: int = 256) -> np.ndarray:
    """||J_f(x_i)||_2 for every row x_i of `x` (Euclidean norm of the gradient when f
    is scalar), in batches of `batch_size` examples."""
    def one(xi: jax.Array) -> jax.Array:
        jac = jax.jacrev(lambda v: jnp.reshape(f(v[None])[0], (-1,)))(xi)  # (k, *input)
        jac = jnp.reshape(jac, (jac.shape[0], -1))
        if jac.shape[0] == 1:
            return jnp.linalg.norm(jac)
        return jnp.linalg.norm(jac, ord=2)  # largest singular value

    many = jax.jit(jax.vmap(one))
    x = jnp.asarray(x)
    return np.concatenate([np.asarray(many(x[i:i + batch_size]))
                           for i in range(0, x.shape[0], batch_size)])


def lipschitz_lower_bound(f: Function, x: jax.Array) -> float:
    """max_i ||J_f(x_i)||_2: Lip(f) is at least this."""
    return float(np.max(jacobian_norms(f, x)))


def pairwise_lower_bound(values: Any, x: Any) -> float:
    """max_{i != j} |v_i - v_j| / ||x_i - x_j||_2: the Lipschitz constant of the sample
    (x_i, v_i) of a scalar function. Any f with f(x_i) = v_i has Lip(f) at least this, and
    (McShane's extension theorem) some f on R^d has exactly this Lip: with the labels as
    `values` it is the smallest Lipschitz constant of any exact interpolator of the data."""
    v = np.asarray(values, np.float64).reshape(-1)
    x = np.asarray(x, np.float64).reshape(v.size, -1)
    sq = np.sum(x * x, axis=1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0))
    rise = np.abs(v[:, None] - v[None, :])
    np.fill_diagonal(rise, 0.0)  # i = j is no witness
    with np.errstate(divide="ignore", invalid="ignore"):  # a repeated x with two values: inf
        slopes = np.where(rise > 0, rise / dist, 0.0)
    return float(np.max(slopes))


def spectral_norm(w: Any) -> float:
    """Largest singular value of a 2-D weight matrix."""
    return float(np.linalg.norm(np.asarray(w, np.float64), ord=2))


def mlp_upper_bound(params: Any, output: np.ndarray | None = None) -> float:
    """prod_l ||W_l||_2 over the dense layers of a plain (non-residual) ReLU MLP, an
    upper bound on Lip(f) for f = output-projected logits (1-Lipschitz activations;
    biases do not count). `output` (k,) projects the last layer, e.g. [-1, 1] for
    the margin logit_1 - logit_0 of a binary classifier."""
    layers = regions.mlp_layers(params)
    norms = [spectral_norm(kernel) for kernel, _ in layers[:-1]]
    last = np.asarray(layers[-1][0], np.float64)
    if output is not None:
        last = last @ np.asarray(output, np.float64)[:, None]
    return float(np.prod(norms) * spectral_norm(last))


def margin(apply: Function) -> Function:
    """x -> logit_1(x) - logit_0(x): the real-valued function a binary classifier
    fits (with MSE on one-hot targets it is fitted to +-1)."""
    def f(x: jax.Array) -> jax.Array:
        logits = apply(x)
        return logits[..., 1] - logits[..., 0]
    return f


def law_of_robustness_scale(n: int, d: int, p: int) -> float:
    """sqrt(n d / p): Bubeck & Sellke's lower bound on the Lipschitz constant of any
    p-parameter interpolator of n noisy points in d dimensions (up to constants)."""
    return float(np.sqrt(n * d / p))


def parameter_count(params: Any) -> int:
    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))
