"""Step-indexed batches on the device: the batch at step s is a pure function
of (data key, s).

Each epoch is a permutation keyed by `fold_in(data_key, epoch)`; an epoch has
`n // batch_size` steps (the remainder of each permutation is dropped, so every
batch has the same shape). No iterator state exists: resuming at step s needs
only s, and a chunk of K steps sees exactly the batches K single steps see.

A step carries its epoch (`Epoch`) to the next, so the permutation is computed once per
epoch; a small training set is carried in that epoch's order too, so that a batch is a
contiguous slice of it rather than a gather (BENCHMARKS.md: the gather cost the MNIST-1D
CNN ~7% of its step on CPU). Both give exactly the batches of `batch_at`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data import Dataset

__all__ = ["DeviceData", "to_device", "PERMUTED_COPY_BYTES", "Epoch", "stable_argsort_u32",
           "permutation", "epoch_order", "batch_slice", "indices_in_order", "batch_indices",
           "carries_copy", "epoch_at", "carried_epoch", "batch_at"]


class DeviceData(NamedTuple):
    """Training arrays placed on the device once, passed to compiled code as arguments
    (not closed over: constants would be baked into every compiled program)."""
    x: jax.Array
    y: jax.Array


def to_device(dataset: Dataset, place=None) -> DeviceData:
    """The training arrays on the device(s); `place(array)` puts one (default: jnp.asarray)."""
    place = place or jnp.asarray
    return DeviceData(place(dataset.x_train), place(dataset.y_train))


# Training sets up to this size are carried in epoch order (one copy per run, per
# vmapped trial): a batch is then a slice, not a gather. Larger ones are gathered per step.
PERMUTED_COPY_BYTES = 16 * 2 ** 20


class Epoch(NamedTuple):
    """What a step carries to the next: its epoch's permutation and, for a training set
    of at most PERMUTED_COPY_BYTES, the training set in that order (else None)."""
    order: jax.Array
    data: DeviceData | None


def stable_argsort_u32(keys: jax.Array) -> jax.Array:
    """`argsort(keys, stable=True)` of a 1-D uint32 array, as single-operand sorts.

    Why: XLA:CPU sorts one uint32 array ~5x faster than a (key, index) pair (119 vs
    560 us for 4000 elements: BENCHMARKS.md). An LSD radix sort: each pass sorts words
    `digit << b | rank` (b = bits of an index, digit = the next 32 - b bits of the key,
    rank = position in the order so far), which are distinct, so the pass is stable.
    """
    n = keys.shape[0]
    index_bits = max(1, (n - 1).bit_length())
    digit_bits = 32 - index_bits
    rank = jnp.arange(n, dtype=jnp.uint32)
    perm = None
    for low in range(0, 32, digit_bits):
        k = keys if perm is None else keys[perm]
        digit = (k >> low) & jnp.uint32((1 << min(digit_bits, 32 - low)) - 1)
        words = jax.lax.sort((digit << index_bits) | rank)
        r = (words & jnp.uint32((1 << index_bits) - 1)).astype(jnp.int32)
        perm = r if perm is None else perm[r]
    return perm


def permutation(key: jax.Array, n: int) -> jax.Array:
    """`jax.random.permutation(key, n)`, bit for bit, about twice as fast on CPU.

    The same algorithm (jax/_src/random: rounds of sorting by fresh random 32-bit keys,
    the number of rounds by the same rule), with the stable sort of each round done by
    `stable_argsort_u32`; tests/test_pipeline.py checks equality with jax's.
    """
    x = jnp.arange(n)
    rounds = math.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max))
    for _ in range(rounds):
        key, subkey = jax.random.split(key)
        x = x[stable_argsort_u32(jax.random.bits(subkey, (n,), jnp.uint32))]
    return x


def epoch_order(data_key: jax.Array, step: jax.Array | int, num_examples: int,
                batch_size: int) -> jax.Array:
    """The permutation of the epoch that step `step` belongs to."""
    epoch = step // (num_examples // batch_size)
    return permutation(jax.random.fold_in(data_key, epoch), num_examples)


def batch_slice(step: jax.Array | int, num_examples: int, batch_size: int,
                shard: tuple[jax.Array | int, int] = (0, 1)) -> tuple[jax.Array | int, int]:
    """(start, size) in its epoch's order of the batch at `step`, or of its shard (i, n)."""
    index, count = shard
    size = batch_size // count
    return (step % (num_examples // batch_size)) * batch_size + index * size, size


def indices_in_order(order: jax.Array, step: jax.Array | int, batch_size: int) -> jax.Array:
    """Indices of the batch at `step`, given its epoch's permutation `order`."""
    return jax.lax.dynamic_slice_in_dim(order, *batch_slice(step, order.shape[0], batch_size))


def batch_indices(data_key: jax.Array, step: jax.Array | int, num_examples: int,
                  batch_size: int) -> jax.Array:
    """Indices of the examples in the batch at `step`."""
    order = epoch_order(data_key, step, num_examples, batch_size)
    return indices_in_order(order, step, batch_size)


def carries_copy(data: DeviceData) -> bool:
    """Whether an `Epoch` carries the training set in its order (static: by size)."""
    nbytes = sum(math.prod(a.shape) * a.dtype.itemsize for a in data)
    return nbytes <= PERMUTED_COPY_BYTES


def epoch_at(data: DeviceData, data_key: jax.Array, step: jax.Array | int,
             batch_size: int) -> Epoch:
    """The `Epoch` that step `step` belongs to."""
    order = epoch_order(data_key, step, data.x.shape[0], batch_size)
    in_order = (DeviceData(jnp.take(data.x, order, axis=0), jnp.take(data.y, order, axis=0))
                if carries_copy(data) else None)
    return Epoch(order, in_order)


def carried_epoch(data: DeviceData, data_key: jax.Array, step: jax.Array, epoch: Epoch,
                  batch_size: int) -> Epoch:
    """`epoch` (that of the step before `step`, carried from the previous step),
    recomputed only when `step` starts an epoch: the same as `epoch_at`, without
    sorting every example at every step (which cost more than the MNIST-1D CNN's own
    step; BENCHMARKS.md)."""
    n = data.x.shape[0]
    return jax.lax.cond(step % (n // batch_size) == 0,
                        lambda: epoch_at(data, data_key, step, batch_size), lambda: epoch)


def batch_at(data: DeviceData, data_key: jax.Array, step: jax.Array | int,
             batch_size: int, shard: tuple[jax.Array | int, int] = (0, 1),
             epoch: Epoch | None = None) -> tuple[jax.Array, jax.Array]:
    """The (x, y) batch at `step`; with `shard=(i, n)` only the i-th of n equal slices
    of it (a device's part of the global batch: the order stays global). `epoch`, the
    step's `Epoch` if the caller has it, saves recomputing the permutation and, when it
    carries the data in order, makes the batch a slice instead of a gather."""
    start, size = batch_slice(step, data.x.shape[0], batch_size, shard)
    if epoch is not None and epoch.data is not None:
        return (jax.lax.dynamic_slice_in_dim(epoch.data.x, start, size),
                jax.lax.dynamic_slice_in_dim(epoch.data.y, start, size))
    order = (epoch.order if epoch is not None
             else epoch_order(data_key, step, data.x.shape[0], batch_size))
    idx = jax.lax.dynamic_slice_in_dim(order, start, size)
    return jnp.take(data.x, idx, axis=0), jnp.take(data.y, idx, axis=0)
