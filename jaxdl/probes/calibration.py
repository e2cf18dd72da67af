"""Calibration and classification metrics from predicted class probabilities.

    probs = jax.nn.softmax(logits)                       # (n, k); labels: (n,) int class ids
    expected_calibration_error(probs, labels, bins=15)   # ECE: equal-width bins, top label
    diagram = reliability(probs, labels, bins=15)        # per-bin confidence, accuracy, count
    plot_reliability(diagram)                            # matplotlib Figure
    classification_metrics(probs, labels)                # precision/recall/F1 per class and macro
    average_precision(probs, labels)                     # one-vs-rest PR-AUC per class, macro
    coverage_at(probs, labels, threshold)                # fraction answered, accuracy on it
    risk_coverage(probs, labels)                         # the selective-classification curve

Top label: example i has confidence c_i = max_j p_ij, prediction argmax_j p_ij and
correctness a_i = [prediction = y_i]. A model is calibrated when, among examples of
confidence c, a fraction c is correct. With M equal-width bins B_m = ((m-1)/M, m/M]
(the first also holds 0), ECE = Σ_m |B_m|/n · |acc(B_m) - conf(B_m)| (Naeini et al.
2015, Guo et al. 2017): the gap between the reliability diagram and its diagonal,
weighted by how many examples each bin holds. Equal-width bins are the common
convention, so values compare with the literature; ECE depends on M (15 there).

Selective classification: answering only when c_i >= t trades coverage (the fraction
answered) for risk (the error rate on it); the risk-coverage curve sweeps t over
every distinct confidence (Geifman & El-Yaniv 2017), its area (AURC) summarises it.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from jaxdl import losses

__all__ = ["DEFAULT_BINS", "Reliability", "RiskCoverage", "top_label", "bin_index",
           "reliability", "expected_calibration_error", "plot_reliability",
           "classification_metrics", "average_precision", "coverage_at", "risk_coverage"]

DEFAULT_BINS = 15


class Reliability(NamedTuple):
    """Per equal-width bin m (edges[m], edges[m+1]]: mean confidence, accuracy (NaN
    for an empty bin) and the number of examples."""
    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray


class RiskCoverage(NamedTuple):
    """At each distinct confidence threshold t (descending): coverage = fraction of
    examples with c >= t, risk = error rate among them; `area` = AURC."""
    threshold: np.ndarray
    coverage: np.ndarray
    risk: np.ndarray
    area: float


def _checked(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    """(probs float64 (n, k), labels int (n,)); one-line ValueError naming what is wrong."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    if probs.ndim != 2 or labels.shape != probs.shape[:1]:
        raise ValueError(f"probs: expected shape (n, k) with labels (n,), got probs "
                         f"{probs.shape} and labels {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.size and (
            labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError(f"labels: expected int class ids in [0, {probs.shape[1]}), got "
                         f"{labels.dtype} in [{labels.min() if labels.size else ''}, "
                         f"{labels.max() if labels.size else ''}]")
    if probs.size and (probs.min() < 0 or np.max(np.abs(probs.sum(1) - 1)) > 1e-3):
        raise ValueError("probs: rows must be probabilities (>= 0, summing to 1); "
                         "pass jax.nn.softmax(logits), not logits")
    return probs, labels.astype(np.int64)


def top_label(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    """(confidence c_i = max_j p_ij, correct a_i = [argmax_j p_ij == y_i] as 0/1)."""
    probs, labels = _checked(probs, labels)
    return probs.max(1), (probs.argmax(1) == labels).astype(np.float64)


def bin_index(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Bin m of each confidence, for bins ((m-1)/M, m/M]; 0 goes to the first bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)


def reliability(probs, labels, bins: int = DEFAULT_BINS) -> Reliability:
    """The reliability diagram's data: per bin, mean confidence, accuracy and count."""
    if bins < 1:
        raise ValueError(f"bins: must be >= 1, got {bins}")
    confidence, correct = top_label(probs, labels)
    index = bin_index(confidence, bins)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, confidence, minlength=bins) / count
        accuracy = np.bincount(index, correct, minlength=bins) / count
    return Reliability(np.linspace(0.0, 1.0, bins + 1), mean_conf, accuracy, count)


def expected_calibration_error(probs, labels, bins: int = DEFAULT_BINS) -> float:
    """ECE = Σ_m |B_m|/n · |acc(B_m) - conf(B_m)| over non-empty equal-width bins."""
    diagram = reliability(probs, labels, bins)
    full = diagram.count > 0
    gaps = np.abs(diagram.accuracy[full] - diagram.confidence[full])
    return float(np.sum(diagram.count[full] * gaps) / np.sum(diagram.count))


def plot_reliability(diagram: Reliability, title: str = "") -> Figure:
    """Accuracy per bin as bars, mean confidence as red marks and the diagonal of
    perfect calibration; the title carries the ECE."""
    full = diagram.count > 0
    ece = float(np.sum(diagram.count[full] * np.abs(diagram.accuracy[full]
                                                     - diagram.confidence[full]))
                / max(np.sum(diagram.count), 1))
    fig = Figure(figsize=(4.5, 4.2), dpi=120, layout="constrained")
    ax = fig.subplots()
    left, width = diagram.edges[:-1], np.diff(diagram.edges)
    ax.bar(left[full], diagram.accuracy[full], width=width[full], align="edge",
           edgecolor="black", linewidth=0.5, alpha=0.8, label="accuracy")
    ax.scatter(left[full] + width[full] / 2, diagram.confidence[full], color="C3", s=14,
               zorder=3, label="mean confidence")
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="calibrated")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy")
    ax.set_title(f"{title + ': ' if title else ''}ECE {ece:.4f}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def classification_metrics(probs, labels) -> dict[str, np.ndarray | float]:
    """Per-class precision, recall, F1 (jaxdl.losses, 0 where undefined) and their
    unweighted (macro) means, and accuracy."""
    probs, labels = _checked(probs, labels)
    confusion = np.asarray(losses.confusion_matrix(probs, labels, probs.shape[1]))
    per_class = {k: np.asarray(v, np.float64)
                 for k, v in losses.precision_recall_f1(confusion).items()}
    macro = {f"{k}_macro": float(np.mean(v)) for k, v in per_class.items()}
    return {**per_class, **macro, "accuracy": float(np.trace(confusion) / max(len(labels), 1))}


def average_precision(probs, labels) -> dict[str, np.ndarray | float]:
    """One-vs-rest area under the precision-recall curve, as average precision:
    AP_k = Σ_n (R_n - R_{n-1}) P_n over thresholds at each distinct score of class k,
    most confident first — sklearn's `average_precision_score` (no interpolation, so no
    optimism; equal to it within 3e-16 on random cases with ties), without importing
    sklearn (seconds). NaN for a class with no examples; `macro` is the mean of the rest."""
    probs, labels = _checked(probs, labels)
    per_class = np.array([_binary_average_precision(probs[:, k], labels == k)
                          for k in range(probs.shape[1])])
    present = ~np.isnan(per_class)
    return {"per_class": per_class,
            "macro": float(np.mean(per_class[present])) if present.any() else float("nan")}


def _binary_average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """Σ_n (R_n - R_{n-1}) P_n, one n per distinct score (ties enter together)."""
    if not positive.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    scores, hits = scores[order], np.cumsum(positive[order])
    last_of_tie = np.append(scores[1:] != scores[:-1], True)
    hits, answered = hits[last_of_tie], np.flatnonzero(last_of_tie) + 1
    recall, precision = hits / hits[-1], hits / answered
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def coverage_at(probs, labels, threshold: float) -> tuple[float, float]:
    """(coverage, accuracy on the covered): the fraction of examples with confidence
    >= threshold, and their accuracy (NaN when none is covered)."""
    confidence, correct = top_label(probs, labels)
    covered = confidence >= threshold
    accuracy = float(np.mean(correct[covered])) if covered.any() else float("nan")
    return float(np.mean(covered)), accuracy


def risk_coverage(probs, labels) -> RiskCoverage:
    """Risk against coverage at every distinct confidence, most confident first; ties
    enter together (a threshold cannot separate them). area = Σ risk · Δcoverage."""
    confidence, correct = top_label(probs, labels)
    order = np.argsort(-confidence, kind="stable")
    confidence, errors = confidence[order], np.cumsum(1.0 - correct[order])
    last_of_tie = np.append(confidence[1:] != confidence[:-1], True)
    answered = np.flatnonzero(last_of_tie) + 1
    coverage = answered / len(confidence)
    risk = errors[answered - 1] / answered
    area = float(np.sum(risk * np.diff(coverage, prepend=0.0)))
    return RiskCoverage(confidence[answered - 1], coverage, risk, area)
