"""Losses, penalties and metrics as pure functions of arrays.

Per-example losses take `(outputs, labels)` with `outputs` of shape (batch, k)
and int class ids (classification) or float targets (batch, k) (regression);
reductions happen in the caller so that masks and weights stay explicit.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

PerExampleLoss = Callable[[jax.Array, jax.Array], jax.Array]


def _targets(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """One-hot targets for class ids; regression targets pass through."""
    if jnp.issubdtype(labels.dtype, jnp.integer):
        return jax.nn.one_hot(labels, outputs.shape[-1], dtype=outputs.dtype)
    return labels


def cross_entropy(logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0) -> jax.Array:
    """-sum_j t_j log softmax(logits)_j with t = (1 - a) onehot(y) + a / k."""
    targets = optax.smooth_labels(_targets(logits, labels), label_smoothing)
    return optax.softmax_cross_entropy(logits, targets)


def mse(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean over output units of (f - t)^2; t is one-hot for class ids."""
    return jnp.mean(jnp.square(outputs - _targets(outputs, labels)), axis=-1)


def hinge(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Multiclass (Crammer–Singer) hinge: max(0, 1 + max_{j != y} f_j - f_y)."""
    return optax.losses.multiclass_hinge_loss(logits, labels)


def per_example_loss(name: str, label_smoothing: float = 0.0) -> PerExampleLoss:
    if name == "cross_entropy":
        return lambda f, y: cross_entropy(f, y, label_smoothing)
    return {"mse": mse, "hinge": hinge}[name]


def _weights(params: Any) -> list[jax.Array]:
    """Weight matrices and kernels: the leaves with ndim > 1 (not biases or norm scales)."""
    return [w for w in jax.tree.leaves(params) if w.ndim > 1]


def l1_penalty(params: Any) -> jax.Array:
    """sum |w| over weight matrices and kernels."""
    return sum((jnp.sum(jnp.abs(w)) for w in _weights(params)), jnp.zeros(()))


def l2_penalty(params: Any) -> jax.Array:
    """0.5 * sum w^2 over weight matrices and kernels (gradient: w)."""
    return sum((0.5 * jnp.sum(jnp.square(w)) for w in _weights(params)), jnp.zeros(()))


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example correctness (1.0 or 0.0) of the argmax prediction."""
    return (jnp.argmax(logits, -1) == labels).astype(jnp.float32)


def confusion_matrix(logits: jax.Array, labels: jax.Array, num_classes: int,
                     mask: jax.Array | None = None) -> jax.Array:
    """counts[true, predicted], with masked-out examples not counted."""
    mask = jnp.ones(labels.shape, jnp.float32) if mask is None else mask
    true = jax.nn.one_hot(labels, num_classes) * mask[:, None]
    predicted = jax.nn.one_hot(jnp.argmax(logits, -1), num_classes)
    return true.T @ predicted


def precision_recall_f1(confusion: Any) -> dict[str, jax.Array]:
    """Per-class precision, recall and F1 from a confusion matrix (0 where undefined)."""
    confusion = jnp.asarray(confusion, jnp.float32)
    hits = jnp.diag(confusion)
    predicted, actual = confusion.sum(0), confusion.sum(1)
    precision = jnp.where(predicted > 0, hits / jnp.maximum(predicted, 1), 0.0)
    recall = jnp.where(actual > 0, hits / jnp.maximum(actual, 1), 0.0)
    denom = precision + recall
    f1 = jnp.where(denom > 0, 2 * precision * recall / jnp.where(denom > 0, denom, 1), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1}
