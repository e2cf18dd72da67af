"""Weighted k-nearest-neighbour classification on frozen features (InstDisc, DINO).

    knn_accuracy(train_features, train_labels, test_features, test_labels, num_classes)

For a query q, its k training features of highest cosine similarity s_j vote
for their labels with weight exp(s_j / T); the prediction is the class with the
largest total weight. Unlike a linear probe it has no training, so it measures
the feature geometry itself: whether examples of a class are each other's
nearest neighbours. Published protocol: k = 20, T = 0.07 (Wu et al. 2018;
Caron et al. 2021). Queries go in batches of `batch_size` through one compiled
program (the last batch padded), so memory is batch_size x N similarities.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["knn_scores", "knn_accuracy"]

Array = jax.Array


def _unit_rows(x: np.ndarray | Array) -> Array:
    x = jnp.asarray(np.asarray(x, np.float32).reshape(len(x), -1))
    return x / jnp.maximum(jnp.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@functools.partial(jax.jit, static_argnames=("num_classes", "k", "temperature"))
def _scores(train: Array, labels: Array, queries: Array, *, num_classes: int, k: int,
            temperature: float) -> Array:
    """(batches, B, D) unit queries -> (batches, B, C) summed exp(s / T) per class of the k nearest."""
    def one_batch(q):
        sims, idx = jax.lax.top_k(q @ train.T, k)
        weights = jnp.exp(sims / temperature)
        return jnp.einsum("bk,bkc->bc", weights, jax.nn.one_hot(labels[idx], num_classes))
    return jax.lax.map(one_batch, queries)


def knn_scores(train_features: np.ndarray, train_labels: np.ndarray, query_features: np.ndarray,
               num_classes: int, k: int = 20, temperature: float = 0.07,
               batch_size: int = 256) -> np.ndarray:
    """(Q, C) class votes: sum over the k nearest training features (cosine) of exp(s / T)."""
    n = len(train_features)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}] (the number of training features), got {k!r}")
    q = _unit_rows(query_features)
    count = q.shape[0]
    batch_size = min(batch_size, count)
    pad = -count % batch_size
    q = jnp.concatenate([q, jnp.zeros((pad, q.shape[1]), q.dtype)]).reshape(-1, batch_size, q.shape[1])
    scores = _scores(_unit_rows(train_features), jnp.asarray(train_labels, jnp.int32), q,
                     num_classes=num_classes, k=k, temperature=float(temperature))
    return np.asarray(scores).reshape(-1, num_classes)[:count]


def knn_accuracy(train_features: np.ndarray, train_labels: np.ndarray, query_features: np.ndarray,
                 query_labels: np.ndarray, num_classes: int, k: int = 20,
                 temperature: float = 0.07, batch_size: int = 256) -> float:
    """Fraction of queries whose weighted kNN vote (`knn_scores`) picks their label."""
    scores = knn_scores(train_features, train_labels, query_features, num_classes, k,
                        temperature, batch_size)
    return float(np.mean(np.argmax(scores, axis=1) == np.asarray(query_labels)))
