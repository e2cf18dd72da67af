"""Gradient check: autodiff against centered finite differences, in float64.

    errors = directional_gradcheck(loss_fn, params, key)   # relative errors, one per direction
    max(errors) < 1e-6                                     # autodiff is right

Checking every coordinate costs two evaluations per parameter; checking random
directions v costs two per direction and tests the whole gradient at once:
<grad f(θ), v> must equal (f(θ + εv) - f(θ - εv)) / 2ε up to O(ε²). Float64
keeps the rounding error (~1e-16/ε) far below the truncation error (~ε²).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np


def _to64(tree: Any) -> Any:
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float64)
                        if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) else x, tree)


def directional_gradcheck(loss_fn: Callable[[Any], jax.Array], params: Any, key: jax.Array,
                          directions: int = 4, eps: float = 1e-5) -> np.ndarray:
    """Relative error |autodiff - finite difference| / max(|autodiff|, |fd|, tiny) of
    the derivative of `loss_fn` at `params` along `directions` random unit directions."""
    with jax.enable_x64(True):
        params = _to64(params)
        f = jax.jit(lambda p: jnp.asarray(loss_fn(p), jnp.float64))
        grad = jax.jit(jax.grad(f))(params)
        leaves, tree = jax.tree.flatten(params)
        errors = []
        for i in range(directions):
            keys = jax.random.split(jax.random.fold_in(key, i), len(leaves))
            v = [jax.random.normal(k, x.shape, jnp.float64) for k, x in zip(keys, leaves)]
            norm = jnp.sqrt(sum(jnp.sum(u ** 2) for u in v))
            v = jax.tree.unflatten(tree, [u / norm for u in v])
            analytic = sum(jnp.sum(g * u) for g, u in zip(jax.tree.leaves(grad), jax.tree.leaves(v)))
            shift = lambda s: jax.tree.map(lambda x, u: x + s * eps * u, params, v)
            numeric = (f(shift(1.0)) - f(shift(-1.0))) / (2 * eps)
            scale = max(abs(float(analytic)), abs(float(numeric)), 1e-12)
            errors.append(abs(float(analytic) - float(numeric)) / scale)
        return np.asarray(errors)
