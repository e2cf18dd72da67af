"""Helpers shared by the data sources: option checks, seeded streams, label noise, frozen arrays.

Every check returns the value normalised to its Python type (so ``1`` for a
float option becomes ``1.0``) or raises ``ValueError`` with one line naming the
option, e.g. ``"n must be a positive integer, got -3"``.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__ = ["MAX_SEED", "is_int", "integer", "positive_int", "nonnegative_int", "seed",
           "number", "boolean", "text", "streams", "resample_labels", "frozen", "pair"]

# np.random.seed (used by the mnist1d package) takes seeds in [0, 2**32).
MAX_SEED = 2**32 - 1


def is_int(value: Any) -> bool:
    # bool is an int subclass, but `n=True` is a mistake, not a count.
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value: Any) -> bool:
    return is_int(value) or isinstance(value, (float, np.floating))


def integer(name: str, value: Any, low: int, high: int | None = None, what: str = "") -> int:
    """`value` as an int in [low, high]; `what` describes the rule for the message."""
    if not is_int(value) or value < low or (high is not None and value > high):
        rule = what or (f"an integer in [{low}, {high}]" if high is not None else f"an integer >= {low}")
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return int(value)


def positive_int(name: str, value: Any) -> int:
    return integer(name, value, 1, what="a positive integer")


def nonnegative_int(name: str, value: Any) -> int:
    return integer(name, value, 0, what="a non-negative integer")


def seed(name: str, value: Any) -> int:
    return integer(name, value, 0, MAX_SEED, what=f"an integer in [0, {MAX_SEED}]")


def number(name: str, value: Any, low: float = -math.inf, high: float = math.inf,
           low_open: bool = False, high_open: bool = False) -> float:
    """`value` as a finite float in the interval from `low` to `high` (ends closed unless *_open)."""
    ok = _is_number(value) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def text(name: str, value: Any, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ValueError(f"{name} must be a {'' if allow_empty else 'non-empty '}string, got {value!r}")
    return value


def streams(seed_: int, count: int) -> list[np.random.Generator]:
    """`count` independent generators derived from `seed_`.

    Each purpose (teacher, train inputs, test inputs, ...) gets its own stream,
    so changing one option (say ``test_size``) leaves the other arrays unchanged.
    Stream i depends only on (seed_, i): append new purposes, never reorder.
    """
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed_).spawn(count)]


def resample_labels(y: np.ndarray, fraction: float, num_classes: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Class labels `y` with each one, with probability `fraction`, redrawn uniformly
    from all `num_classes` classes (so about fraction * (1 - 1/num_classes) change).

    Two draws per label, made for every `fraction` (u ~ U[0, 1), then a class): label i
    is redrawn when u_i < fraction. So for one generator state the labels redrawn at a
    smaller fraction are a subset of those redrawn at a larger one, and get the same
    new class: noise levels are nested, and a sweep over them compares like with like.
    """
    redraw = rng.random(len(y)) < fraction
    random_labels = rng.integers(num_classes, size=len(y)).astype(y.dtype)
    return np.where(redraw, random_labels, y)


def frozen(array: np.ndarray) -> np.ndarray:
    """A read-only copy of `array` that cannot be made writeable again.

    ``setflags(write=False)`` alone can be undone by a caller; an array backed
    by an immutable ``bytes`` object cannot, which is what a cache shared
    between callers needs.
    """
    array = np.ascontiguousarray(array)
    return np.frombuffer(array.tobytes(), dtype=array.dtype).reshape(array.shape)


def pair(name: str, value: Any) -> tuple[int, int]:
    """`value` as a (low, high) pair of integers with 0 <= low <= high."""
    ok = isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
    ok = ok and all(is_int(v) for v in value) and 0 <= value[0] <= value[1]
    if not ok:
        raise ValueError(f"{name} must be a pair (low, high) of integers with 0 <= low <= high, got {value!r}")
    return int(value[0]), int(value[1])
