"""Linear probes on frozen features, at any layer of a model.

    feats = features_by_layer(model, params, model_state, x_train)   # {"Conv_0": ..., "output": ...}
    probe = fit_linear_probe(key, feats["Conv_2"], y_train, test_feats["Conv_2"], y_test, 10)
    probe.test_accuracy

A linear probe measures how linearly decodable the labels are from a
representation: softmax regression on the frozen features, trained with Adam
on cross-entropy + l2 * ||W||^2 / 2, early-stopped on a validation split
carved from the training features. Probing every layer locates where the
information lives; in self-supervised models the backbone usually beats the
projector's output ("guillotine regularization", Bordes et al. 2023), because
the projector specialises to the pretext task.

Everything random comes from the caller's key (a study's MEASURE key): the
validation split from fold_in(key, 0), the minibatch order from fold_in(key, 1).
The weights start at zero (the problem is convex), so the same key and features
give the same probe.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import losses
from jaxdl.data import _util, pipeline

__all__ = ["LinearProbe", "features_by_layer", "flat", "validation_split", "logits",
           "as_dense", "fit_linear_probe", "probe_every_layer"]

Array = jax.Array


class LinearProbe(NamedTuple):
    """A fitted probe: logits = ((x - mean) / scale) @ kernel + bias, with its accuracies."""
    params: dict[str, Array]
    mean: Array
    scale: Array
    test_accuracy: float
    val_accuracy: float
    train_accuracy: float
    best_step: int
    steps: int


# --- features at every layer -----------------------------------------------------------

def _layer_name(path: tuple) -> str:
    """'Block_0/Dense_1' for a module output; 'output' for the model's; sown values keep
    their name; the index of a repeated call or tuple entry is appended when not 0."""
    parts = []
    for key in path:
        if isinstance(key, jax.tree_util.DictKey) and key.key != "__call__":
            parts.append(str(key.key))
        elif isinstance(key, jax.tree_util.SequenceKey) and key.idx:
            parts.append(str(key.idx))
    return "/".join(parts) or "output"


@functools.partial(jax.jit, static_argnums=0)
def _capture(model: nn.Module, variables: Any, x: Array) -> dict[str, Array]:
    _, state = model.apply(variables, x, train=False, capture_intermediates=True,
                           mutable=["intermediates"])
    leaves = jax.tree_util.tree_leaves_with_path(state["intermediates"])
    return {_layer_name(path): leaf for path, leaf in leaves}


def features_by_layer(model: nn.Module, params: Any, model_state: Any, x: np.ndarray,
                      batch_size: int = 1024) -> dict[str, np.ndarray]:
    """Every module's output (and every value a module `sow`s into 'intermediates') on x,
    in evaluation mode, by name: {"Conv_0": (N, ...), ..., "output": logits}.

    Names are flax module paths. A Dense or Conv output is the pre-activation
    (activations are functions, not modules); a module applied after the
    activation shows the post-activation: in jaxdl's MLP `Dropout_i` (present
    even at rate 0) is hidden layer i after its nonlinearity. A linear probe of
    layer l+1's pre-activation sees only a linear map of layer l's
    post-activation, so prefer post-activations (or values a model sows).
    Batches of `batch_size` (the last padded, then trimmed) bound the memory and
    share one compiled program.
    """
    variables = {"params": params, **model_state}
    n = x.shape[0]
    chunks = []
    for start in range(0, n, batch_size):
        xb = np.asarray(x[start:start + batch_size])
        pad = min(batch_size, n) - xb.shape[0]
        xb = np.concatenate([xb, np.repeat(xb[-1:], pad, axis=0)]) if pad else xb
        chunks.append(jax.device_get(_capture(model, variables, jnp.asarray(xb))))
    return {name: np.concatenate([c[name] for c in chunks])[:n] for name in chunks[0]}


# --- the probe ---------------------------------------------------------------------------

def flat(features: np.ndarray | Array) -> np.ndarray:
    """(N, ...) features as float32 (N, D)."""
    features = np.asarray(features, np.float32)
    return features.reshape(features.shape[0], -1)


def validation_split(key: Array, n: int, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) indices: a permutation of range(n) by key, the first
    max(1, round(val_fraction n)) held out."""
    if not 0.0 < val_fraction < 1.0 or n < 2:
        raise ValueError(f"val_fraction must be in (0, 1) with at least 2 examples, "
                         f"got {val_fraction!r} and n={n}")
    order = np.asarray(jax.random.permutation(key, n))
    n_val = min(n - 1, max(1, round(val_fraction * n)))
    return order[n_val:], order[:n_val]


def logits(probe: LinearProbe, features: np.ndarray | Array) -> Array:
    return _logits(probe.params, (jnp.asarray(flat(features)) - probe.mean) / probe.scale)


def as_dense(probe: LinearProbe) -> dict[str, Array]:
    """The probe as the params of one linear layer on the raw (unstandardized) flat
    features: {"kernel": (D, C), "bias": (C,)} with x @ kernel + bias == logits(probe, x).
    The standardization is affine, so it folds into the layer: a network's head can be
    replaced by a probe fitted on its features (linear probing, then fine-tuning)."""
    kernel = probe.params["kernel"] / probe.scale[:, None]
    return {"kernel": kernel, "bias": probe.params["bias"] - probe.mean @ kernel}


def _logits(params: dict[str, Array], x: Array) -> Array:
    return x @ params["kernel"] + params["bias"]


def _objective(params: dict[str, Array], x: Array, y: Array, l2: float) -> Array:
    """mean cross-entropy + l2 ||kernel||^2 / 2 (the bias is not penalised)."""
    return jnp.mean(losses.cross_entropy(_logits(params, x), y)) + l2 * losses.l2_penalty(params)


@functools.partial(jax.jit, static_argnames=("batch_size",))
def _train(params, opt_state, start, num_steps, x, y, order_key, lr, l2, *, batch_size: int):
    """`num_steps` Adam steps from step `start`; batch_size 0 is full batch, else the
    step-indexed minibatches of `jaxdl.data.pipeline` (a pure function of the step).
    Only batch_size is static: probes with other numbers reuse the compiled program."""
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=lr)

    def body(i, carry):
        params, opt_state = carry
        if batch_size:
            xb, yb = pipeline.batch_at(pipeline.DeviceData(x, y), order_key, start + i, batch_size)
        else:
            xb, yb = x, y
        grads = jax.grad(_objective)(params, xb, yb, l2)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return jax.lax.fori_loop(0, num_steps, body, (params, opt_state))


@jax.jit
def _accuracy(params: dict[str, Array], x: Array, y: Array) -> Array:
    return jnp.mean(losses.accuracy(_logits(params, x), y))


@jax.jit
def _score(params: dict[str, Array], x: Array, y: Array) -> tuple[Array, Array]:
    """(accuracy, -cross-entropy): compared lexicographically, higher is better."""
    z = _logits(params, x)
    return jnp.mean(losses.accuracy(z, y)), -jnp.mean(losses.cross_entropy(z, y))


def fit_linear_probe(key: Array, train_features: np.ndarray, train_labels: np.ndarray,
                     test_features: np.ndarray, test_labels: np.ndarray, num_classes: int, *,
                     lr: float = 1e-2, l2: float = 0.0, batch_size: int = 0,
                     max_steps: int = 2000, eval_every: int = 50, patience: int = 5,
                     val_fraction: float = 0.1, standardize: bool = True) -> LinearProbe:
    """Softmax regression on frozen features, early-stopped on a held-out part of the
    training features; returns the probe at its best validation accuracy.

    Every `eval_every` steps the probe is scored on the validation split by
    accuracy, ties broken by cross-entropy (on separable features accuracy
    saturates while the margin still grows); it keeps the best params and stops
    after `patience` evaluations without improvement, or at `max_steps`. With
    `standardize`, features are centred and scaled by the fit split's mean and
    std (constant features are left unscaled), which makes one lr work across
    layers whose scales differ by orders of magnitude. batch_size 0 = full batch.
    """
    for name, value in (("max_steps", max_steps), ("eval_every", eval_every), ("patience", patience)):
        _util.positive_int(name, value)
    x, y = flat(train_features), np.asarray(train_labels, np.int32)
    if y.shape != (x.shape[0],) or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"train_labels must be {x.shape[0]} class ids in [0, {num_classes}), "
                         f"got shape {y.shape}, range [{y.min()}, {y.max()}]")
    fit, val = validation_split(jax.random.fold_in(key, 0), x.shape[0], val_fraction)
    mean = x[fit].mean(0) if standardize else np.zeros(x.shape[1], np.float32)
    std = x[fit].std(0) if standardize else np.ones(x.shape[1], np.float32)
    scale = np.where(std > 1e-6, std, 1.0).astype(np.float32)
    x = jnp.asarray((x - mean) / scale)
    x_fit, y_fit, x_val, y_val = x[fit], jnp.asarray(y[fit]), x[val], jnp.asarray(y[val])
    batch_size = 0 if batch_size >= len(fit) else batch_size

    params = {"kernel": jnp.zeros((x.shape[1], num_classes)), "bias": jnp.zeros(num_classes)}
    opt_state = optax.inject_hyperparams(optax.adam)(learning_rate=lr).init(params)
    best, best_score, best_step, waited, step = params, (-1.0, -np.inf), 0, 0, 0
    while step < max_steps and waited < patience:
        chunk = min(eval_every, max_steps - step)
        params, opt_state = _train(params, opt_state, step, chunk, x_fit, y_fit,
                                   jax.random.fold_in(key, 1), lr, l2, batch_size=batch_size)
        step += chunk
        score = tuple(float(v) for v in _score(params, x_val, y_val))
        if score > best_score:
            best, best_score, best_step, waited = params, score, step, 0
        else:
            waited += 1

    probe = LinearProbe(best, jnp.asarray(mean), jnp.asarray(scale), 0.0, best_score[0],
                        float(_accuracy(best, x_fit, y_fit)), best_step, step)
    test = float(jnp.mean(losses.accuracy(logits(probe, test_features), jnp.asarray(test_labels))))
    return probe._replace(test_accuracy=test)


def probe_every_layer(key: Array, train_features: dict[str, np.ndarray], train_labels: np.ndarray,
                      test_features: dict[str, np.ndarray], test_labels: np.ndarray,
                      num_classes: int, **options: Any) -> dict[str, LinearProbe]:
    """`fit_linear_probe` at every layer of `features_by_layer` dicts, with the same key
    (the same validation split), so layers are compared on equal terms."""
    return {name: fit_linear_probe(key, train_features[name], train_labels, test_features[name],
                                   test_labels, num_classes, **options)
            for name in train_features}
