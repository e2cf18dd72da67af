"""scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), offline."""
from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from jaxdl.data import Dataset
from jaxdl.data import _util

__all__ = ["NUM_CLASSES", "MAX_PIXEL", "load"]

NUM_CLASSES = 10
MAX_PIXEL = 16.0  # the dataset's pixels are counts in 0..16


def load(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """The digits as x float32 (n, 8, 8, 1) in [0, 1] and y int32, split at random.

    A permutation from `np.random.default_rng(seed)` puts
    round(test_fraction * 1797) images in the test set (359 by default) and
    the rest (1438) in the training set. The split is ours, not sklearn's, so
    it does not change with scikit-learn's splitting code.
    """
    test_fraction = _util.number("test_fraction", test_fraction, 0.0, 1.0, low_open=True, high_open=True)
    seed = _util.seed("seed", seed)
    bunch = load_digits()
    x = (bunch.images / MAX_PIXEL).astype(np.float32)[..., None]
    y = bunch.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(y))
    num_test = int(round(test_fraction * len(y)))
    if not 0 < num_test < len(y):
        raise ValueError(f"test_fraction must leave both splits non-empty, got {test_fraction}")
    test, train = order[:num_test], order[num_test:]
    return Dataset(x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test],
                   num_classes=NUM_CLASSES, name="digits")
