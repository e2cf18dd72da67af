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


def to_device(dataset: Dataset, place=None) -> DeviceData:
    """The training arrays on the device(s); `place(array)` puts one (default: jnp.asarray)."""
    place = place or jnp.asarray
    return DeviceData(place(dataset.x_train), place(dataset.y_train))


def epoch_order(data_key: jax.Array, step: jax.Array | int, num_examples: int,
                batch_size: int) -> jax.Array:
    """The permutation of the epoch that step `step` belongs to."""
    epoch = step // (num_examples // batch_size)
    return jax.random.permutation(jax.random.fold_in(data_key, epoch), num_examples)


def indices_in_order(order: jax.Array, step: jax.Array | int, batch_size: int) -> jax.Array:
    """Indices of the batch at `step`, given its epoch's permutation `order`."""
    position = step % (order.shape[0] // batch_size)
    return jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)


def batch_indices(data_key: jax.Array, step: jax.Array | int, num_examples: int,
                  batch_size: int) -> jax.Array:
    """Indices of the examples in the batch at `step`."""
    order = epoch_order(data_key, step, num_examples, batch_size)
    return indices_in_order(order, step, batch_size)


def carried_order(data_key: jax.Array, step: jax.Array, order: jax.Array,
                  batch_size: int) -> jax.Array:
    """`order` (the permutation of the epoch before `step`, carried from the previous
    step), recomputed only when `step` starts an epoch: the same permutation as
    `epoch_order`, without sorting every example at every step (which cost more than
    the MNIST-1D CNN's own step; BENCHMARKS.md)."""
    n = order.shape[0]
    return jax.lax.cond(step % (n // batch_size) == 0,
                        lambda: epoch_order(data_key, step, n, batch_size), lambda: order)


def batch_at(data: DeviceData, data_key: jax.Array, step: jax.Array | int,
             batch_size: int, shard: tuple[jax.Array | int, int] = (0, 1),
             order: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """The (x, y) batch at `step`; with `shard=(i, n)` only the i-th of n equal slices
    of it (a device's part of the global batch: the order stays global). `order`, the
    epoch's permutation if the caller has it, saves recomputing it."""
    if order is None:
        order = epoch_order(data_key, step, data.x.shape[0], batch_size)
    idx = indices_in_order(order, step, batch_size)
    index, count = shard
    if count > 1:
        idx = jax.lax.dynamic_slice_in_dim(idx, index * (batch_size // count), batch_size // count)
    return jnp.take(data.x, idx, axis=0), jnp.take(data.y, idx, axis=0)
