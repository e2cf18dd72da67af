"""Pruning masks and training under a mask (`config.prune.mask`); the lottery-ticket rounds
that make masks are `jaxdl.pruning`'s.

A mask is `{param path: 0/1 array}` over weight matrices and kernels (params with more
than one axis, as `optim.decay_mask`); paths are flax's, joined by "/" ("Dense_0/kernel").
Biases and norm scales are never pruned (Frankle & Carbin 2019 prune weights only).
Pruning is *per layer*: every weight matrix loses the same fraction, so a random mask at
the same sparsity has the same count of survivors in every layer as the magnitude mask it
is compared with. `masked_optimizer` zeroes the gradient of every pruned weight before the
optimizer and its update after it, so pruned weights stay exactly 0 whatever the optimizer;
the mask lives in the optimizer state (data, not a compiled constant).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

from jaxdl.training import workdir as workdir_lib

__all__ = ["Mask", "flat_params", "weights", "ones_like_weights", "sparsity", "kept_count",
           "keep_largest", "magnitude_mask", "random_mask", "save_mask", "load_mask", "apply_mask",
           "MaskedState", "masked_optimizer"]

Mask = dict[str, np.ndarray]  # flat: "Dense_0/kernel" -> 0/1 array of the param's shape


def flat_params(params: Any) -> dict[str, Any]:
    """{"Dense_0/kernel": leaf, ...} of a params tree."""
    return traverse_util.flatten_dict(params, sep="/")


def weights(params: Any) -> dict[str, np.ndarray]:
    """The prunable params: weight matrices and kernels (more than one axis), as numpy."""
    return {k: np.asarray(v) for k, v in sorted(flat_params(params).items()) if v.ndim > 1}


def ones_like_weights(params: Any) -> Mask:
    """The mask that prunes nothing."""
    return {k: np.ones(v.shape, np.float32) for k, v in weights(params).items()}


def sparsity(tree: dict[str, np.ndarray]) -> float:
    """Fraction of exact zeros over all the arrays (of a mask, or of `weights(params)`)."""
    total = sum(v.size for v in tree.values())
    return sum(int(np.sum(v == 0)) for v in tree.values()) / total


def kept_count(size: int, target: float) -> int:
    """Weights a layer of `size` keeps at sparsity `target`."""
    return int(round((1.0 - target) * size))


def keep_largest(scores: np.ndarray, alive: np.ndarray, keep: int) -> np.ndarray:
    """0/1 mask of the `keep` highest scores among the alive entries (ties: the lower
    index, a stable sort, so the mask is a deterministic function of its inputs)."""
    if keep > int(alive.sum()):
        raise ValueError(f"cannot keep {keep} of {int(alive.sum())} surviving weights: "
                         f"sparsity must not decrease from round to round")
    ranked = np.argsort(-np.where(alive > 0, scores, -np.inf).ravel(), kind="stable")
    mask = np.zeros(scores.size, np.float32)
    mask[ranked[:keep]] = 1.0
    return mask.reshape(scores.shape)


def magnitude_mask(params: Any, previous: Mask, target: float) -> Mask:
    """Per layer, the `1 - target` fraction of weights with the largest |w| among those
    `previous` kept (pruned weights are 0 in trained params, so nested either way)."""
    w = weights(params)
    return {k: keep_largest(np.abs(w[k]), m, kept_count(m.size, target))
            for k, m in previous.items()}


def random_mask(key: jax.Array, previous: Mask, target: float) -> Mask:
    """Per layer, uniformly random survivors of `previous`, as many as `magnitude_mask`
    keeps at `target` (matched per-layer sparsity); layer i draws from fold_in(key, i)."""
    return {k: keep_largest(np.asarray(jax.random.uniform(jax.random.fold_in(key, i), m.shape)),
                             m, kept_count(m.size, target))
            for i, (k, m) in enumerate(sorted(previous.items()))}


def save_mask(path: str, mask: Mask) -> str:
    """Write `mask` as an .npz of float32 0/1 arrays (atomically)."""
    return workdir_lib.write_npz_atomic(path, {k: np.asarray(v, np.float32)
                                               for k, v in mask.items()})


def load_mask(path: str, param_shapes: Any) -> Any:
    """The mask tree of `path` for params shaped like `param_shapes` (ones where the file
    has no entry); ValueError, one line naming the file and entry, when it does not fit."""
    try:
        with np.load(path) as saved:
            arrays = {k: saved[k] for k in saved.files}
    except Exception as e:  # not a zip, not numpy, truncated: all mean "not a mask file"
        raise ValueError(f"{path}: not an .npz file of masks ({type(e).__name__})") from None
    flat = flat_params(param_shapes)
    for k, a in sorted(arrays.items()):
        if k not in flat:
            raise ValueError(f"{path}: {k!r} is not a param of the model "
                             f"(params: {', '.join(sorted(flat))})")
        if tuple(a.shape) != tuple(flat[k].shape):
            raise ValueError(f"{path}: {k} has shape {tuple(a.shape)}, the param "
                             f"{tuple(flat[k].shape)}")
        if not np.isin(a, (0, 1)).all():
            raise ValueError(f"{path}: {k} holds values other than 0 and 1")
    mask = {k: jnp.asarray(arrays[k] if k in arrays else np.ones(v.shape), v.dtype)
            for k, v in flat.items()}
    return traverse_util.unflatten_dict(mask, sep="/")


def apply_mask(params: Any, mask: Any) -> Any:
    return jax.tree.map(lambda p, m: p * m, params, mask)


# ---------------------------------------------------------------- training under a mask


class MaskedState(NamedTuple):
    mask: Any  # the mask tree, like params
    inner: Any  # the wrapped optimizer's state


def masked_optimizer(optimizer: optax.GradientTransformation, mask: Any
                     ) -> optax.GradientTransformation:
    """`optimizer` on the sparse network: gradients of pruned weights zeroed before it,
    their updates after it (so no optimizer moves a pruned weight off 0)."""
    def init(params):
        return MaskedState(mask=jax.tree.map(jnp.asarray, mask), inner=optimizer.init(params))

    def update(grads, state, params=None):
        grads = apply_mask(grads, state.mask)
        updates, inner = optimizer.update(grads, state.inner, params)
        return apply_mask(updates, state.mask), MaskedState(mask=state.mask, inner=inner)

    return optax.GradientTransformation(init, update)
