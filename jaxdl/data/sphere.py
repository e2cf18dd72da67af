"""Random labels on the unit sphere: the setting of the law of robustness.

Inputs are uniform on the sphere S^{d-1} (normalised standard Gaussians) and
labels are drawn uniformly from `num_classes` classes independently of the
inputs, so nothing generalises: a model can only memorise (Bubeck & Sellke,
"A universal law of robustness via isoperimetry", 2021). ``num_classes=2``
gives the random +-1 labels of the paper as class ids 0/1.
"""
from __future__ import annotations

import numpy as np

from jaxdl.data import Dataset
from jaxdl.data import _util

__all__ = ["load", "sphere_points"]


def load(n: int = 1000, d: int = 10, num_classes: int = 2, test_size: int = 1000, seed: int = 0) -> Dataset:
    """n train and test_size test points uniform on S^{d-1}, with independent uniform labels.

    Returns x float32 (n, d) with unit norm and y int32 in [0, num_classes).
    The four arrays come from separate streams of `seed`, so the training set
    depends only on (n, d, num_classes, seed), not on test_size.
    """
    n = _util.positive_int("n", n)
    d = _util.positive_int("d", d)
    num_classes = _util.integer("num_classes", num_classes, 2, what="an integer >= 2")
    test_size = _util.nonnegative_int("test_size", test_size)
    seed = _util.seed("seed", seed)
    x_rng, y_rng, x_test_rng, y_test_rng = _util.streams(seed, 4)
    return Dataset(
            x_train=sphere_points(x_rng, n, d),
            y_train=y_rng.integers(num_classes, size=n).astype(np.int32),
            x_test=sphere_points(x_test_rng, test_size, d),
            y_test=y_test_rng.integers(num_classes, size=test_size).astype(np.int32),
            num_classes=num_classes,
            name="sphere",
    )


def sphere_points(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n points uniform on S^{d-1}, float32 (n, d): a Gaussian is rotation invariant."""
    g = rng.standard_normal((n, d))
    # Normalise in float64 so the float32 norms are 1 to rounding.
    return (g / np.linalg.norm(g, axis=1, keepdims=True)).astype(np.float32)
