"""Losses, penalties and metrics as pure functions of arrays.

Per-example losses take `(outputs, labels)` with `outputs` of shape (batch, k)
and int class ids (classification) or float targets (batch, k) (regression);
reductions happen in the caller so that masks and weights stay explicit.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

__all__ = ["cross_entropy", "mse", "hinge", "distillation", "per_example_loss", "l1_penalty",
           "l2_penalty", "accuracy", "hard_labels", "confusion_matrix", "precision_recall_f1",
           "unit", "nt_xent", "info_nce", "byol_loss", "ema_update", "byol_momentum", "dino_teacher_probs",
           "dino_cross_entropy", "dino_loss", "dino_center", "vicreg_terms", "vicreg_loss",
           "barlow_twins_loss", "masked_reconstruction_loss", "segment_mask", "patch_mask"]

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


def distillation(student_logits: jax.Array, teacher_logits: jax.Array,
                 temperature: float) -> jax.Array:
    """T² · KL(softmax(t / T) || softmax(s / T)): Hinton et al. (2015)'s soft-target loss
    less the teacher's entropy (same gradients in s; 0 when the student matches)."""
    p = jax.nn.softmax(teacher_logits / temperature, axis=-1)
    log_p = jax.nn.log_softmax(teacher_logits / temperature, axis=-1)
    log_q = jax.nn.log_softmax(student_logits / temperature, axis=-1)
    return temperature ** 2 * jnp.sum(p * (log_p - log_q), axis=-1)


def per_example_loss(name: str, label_smoothing: float = 0.0,
                     temperature: float | None = None) -> PerExampleLoss:
    """The loss `name`; with a distillation `temperature`, float targets of the outputs'
    shape are a teacher's logits (`distillation`), class ids still get `name`."""
    if temperature is not None:
        hard = per_example_loss(name, label_smoothing)
        return lambda f, y: (distillation(f, y, temperature)
                             if y.shape == f.shape and jnp.issubdtype(y.dtype, jnp.floating)
                             else hard(f, y))
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
    """Per-example correctness (1.0 or 0.0) of the argmax prediction; against a teacher's
    logits (labels shaped like `logits`), agreement with the teacher's argmax."""
    return (jnp.argmax(logits, -1) == hard_labels(labels)).astype(jnp.float32)


def hard_labels(labels: jax.Array) -> jax.Array:
    """Class ids as they are; a teacher's logits (n, k) as their argmax."""
    return jnp.argmax(labels, -1) if labels.ndim == 2 else labels


def confusion_matrix(logits: jax.Array, labels: jax.Array, num_classes: int,
                     mask: jax.Array | None = None) -> jax.Array:
    """counts[true, predicted], with masked-out examples not counted."""
    labels = hard_labels(labels)
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


# --- Self-supervised losses ----------------------------------------------------
#
# These couple the examples of a batch (negatives, batch statistics), so unlike
# the per-example losses above they return the batch's scalar loss. z1[i] and
# z2[i] are the embeddings (N, D) of two views of example i. The losses and mask
# makers are jitted (numbers traced, shapes static), so eager calls compile once.

def unit(z: jax.Array, eps: float = 1e-12) -> jax.Array:
    """z / ||z|| row by row (rows of norm < eps are divided by eps instead)."""
    return z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), eps)


@jax.jit
def nt_xent(z1: jax.Array, z2: jax.Array, temperature: float = 0.5) -> jax.Array:
    """SimCLR's NT-Xent (normalized temperature-scaled cross-entropy, InfoNCE).

    With the 2N embeddings u = (z1; z2) and s_ij = cos(u_i, u_j) / T, anchor i's
    positive is its other view p(i) and the other 2N - 2 embeddings are its
    negatives: l_i = -s_{i,p(i)} + log sum_{j != i} exp(s_ij); loss = mean_i l_i.
    Small T sharpens the softmax onto the hardest negatives.
    """
    n = z1.shape[0]
    u = unit(jnp.concatenate([z1, z2]))
    s = (u @ u.T) / temperature
    s = jnp.where(jnp.eye(2 * n, dtype=bool), -jnp.inf, s)
    positive = jnp.concatenate([jnp.arange(n, 2 * n), jnp.arange(n)])
    return jnp.mean(jax.nn.logsumexp(s, axis=1) - s[jnp.arange(2 * n), positive])


@jax.jit
def info_nce(z1: jax.Array, z2: jax.Array, temperature: float = 0.5) -> jax.Array:
    """InfoNCE of view 1's anchors against view 2 alone: the MNIST-1D self-supervised
    notebook's loss ("half-batch repulsion").

    With s_ij = cos(z1_i, z2_j) / T: l_i = -s_ii + log sum_j exp(s_ij) over the N view-2
    embeddings (the positive included); loss = mean_i l_i. Unlike `nt_xent` the anchors
    are view 1's only and a view's own other examples are not negatives (N - 1 negatives,
    not 2N - 2), so the loss is not symmetric in the views.
    """
    s = (unit(z1) @ unit(z2).T) / temperature
    return jnp.mean(jax.nn.logsumexp(s, axis=1) - jnp.diagonal(s))


@jax.jit
def byol_loss(p: jax.Array, z_target: jax.Array) -> jax.Array:
    """BYOL: mean_i ||p_i/|p_i| - z_i/|z_i|||^2 = mean_i (2 - 2 cos(p_i, z_i)).

    p is the online predictor's output, z_target the target network's
    projection; no gradient flows into the target (stop_gradient), which,
    with the predictor and the EMA target, is what keeps BYOL from collapsing.
    Symmetrise by adding the loss with the views swapped.
    """
    z = jax.lax.stop_gradient(z_target)
    return jnp.mean(2.0 - 2.0 * jnp.sum(unit(p) * unit(z), axis=-1))


def ema_update(target: Any, online: Any, tau: jax.Array | float) -> Any:
    """Target <- tau target + (1 - tau) online, leaf by leaf (the BYOL/DINO target network)."""
    return jax.tree.map(lambda t, o: tau * t + (1.0 - tau) * o, target, online)


def byol_momentum(step: jax.Array | int, total_steps: int, base: float = 0.996) -> jax.Array:
    """tau_k = 1 - (1 - base) (cos(pi k / K) + 1) / 2: base at step 0, rising to 1 at K."""
    k = jnp.asarray(step, jnp.float32)
    return 1.0 - (1.0 - base) * (jnp.cos(jnp.pi * k / total_steps) + 1.0) / 2.0


def dino_teacher_probs(t: jax.Array, center: jax.Array, temperature: float) -> jax.Array:
    """DINO's teacher distribution P_t = softmax((t - c) / tau_t) per row, without gradient.

    Centering (subtracting c, an EMA of the teacher's batch-mean output: `dino_center`)
    keeps one prototype from taking every example; sharpening (tau_t below the
    student's tau_s) keeps the output from going uniform. Either alone collapses;
    together they balance (Caron et al. 2021, sec. 3.1 and fig. 7)."""
    return jax.nn.softmax(jax.lax.stop_gradient(t - center) / temperature, axis=-1)


def dino_cross_entropy(p_teacher: jax.Array, s: jax.Array, temperature: float) -> jax.Array:
    """mean_i H(P_t,i, P_s,i) = mean_i -sum_k P_t,ik log softmax(s_i / tau_s)_k."""
    return jnp.mean(-jnp.sum(p_teacher * jax.nn.log_softmax(s / temperature, axis=-1), axis=-1))


@jax.jit
def dino_loss(s1: jax.Array, s2: jax.Array, t1: jax.Array, t2: jax.Array, center: jax.Array,
              student_temperature: float = 0.1, teacher_temperature: float = 0.04) -> jax.Array:
    """DINO (Caron et al. 2021, Algorithm 1): H(P_t1, P_s2) / 2 + H(P_t2, P_s1) / 2.

    s1, s2 the student's and t1, t2 the teacher's outputs (N, K) on views 1 and 2; each
    view's teacher distribution (centered, sharpened, no gradient: `dino_teacher_probs`)
    is the target of the student's distribution on the *other* view."""
    p1 = dino_teacher_probs(t1, center, teacher_temperature)
    p2 = dino_teacher_probs(t2, center, teacher_temperature)
    return (dino_cross_entropy(p1, s2, student_temperature)
            + dino_cross_entropy(p2, s1, student_temperature)) / 2.0


def dino_center(center: jax.Array, t: jax.Array, momentum: float = 0.9) -> jax.Array:
    """c <- m c + (1 - m) mean_i t_i: the EMA of the teacher's batch-mean output (t: the
    teacher's outputs on every view of the batch, stacked (2N, K))."""
    return ema_update(center, jnp.mean(jax.lax.stop_gradient(t), axis=0), momentum)


def _off_diagonal(m: jax.Array) -> jax.Array:
    """m with its diagonal set to zero."""
    return m * (1.0 - jnp.eye(m.shape[0], dtype=m.dtype))


@jax.jit
def vicreg_terms(z1: jax.Array, z2: jax.Array, gamma: float = 1.0,
                 eps: float = 1e-4) -> dict[str, jax.Array]:
    """The three VICReg terms (Bardes et al. 2022), as in the authors' code.

    invariance = mean_{i,d} (z1_id - z2_id)^2;
    variance   = sum over both views of mean_d relu(gamma - sqrt(Var_i z_id + eps)) / 2
                 (unbiased variance): a hinge holding every dimension's spread up;
    covariance = sum over both views of sum_{d != e} C_de^2 / D, C the unbiased
                 covariance: decorrelates the dimensions (no redundant features).
    """
    def variance(z):
        return jnp.mean(jax.nn.relu(gamma - jnp.sqrt(jnp.var(z, axis=0, ddof=1) + eps))) / 2.0

    def covariance(z):
        zc = z - jnp.mean(z, axis=0)
        c = zc.T @ zc / (z.shape[0] - 1)
        return jnp.sum(jnp.square(_off_diagonal(c))) / z.shape[1]

    return {"invariance": jnp.mean(jnp.square(z1 - z2)),
            "variance": variance(z1) + variance(z2),
            "covariance": covariance(z1) + covariance(z2)}


def vicreg_loss(z1: jax.Array, z2: jax.Array, sim_w: float = 25.0, var_w: float = 25.0,
                cov_w: float = 1.0, gamma: float = 1.0, eps: float = 1e-4) -> jax.Array:
    """sim_w invariance + var_w variance + cov_w covariance (`vicreg_terms`; the
    published weights 25, 25, 1)."""
    t = vicreg_terms(z1, z2, gamma, eps)
    return sim_w * t["invariance"] + var_w * t["variance"] + cov_w * t["covariance"]


@jax.jit
def barlow_twins_loss(z1: jax.Array, z2: jax.Array, lambd: float = 5e-3,
                      eps: float = 1e-5) -> jax.Array:
    """Barlow Twins (Zbontar et al. 2021): sum_d (1 - C_dd)^2 + lambd sum_{d != e} C_de^2.

    C = z1n^T z2n / N is the cross-correlation of the views after standardising
    each dimension over the batch (batch norm without affine: biased variance,
    + eps). Driving C to the identity makes the views agree (diagonal) while
    each dimension carries different information (off-diagonal).
    """
    def standardize(z):
        return (z - jnp.mean(z, axis=0)) / jnp.sqrt(jnp.var(z, axis=0) + eps)

    c = standardize(z1).T @ standardize(z2) / z1.shape[0]
    on = jnp.sum(jnp.square(1.0 - jnp.diag(c)))
    return on + lambd * jnp.sum(jnp.square(_off_diagonal(c)))


@jax.jit
def masked_reconstruction_loss(pred: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean squared error over the masked entries only (MAE): sum m (f - t)^2 / sum m.

    `mask` (1 / True = hidden from the encoder, to be reconstructed) has the
    leading axes of `pred` and is broadcast over the rest, e.g. a (B, L) mask
    for (B, L, C) signals or (B, H, W) for NHWC images. The visible entries are
    copied from the input and scoring them would reward copying. An all-visible
    mask gives 0.
    """
    m = jnp.asarray(mask, pred.dtype)
    m = jnp.broadcast_to(m.reshape(m.shape + (1,) * (pred.ndim - m.ndim)), pred.shape)
    return jnp.sum(m * jnp.square(pred - target)) / jnp.maximum(jnp.sum(m), 1.0)


@functools.partial(jax.jit, static_argnames=("length", "n_segments", "segment_len"))
def segment_mask(key: jax.Array, length: int, n_segments: int, segment_len: int) -> jax.Array:
    """(length,) bool: the union of n_segments windows of segment_len samples, starts
    uniform in [0, length - segment_len]; windows may overlap (as wav2vec 2.0's
    spans), so between segment_len and n_segments * segment_len samples are hidden.
    vmap over per-example keys for a batch of masks."""
    if not 1 <= segment_len <= length:
        raise ValueError(f"segment_len must be in [1, length={length}], got {segment_len!r}")
    starts = jax.random.randint(key, (n_segments, 1), 0, length - segment_len + 1)
    t = jnp.arange(length)
    return jnp.any((t >= starts) & (t < starts + segment_len), axis=0)


@functools.partial(jax.jit, static_argnames=("h", "w", "patch", "ratio"))
def patch_mask(key: jax.Array, h: int, w: int, patch: int, ratio: float) -> jax.Array:
    """(h, w) bool hiding exactly round(ratio * P) of the P = (h/patch)(w/patch) patches,
    chosen uniformly without replacement (MAE: ratio 0.75). `mask[::patch, ::patch]`
    is the (h/patch, w/patch) grid of patches. vmap over per-example keys for a batch."""
    if patch < 1 or h % patch or w % patch:
        raise ValueError(f"patch must divide h={h} and w={w}, got {patch!r}")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio!r}")
    rows, cols = h // patch, w // patch
    hidden = round(ratio * rows * cols)
    order = jax.random.permutation(key, rows * cols)
    grid = jnp.zeros(rows * cols, bool).at[order[:hidden]].set(True).reshape(rows, cols)
    return jnp.repeat(jnp.repeat(grid, patch, axis=0), patch, axis=1)
