"""How sparse a network's weights are: Hoyer's measure and the fraction near zero.

L1 regularization drives weights to exactly zero (its proximal step is soft
thresholding), L2 only shrinks them (Goodfellow, Bengio & Courville 2016, Deep Learning,
sections 7.1.1-7.1.2); these two numbers show the difference on trained params.
"""
from __future__ import annotations

from typing import Any

import jax
import numpy as np

__all__ = ["weights", "hoyer", "fraction_near_zero"]


def weights(params: Any) -> np.ndarray:
    """Every entry of the weight matrices and kernels (leaves with ndim > 1, the ones the
    L1/L2 penalties act on), flattened into one vector."""
    return np.concatenate([np.ravel(np.asarray(w)) for w in jax.tree.leaves(params)
                           if np.ndim(w) > 1])


def hoyer(w: np.ndarray) -> float:
    """Hoyer's (2004) sparsity in [0, 1]: (sqrt(n) - |w|_1 / |w|_2) / (sqrt(n) - 1); 0 for
    equal magnitudes, 1 for a single nonzero."""
    w = np.ravel(np.asarray(w, np.float64))
    n = w.size
    return float((np.sqrt(n) - np.abs(w).sum() / np.sqrt(np.square(w).sum())) / (np.sqrt(n) - 1))


def fraction_near_zero(w: np.ndarray, tol: float = 1e-2) -> float:
    """Fraction of entries with |w| < tol."""
    return float(np.mean(np.abs(np.asarray(w)) < tol))
