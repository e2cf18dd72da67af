"""The one training loop: compiled chunks of steps between stop points, hooks after each.

    state = driver.run(state, advance, [hooks.StopOnNaN(...), ...], end=6000, chunk_size=100)
    # -> the state at step 6000; every hook saw every chunk, and each of its stop points
    #    ended a chunk

`jaxdl.train` (training/loop.py), vectorized trial groups (study/vectorize.py) and
lottery-ticket rounds (pruning.py) all train through `run`; what differs between them
is only their hooks (evaluation, logging, checkpoints, the NaN stop, signals, user
hooks: training/hooks.py).

A chunk is `advance(state, length) -> (state, per-step metrics stacked on axis 0)`: the
run's compiled `train_chunk`. Its metrics come to the host once per chunk (one sync),
and every hook reads them from there, so logging every step's loss costs no extra
sync. Chunk boundaries never change a bit — a chunk of K steps equals K chunks of one
step (tests/test_train.py) — so any hook may ask for a boundary at any step (`stops`).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Iterable, Iterator, Sequence

import jax
import numpy as np

__all__ = ["Chunk", "ChunkHook", "OnChunk", "chunks", "every", "run"]

Advance = Callable[[Any, int], tuple[Any, Any]]


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One chunk just done: the steps (start, start + length] took the state to `state`."""
    start: int
    length: int
    state: Any  # valid until the next chunk, which donates it: copy what you keep
    metrics: dict[str, np.ndarray]  # per-step training metrics, on the host: row k is step start+k+1
    seconds: float  # host wall time of the chunk (compilation included for the first)

    @property
    def step(self) -> int:
        """The step the state reached."""
        return self.start + self.length


class ChunkHook:
    """What the driver calls; a hook overrides what it needs.

    `stops(start, end)`: steps at which a chunk must end (its points). `after_chunk`:
    after every chunk, in the order of the hooks; it may raise to abort the run, or
    return True to end training here (the remaining hooks of this chunk are skipped,
    `finish` still runs). `finish(state)`: once, after the last chunk."""

    def stops(self, start: int, end: int) -> Iterable[int]:
        return ()

    def after_chunk(self, chunk: Chunk) -> bool | None:
        return None

    def finish(self, state: Any) -> None:
        return None


class OnChunk(ChunkHook):
    """A hook from a function of the chunk, called after every chunk (`points` empty) or
    only at `points` (which then end chunks)."""

    def __init__(self, fn: Callable[[Chunk], bool | None], points: Iterable[int] = ()):
        self.fn, self.points = fn, frozenset(points)

    def stops(self, start: int, end: int) -> Iterable[int]:
        return self.points

    def after_chunk(self, chunk: Chunk) -> bool | None:
        if not self.points or chunk.step in self.points:
            return self.fn(chunk)
        return None


def every(interval: int, steps: int) -> set[int]:
    """Multiples of `interval` up to `steps`, and `steps` itself (interval 0: only `steps`)."""
    return set(range(interval or steps, steps, interval or steps)) | {steps}


def chunks(start: int, stops: Sequence[int], chunk_size: int) -> Iterator[tuple[int, bool]]:
    """(length, stop_after) of each chunk: at most `chunk_size` steps, never across a stop."""
    step = start
    for stop in (s for s in sorted(stops) if s > start):
        while step < stop:
            length = min(chunk_size, stop - step)
            step += length
            yield length, step == stop


def run(state: Any, advance: Advance, hooks: Sequence[ChunkHook], *, end: int,
        chunk_size: int) -> Any:
    """Train `state` (anything with a scalar `.step`) to step `end` in chunks of at most
    `chunk_size` steps, ending a chunk at every hook's stop point; returns the last state.

    After each chunk the per-step metrics come to the host once, then each hook's
    `after_chunk` runs in order; after the last chunk (or a hook's request to end),
    each hook's `finish`."""
    start = int(state.step)
    stops = {end} | {s for hook in hooks for s in hook.stops(start, end) if start < s <= end}
    for length, _ in chunks(start, sorted(stops), chunk_size):
        first, began = int(state.step), time.perf_counter()
        state, metrics = advance(state, length)
        metrics = jax.device_get(metrics)
        done = Chunk(first, length, state, metrics, time.perf_counter() - began)
        if any(hook.after_chunk(done) for hook in hooks):  # `any` stops at the first True
            break
    for hook in hooks:
        hook.finish(state)
    return state
