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

__all__ = ["directional_gradcheck"]


def _to64(tree: Any) -> Any:
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float64)
                        if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) else x, tree)


def directional_gradcheck(loss_fn: Callable[[Any], jax.Array], params: Any, key: jax.Array,
                          directions: int = 4, eps: float = 1e-5) -> np.ndarray:
    """Relative error |autodiff - finite difference| / max(|autodiff|, |fd|, tiny) of
    the derivative of `loss_fn` at `params` along `directions` random unit directions."""
    with jax.enable_x64(True):
        f = lambda p: jnp.asarray(loss_fn(p), jnp.float64)

        @jax.jit  # one program for all directions: eager float64 ops would each compile
        def derivatives(params, key):
            params = _to64(params)
            leaves, tree = jax.tree.flatten(params)
            keys = jax.random.split(key, len(leaves))
            v = [jax.random.normal(k, x.shape, jnp.float64) for k, x in zip(keys, leaves)]
            norm = jnp.sqrt(sum(jnp.sum(u ** 2) for u in v))
            v = jax.tree.unflatten(tree, [u / norm for u in v])
            grad = jax.grad(f)(params)
            analytic = sum(jnp.sum(g * u) for g, u in
                           zip(jax.tree.leaves(grad), jax.tree.leaves(v)))
            shift = lambda s: jax.tree.map(lambda x, u: x + s * eps * u, params, v)
            return analytic, (f(shift(1.0)) - f(shift(-1.0))) / (2 * eps)

        errors = []
        for i in range(directions):
            analytic, numeric = map(float, derivatives(params, jax.random.fold_in(key, i)))
            errors.append(abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-12))
        return np.asarray(errors)
