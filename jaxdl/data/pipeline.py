"""Step-indexed batches on the device: the batch at step s is a pure function
of (data key, s).

Each epoch is a permutation keyed by `fold_in(data_key, epoch)`; an epoch has
`n // batch_size` steps (the remainder of each permutation is dropped, so every
batch has the same shape). No iterator state exists: resuming at step s needs
only s, and a chunk of K steps sees exactly the batches K single steps see.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxdl.data import Dataset


class DeviceData(NamedTuple):
    """Training arrays placed on the device once, passed to compiled code as arguments
    (not closed over: constants would be baked into every compiled program)."""
    x: jax.Array
    y: jax.Array


def to_device(dataset: Dataset) -> DeviceData:
    return DeviceData(jnp.asarray(dataset.x_train), jnp.asarray(dataset.y_train))


def batch_indices(data_key: jax.Array, step: jax.Array | int, num_examples: int,
                  batch_size: int) -> jax.Array:
    """Indices of the examples in the batch at `step`."""
    steps_per_epoch = num_examples // batch_size
    epoch, position = jnp.divmod(step, steps_per_epoch)
    order = jax.random.permutation(jax.random.fold_in(data_key, epoch), num_examples)
    return jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)


def batch_at(data: DeviceData, data_key: jax.Array, step: jax.Array | int,
             batch_size: int) -> tuple[jax.Array, jax.Array]:
    """The (x, y) batch at `step`."""
    idx = batch_indices(data_key, step, data.x.shape[0], batch_size)
    return jnp.take(data.x, idx, axis=0), jnp.take(data.y, idx, axis=0)
