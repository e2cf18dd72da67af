"""Bias–variance decompositions of a test loss over an ensemble of trained models.

    terms = cross_entropy_terms(log_probs, labels)   # log_probs: [members, n, classes]
    terms.mean()       # {'loss': ..., 'bias': ..., 'variance': ..., 'noise': ...}

The members are models trained the same way with different randomness (seeds:
init and data order; or different draws of the training data); their
predictions on the same test examples are stacked on axis 0. Each function
returns per-example terms whose sum is the members' mean loss on that example,
exactly (up to float rounding):

    loss = bias + variance + noise

MSE (Yang et al. 2020, "Rethinking bias-variance trade-off for generalization
of neural networks", section 2, for the squared error of probability vectors q_m):
with f = mean_m q_m and p the label's distribution (a one-hot label: p = e_y),

    E_{y~p} mean_m ||q_m - e_y||^2 = ||f - p||^2 + mean_m ||q_m - f||^2 + (1 - ||p||^2)
                         k * loss  =    bias²    +        variance      +     noise

each term divided by the k classes, like `jaxdl.losses.mse` (Yang et al. sum
over classes: multiply by k to compare). The noise term is the expected loss of a
label drawn from p against p itself; it is 0 for one-hot labels, where the
label's own randomness cannot be separated from the bias.

Cross-entropy (the Bregman decomposition for the KL divergence; Pfau 2013,
"A generalized bias-variance decomposition for Bregman divergences", which Yang
et al. use for cross-entropy): with the normalized geometric mean
g ∝ exp(mean_m log q_m), whose normalizer Z = sum_j exp(mean_m log q_mj) <= 1,

    mean_m CE(p, q_m) = KL(p || g) + mean_m KL(g || q_m) + H(p)
                      =    bias    +      variance       + noise,   variance = -log Z

(the arithmetic mean f would not give an exact split: the "central" prediction
of the log loss is the geometric mean).

0-1 error, which has no additive split: the ensemble's mode c (the class most
members predict; ties to the lower class id) gives bias = [c != y], and
variance = the fraction of members whose prediction differs from c
(disagreement with the mode, Kong & Dietterich 1995, Domingos 2000).

The terms are those of the M members as given (plug-in): with few members the
variance is underestimated — for MSE by the factor (M - 1) / M in expectation —
and the bias overestimated by the same amount; where the peak is does not change.

Why: double descent is a variance story. At the interpolation threshold the
trained function depends wildly on the seed, so the variance term peaks there —
unlike the classical U-curve, where variance only grows with capacity (Yang et
al. 2020 find the variance unimodal in width and the bias mostly decreasing;
Nakkiran et al. 2019).
"""
from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Terms", "label_distribution", "mse_terms", "log_softmax", "geometric_mean",
           "cross_entropy_terms", "ensemble_mode", "zero_one_terms"]


@dataclasses.dataclass(frozen=True)
class Terms:
    """Per-example terms (each of shape (n,)): loss = bias + variance + noise."""
    loss: np.ndarray
    bias: np.ndarray
    variance: np.ndarray
    noise: np.ndarray

    def mean(self) -> dict[str, float]:
        """Each term averaged over the examples."""
        return {f.name: float(np.mean(getattr(self, f.name))) for f in dataclasses.fields(self)}


def _check(predictions: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(predictions, np.float64)
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape [members, n, classes], got {x.shape}")
    return x


def label_distribution(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Labels as distributions p (n, k): int class ids one-hot, (n, k) rows as given."""
    labels = np.asarray(labels)
    if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"labels must be class ids in [0, {num_classes}), "
                             f"got values in [{labels.min()}, {labels.max()}]")
        return np.eye(num_classes)[labels]
    p = np.asarray(labels, np.float64)
    if p.ndim != 2 or p.shape[1] != num_classes:
        raise ValueError(f"labels must be class ids (n,) or distributions (n, {num_classes}), "
                         f"got shape {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(1), 1.0):
        raise ValueError("labels given as distributions must be non-negative rows summing to 1")
    return p


def _labels_for(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    p = label_distribution(labels, x.shape[2])
    if len(p) != x.shape[1]:
        raise ValueError(f"labels: {len(p)} examples, predictions: {x.shape[1]}")
    return p


def mse_terms(probs: np.ndarray, labels: np.ndarray) -> Terms:
    """Squared-error decomposition of probability vectors `probs` [members, n, k] against
    `labels` (class ids (n,) or distributions (n, k)); per class, like `jaxdl.losses.mse`."""
    q = _check(probs, "probs")
    p = _labels_for(q, labels)
    k = q.shape[2]
    f = q.mean(axis=0)
    # The loss against the label's distribution: E_y ||q - y||^2 = ||q - p||^2 + 1 - ||p||^2.
    noise = (1.0 - np.sum(p * p, axis=1)) / k
    loss = np.mean(np.sum((q - p) ** 2, axis=2), axis=0) / k + noise
    bias = np.sum((f - p) ** 2, axis=1) / k
    variance = np.mean(np.sum((q - f) ** 2, axis=2), axis=0) / k
    return Terms(loss=loss, bias=bias, variance=variance, noise=noise)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log q = z - logsumexp(z) over the last axis, in float64."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def geometric_mean(log_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log g (n, k), log Z (n,)): the members' normalized geometric mean and the log of
    its normalizer Z = sum_j exp(mean_m log q_mj) (<= 1 by the AM-GM inequality)."""
    mean_log = _check(log_probs, "log_probs").mean(axis=0)
    top = mean_log.max(axis=1, keepdims=True)
    log_z = (top + np.log(np.sum(np.exp(mean_log - top), axis=1, keepdims=True)))[:, 0]
    return mean_log - log_z[:, None], log_z


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x * y with 0 where x == 0 (0 log 0 = 0, even against log 0 = -inf)."""
    return np.where(x > 0, x * np.where(x > 0, y, 0.0), 0.0)


def cross_entropy_terms(log_probs: np.ndarray, labels: np.ndarray) -> Terms:
    """KL decomposition of the cross-entropy of members' `log_probs` [members, n, k]
    (log-softmax outputs; `log_softmax(logits)` if you hold logits) against `labels`
    (class ids (n,) or distributions (n, k)): bias = KL(p || g), variance = -log Z =
    mean_m KL(g || q_m), noise = H(p), with g the normalized geometric mean."""
    log_q = _check(log_probs, "log_probs")
    p = _labels_for(log_q, labels)
    log_g, log_z = geometric_mean(log_q)
    loss = -np.mean(np.sum(_xlogy(p[None], log_q), axis=2), axis=0)
    noise = -np.sum(_xlogy(p, np.log(np.where(p > 0, p, 1.0))), axis=1)
    bias = np.sum(_xlogy(p, np.log(np.where(p > 0, p, 1.0)) - log_g), axis=1)
    return Terms(loss=loss, bias=bias, variance=-log_z, noise=noise)


def ensemble_mode(predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Per example, the class most members predict (ties: the lowest class id);
    `predictions` are class ids [members, n]."""
    votes = np.zeros((predictions.shape[1], num_classes), np.int64)
    for member in np.asarray(predictions):
        votes[np.arange(len(member)), member] += 1
    return votes.argmax(axis=1)


def zero_one_terms(log_probs: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example 0-1 error of the members ('error', their mean), the mode's error
    ('bias') and the members' disagreement with the mode ('variance'), for class-id
    `labels` (n,) and members' scores [members, n, k] (any monotone score: log-probs,
    probabilities or logits). Not additive: error != bias + variance in general."""
    scores = _check(log_probs, "log_probs")
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be class ids (n,) for the 0-1 error, got shape "
                         f"{labels.shape} of {labels.dtype}")
    _labels_for(scores, labels)  # validates the ids' range and the length
    predicted = scores.argmax(axis=2)  # [members, n]
    mode = ensemble_mode(predicted, scores.shape[2])
    return {"error": np.mean(predicted != labels[None], axis=0),
            "bias": (mode != labels).astype(np.float64),
            "variance": np.mean(predicted != mode[None], axis=0)}
