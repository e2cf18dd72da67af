"""Modular arithmetic tables: the setting of grokking (Power et al. 2022).

Every pair (a, b) in [0, p)² (for `div`, b ≠ 0) is one example, labelled
c = (a OP b) mod p:

    add: a + b     sub: a − b     mul: a · b     div: a · b⁻¹ (b⁻¹ the inverse mod p)

The input is the concatenation of the one-hot codes of a and b (float32, 2p wide), so
any model that reads a flat vector (the MLP) learns the table; the label is the class c
of p. A random `train_fraction` of the table, drawn by `seed`, is the training set and
the rest the test (validation) set: Power, Burda, Edwards, Babuschkin & Misra,
"Grokking: Generalization Beyond Overfitting on Small Algorithmic Datasets" (arXiv
2201.02177), §2. The split is one permutation of the table cut at the fraction, so for
one seed the training set at a smaller fraction is a subset of that at a larger one.
"""
from __future__ import annotations

import numpy as np

from jaxdl.data import Dataset
from jaxdl.data import _util

__all__ = ["OPERATIONS", "load", "table", "one_hot_pairs", "is_prime"]

OPERATIONS = ("add", "sub", "mul", "div")
FIELD_OPERATIONS = ("mul", "div")  # need p prime: every b ≠ 0 invertible, no zero divisors
MAX_P = 256  # the inputs are p² × 2p floats: 134 MB at 256 (Power et al.'s p is 97)


def load(p: int = 97, operation: str = "add", train_fraction: float = 0.5,
         seed: int = 0) -> Dataset:
    """The table of `operation` mod `p`, split at random into train and test.

    Returns x float32 (n, 2p): one-hot(a) then one-hot(b); y int32 in [0, p). The
    training set holds round(train_fraction · N) of the N pairs (N = p², or p(p − 1)
    for div), the test set the others; both at least one example.
    """
    p = _util.integer("p", p, 2, MAX_P)
    operation = _util.text("operation", operation)
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")
    if operation in FIELD_OPERATIONS and not is_prime(p):
        raise ValueError(f"p must be prime for operation {operation!r} (b needs an inverse "
                         f"mod p), got {p}")
    train_fraction = _util.number("train_fraction", train_fraction, 0, 1, low_open=True,
                                  high_open=True)
    seed = _util.seed("seed", seed)
    a, b, c = table(p, operation)
    n_train = int(round(train_fraction * len(c)))
    if not 0 < n_train < len(c):
        raise ValueError(f"train_fraction must leave at least one pair in each of train and "
                         f"test of the {len(c)} pairs, got {train_fraction!r}")
    (split_rng,) = _util.streams(seed, 1)
    order = split_rng.permutation(len(c))
    train, test = np.sort(order[:n_train]), np.sort(order[n_train:])  # in table order
    x = one_hot_pairs(a, b, p)
    return Dataset(x_train=x[train], y_train=c[train], x_test=x[test], y_test=c[test],
                   num_classes=p, name="modular")


def table(p: int, operation: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, c) int32 over every pair in row-major order, c = (a OP b) mod p; for div
    the pairs with b = 0 are left out."""
    a, b = (g.ravel().astype(np.int64) for g in np.meshgrid(np.arange(p), np.arange(p),
                                                             indexing="ij"))
    if operation == "div":
        a, b = a[b != 0], b[b != 0]
    if operation == "add":
        c = a + b
    elif operation == "sub":
        c = a - b
    elif operation == "mul":
        c = a * b
    else:  # div: b⁻¹ = b^(p−2) mod p (Fermat), p prime
        c = a * np.array([pow(int(v), p - 2, p) for v in b], dtype=np.int64)
    return a.astype(np.int32), b.astype(np.int32), np.mod(c, p).astype(np.int32)


def one_hot_pairs(a: np.ndarray, b: np.ndarray, p: int) -> np.ndarray:
    """float32 (n, 2p): one-hot(a) in the first p columns, one-hot(b) in the last p."""
    x = np.zeros((len(a), 2 * p), dtype=np.float32)
    rows = np.arange(len(a))
    x[rows, a] = 1.0
    x[rows, p + b] = 1.0
    return x


def is_prime(n: int) -> bool:
    """Whether the integer n is prime (trial division: p is at most a few thousand here)."""
    return n >= 2 and all(n % d for d in range(2, int(n ** 0.5) + 1))
