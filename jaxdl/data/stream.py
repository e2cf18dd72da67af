"""Streaming input: the step-indexed batches of `pipeline`, read on the host by grain.

    feed = stream.Stream(x, y, batch_size=100, sharding=placement.stacked_batches(), workers=2)
    xs, ys = feed.batches(state.key, step=300, length=100)
    # global arrays (100, 100, ...): row k is the batch of step 300 + k, bit for bit the
    # examples pipeline.batch_at(data, data_key, 300 + k, 100) takes on the device

For a training set that should not (or cannot) sit on every device: `config.data.placement
= stream` (or `auto` above `device_budget_mb`). The order is the device path's: epoch e's
permutation is `jaxdl.data.pipeline.permutation` of `fold_in(data_key, e)`, computed on the host CPU
(integer ops: the same bits on every backend), and the batch at step s is the s-th slice
of it. Each process reads only its own part of every global batch (process p of P:
positions [p·B/P, (p+1)·B/P) of it) from a random-access source — numpy arrays, or
anything with `len`, `shape`, `dtype` and `x[indices]` (e.g. records on disk) — and the
global batch is assembled with `jax.make_array_from_process_local_data`. There is no
iterator state: a stream opened at step s yields what one opened at 0 yields from s on, so
resuming needs only the step, and the batches do not depend on the number of grain worker
processes (each step's batch is a pure function of the step, whichever worker reads it).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import mmap
import time
from typing import Any

import grain
import jax
from absl import flags
import numpy as np

from jaxdl import rng
from jaxdl.data import pipeline

__all__ = ["nbytes", "EpochOrder", "ReadStep", "Stream"]

_LAST_STEP = 2 ** 31 - 1  # TrainState.step is an int32: no stream runs past it


def nbytes(*arrays: Any) -> int:
    """Bytes the arrays take in memory (array-likes too: from their shape and dtype)."""
    return sum(math.prod(a.shape) * np.dtype(a.dtype).itemsize for a in arrays)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _epoch_order(data_key: jax.Array, step: jax.Array, num_examples: int,
                 batch_size: int) -> jax.Array:
    return pipeline.epoch_order(data_key, step, num_examples, batch_size)


class EpochOrder:
    """The device path's epoch permutations, computed on the host CPU; the last one kept
    (steps are read in order, so each epoch is computed once per reader)."""

    def __init__(self, data_key: np.ndarray, num_examples: int, batch_size: int):
        self.data_key, self.n, self.batch_size = np.asarray(data_key), num_examples, batch_size
        self.steps_per_epoch = num_examples // batch_size
        self._epoch, self._order = -1, None

    def indices(self, step: int, shard: tuple[int, int] = (0, 1)) -> np.ndarray:
        """Indices of the examples of the batch at `step` (or of its part `shard` = (i, n))."""
        epoch = step // self.steps_per_epoch
        if epoch != self._epoch:
            with jax.default_device(jax.local_devices(backend="cpu")[0]):
                self._order = np.asarray(_epoch_order(self.data_key, step, self.n,
                                                      self.batch_size))
            self._epoch = epoch
        start, size = pipeline.batch_slice(step, self.n, self.batch_size, shard)
        return self._order[start:start + size]


@dataclasses.dataclass
class ReadStep:
    """step -> this process's part (x, y) of the batch at that step: grain's map function,
    run in the main process or in a worker (it is pickled there, with its source)."""
    x: Any
    y: Any
    data_key: np.ndarray
    batch_size: int
    shard: tuple[int, int] = (0, 1)  # (this process, processes)
    # augment(root_key, step, x, first): views of the examples at positions first, ...
    # of the batch at `step` (models.ssl.HostViews), or None
    augment: Any = None
    root_key: np.ndarray | None = None
    _order: EpochOrder | None = dataclasses.field(default=None, repr=False)

    def __call__(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        if self._order is None:
            self._order = EpochOrder(self.data_key, len(self.x), self.batch_size)
        index = self._order.indices(int(step), self.shard)
        x = np.asarray(self.x[index])
        if self.augment is not None:
            first = self.shard[0] * (self.batch_size // self.shard[1])
            x = np.asarray(self.augment(self.root_key, int(step), x, first))
        return x, np.asarray(self.y[index])

    def __getstate__(self) -> dict:  # a worker computes its own epochs, maps its own files
        return {**self.__dict__, "_order": None, "x": _portable(self.x), "y": _portable(self.y)}


@dataclasses.dataclass
class _Mapped:
    """A memory-mapped array as a worker receives it: its file, mapped again there (a
    np.memmap would be pickled as a copy of all its bytes)."""
    filename: str
    offset: int
    shape: tuple[int, ...]
    dtype: Any
    order: str

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> np.ndarray:
        if "_array" not in self.__dict__:
            self._array = np.memmap(self.filename, self.dtype, "r", self.offset, self.shape,
                                    self.order)
        return self._array[index]


def _portable(array: Any) -> Any:
    """A whole memory-mapped file (`np.load(path, mmap_mode="r")`) travels as its file name;
    anything else as itself (a slice of a memmap, whose `offset` is its parent's, too)."""
    if isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap) and array.filename:
        order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
        return _Mapped(array.filename, array.offset, array.shape, array.dtype, order)
    return array


def _cpu_only(worker_index: int, worker_count: int) -> None:
    """grain worker start-up: the epoch permutations run on the worker's CPU, never on an
    accelerator (a worker touching the GPU would take its memory)."""
    jax.config.update("jax_platforms", "cpu")


class Stream:
    """The training batches of a run, read on the host, `length` steps at a time."""

    def __init__(self, x: Any, y: Any, batch_size: int, sharding: jax.sharding.NamedSharding,
                 workers: int = 0, prefetch: int = 128, augment: Any = None):
        self.x, self.y, self.batch_size, self.augment = x, y, batch_size, augment
        self.sharding, self.workers, self.prefetch = sharding, workers, prefetch
        self.shard = (jax.process_index(), jax.process_count())
        if batch_size % self.shard[1]:
            raise ValueError(f"batch_size {batch_size} does not divide over "
                             f"{self.shard[1]} processes")
        self._iterator, self._at = None, None  # (key bytes, next step) the iterator is at
        self.waited_s = 0.0  # host time spent in `batches`: reading, stacking, placing

    def batches(self, root_key: Any, step: int, length: int) -> tuple[jax.Array, jax.Array]:
        """The stacked global batches (x, y) of steps step, ..., step + length - 1 of the run
        with root key `root_key` (a replicated array or host key data)."""
        began = time.perf_counter()
        root_key = np.asarray(jax.device_get(_local(root_key)))
        data_key = np.asarray(rng.purpose_key(root_key, rng.DATA_ORDER))
        if self._at != (data_key.tobytes(), step):
            self._open(root_key, data_key, step)
        parts = [next(self._iterator) for _ in range(length)]
        self._at = (data_key.tobytes(), step + length)
        xs, ys = (np.stack([part[i] for part in parts]) for i in (0, 1))
        batches = (jax.make_array_from_process_local_data(self.sharding, xs),
                   jax.make_array_from_process_local_data(self.sharding, ys))
        self.waited_s += time.perf_counter() - began
        return batches

    def _open(self, root_key: np.ndarray, data_key: np.ndarray, step: int) -> None:
        """A grain pipeline over the steps from `step` on (an earlier one is closed)."""
        self.close()
        read = ReadStep(self.x, self.y, data_key, self.batch_size, self.shard, self.augment,
                        root_key)
        steps = grain.MapDataset.range(step, _LAST_STEP).map(read)
        if self.workers:
            _absl_flags_ready()
            batches = steps.to_iter_dataset(grain.ReadOptions(num_threads=0)).mp_prefetch(
                grain.MultiprocessingOptions(num_workers=self.workers,
                                             per_worker_buffer_size=-(-self.prefetch // self.workers)),
                worker_init_fn=_cpu_only)
        else:  # threads of the main process read ahead
            batches = steps.to_iter_dataset(grain.ReadOptions(
                num_threads=2, prefetch_buffer_size=self.prefetch))
        self._iterator = iter(batches)

    def close(self) -> None:
        """Stop the readers (worker processes) of the current pipeline, if any."""
        if self._iterator is not None and hasattr(self._iterator, "close"):
            self._iterator.close()
        self._iterator, self._at = None, None


def _absl_flags_ready() -> None:
    """grain's worker processes read absl flags, which a script outside an absl app never
    parsed: take their defaults (an absl app has parsed them already; nothing changes)."""
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def _local(key: Any) -> Any:
    """A replicated array's value from this process's own copy (another process's part
    cannot be fetched in a multi-process run)."""
    if isinstance(key, jax.Array) and not key.is_fully_addressable:
        return key.addressable_data(0)
    return key
