"""Pruning: masks on the weight matrices, training under a mask, and lottery-ticket rounds.

    mask = magnitude_mask(params, ones_like_weights(params), 0.9)   # keep the 10% largest |w| per layer
    save_mask("mask.npz", mask)
    jaxdl train --config.prune.mask=mask.npz                         # trains the sparse network

A mask is `{param path: 0/1 array}` over weight matrices and kernels (params with more
than one axis, as `optim.decay_mask`); paths are flax's, joined by "/" ("Dense_0/kernel").
Biases and norm scales are never pruned (Frankle & Carbin 2019 prune weights only).
Pruning is *per layer*: every weight matrix loses the same fraction, as in the MNIST-1D
lottery-ticket notebook, so a random mask at the same sparsity has the same count of
survivors in every layer as the magnitude mask it is compared with.

Training under a mask (`config.prune.mask`, off when ""): the params start multiplied by
the mask, and `masked_optimizer` zeroes the gradient of every pruned weight before the
optimizer and its update after it, so pruned weights stay exactly 0 whatever the
optimizer (clipping sees only the sparse network's gradient; Adam's moments of a pruned
weight stay 0). The mask lives in the optimizer state — data, not a compiled constant —
so checkpoints carry it, a resumed run keeps it, and every round of a pruning loop
reuses one compiled program.

Lottery-ticket rounds (`prune_and_retrain`): round r prunes the weights that survived
round r - 1 down to sparsity s_r — the smallest |w| of round r - 1's *trained* weights
(iterative magnitude pruning, IMP), or uniformly random survivors (the control at
matched per-layer sparsity) — then rewinds the surviving weights to their values at step
k of the dense run and retrains them for `steps - k` steps. k = 0 is the original
lottery ticket (reset to the initialization, Frankle & Carbin 2019); k > 0 is rewinding
(Frankle et al. 2020). The step-k weights come from the dense run's own program
(`weights_at_step`: its init, then k steps; chunking never changes a bit), so they are
the dense run's weights at step k. A round is trained in process by the training driver
(training/driver.py, NaN stop as its one hook) with the `loop.build` of the masked config
(built and compiled once for all rounds, since the mask is data), its final state
evaluated once, and leaves mask.npz, params.npz and, last and atomically, result.json
in its directory: a re-run reads finished rounds back and recomputes the rest, to the same bits (random
masks draw from `step_key(root, PRUNE, round)` of the trial's seed). Rounds are not
`jaxdl.train` runs: each would pay a run's build, compile and checkpoint overhead, which
on the shared CPU cores exceeded the training time of a 500-step round.
"""
from __future__ import annotations

import json
import os
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import traverse_util

from jaxdl import optim, rng
from jaxdl.training import checkpoint as checkpoint_lib
from jaxdl.training import driver, evaluation
from jaxdl.training import hooks as hooks_lib
from jaxdl.training import step as step_lib
from jaxdl.training import workdir as workdir_lib

METHODS = ("magnitude", "random")
Mask = dict[str, np.ndarray]  # flat: "Dense_0/kernel" -> 0/1 array of the param's shape


# ---------------------------------------------------------------- masks


def flat_params(params: Any) -> dict[str, Any]:
    """{"Dense_0/kernel": leaf, ...} of a params tree."""
    return traverse_util.flatten_dict(params, sep="/")


def weights(params: Any) -> dict[str, np.ndarray]:
    """The prunable params: weight matrices and kernels (more than one axis), as numpy."""
    return {k: np.asarray(v) for k, v in sorted(flat_params(params).items()) if v.ndim > 1}


def ones_like_weights(params: Any) -> Mask:
    """The mask that prunes nothing."""
    return {k: np.ones(v.shape, np.float32) for k, v in weights(params).items()}


def sparsity(tree: dict[str, np.ndarray]) -> float:
    """Fraction of exact zeros over all the arrays (of a mask, or of `weights(params)`)."""
    total = sum(v.size for v in tree.values())
    return sum(int(np.sum(v == 0)) for v in tree.values()) / total


def kept_count(size: int, target: float) -> int:
    """Weights a layer of `size` keeps at sparsity `target`."""
    return int(round((1.0 - target) * size))


def _keep_largest(scores: np.ndarray, alive: np.ndarray, keep: int) -> np.ndarray:
    """0/1 mask of the `keep` highest scores among the alive entries (ties: the lower
    index, a stable sort, so the mask is a deterministic function of its inputs)."""
    if keep > int(alive.sum()):
        raise ValueError(f"cannot keep {keep} of {int(alive.sum())} surviving weights: "
                         f"sparsity must not decrease from round to round")
    ranked = np.argsort(-np.where(alive > 0, scores, -np.inf).ravel(), kind="stable")
    mask = np.zeros(scores.size, np.float32)
    mask[ranked[:keep]] = 1.0
    return mask.reshape(scores.shape)


def magnitude_mask(params: Any, previous: Mask, target: float) -> Mask:
    """Per layer, the `1 - target` fraction of weights with the largest |w| among those
    `previous` kept (pruned weights are 0 in trained params, so nested either way)."""
    w = weights(params)
    return {k: _keep_largest(np.abs(w[k]), m, kept_count(m.size, target))
            for k, m in previous.items()}


def random_mask(key: jax.Array, previous: Mask, target: float) -> Mask:
    """Per layer, uniformly random survivors of `previous`, as many as `magnitude_mask`
    keeps at `target` (matched per-layer sparsity); layer i draws from fold_in(key, i)."""
    return {k: _keep_largest(np.asarray(jax.random.uniform(jax.random.fold_in(key, i), m.shape)),
                             m, kept_count(m.size, target))
            for i, (k, m) in enumerate(sorted(previous.items()))}


def save_mask(path: str, mask: Mask) -> str:
    """Write `mask` as an .npz of float32 0/1 arrays (atomically)."""
    return workdir_lib.write_npz_atomic(path, {k: np.asarray(v, np.float32)
                                               for k, v in mask.items()})


def load_mask(path: str, param_shapes: Any) -> Any:
    """The mask tree of `path` for params shaped like `param_shapes` (ones where the file
    has no entry); ValueError, one line naming the file and entry, when it does not fit."""
    try:
        with np.load(path) as saved:
            arrays = {k: saved[k] for k in saved.files}
    except Exception as e:  # not a zip, not numpy, truncated: all mean "not a mask file"
        raise ValueError(f"{path}: not an .npz file of masks ({type(e).__name__})") from None
    flat = flat_params(param_shapes)
    for k, a in sorted(arrays.items()):
        if k not in flat:
            raise ValueError(f"{path}: {k!r} is not a param of the model "
                             f"(params: {', '.join(sorted(flat))})")
        if tuple(a.shape) != tuple(flat[k].shape):
            raise ValueError(f"{path}: {k} has shape {tuple(a.shape)}, the param "
                             f"{tuple(flat[k].shape)}")
        if not np.isin(a, (0, 1)).all():
            raise ValueError(f"{path}: {k} holds values other than 0 and 1")
    mask = {k: jnp.asarray(arrays[k] if k in arrays else np.ones(v.shape), v.dtype)
            for k, v in flat.items()}
    return traverse_util.unflatten_dict(mask, sep="/")


def apply_mask(params: Any, mask: Any) -> Any:
    return jax.tree.map(lambda p, m: p * m, params, mask)


# ---------------------------------------------------------------- training under a mask


class MaskedState(NamedTuple):
    mask: Any  # the mask tree, like params
    inner: Any  # the wrapped optimizer's state


def masked_optimizer(optimizer: optax.GradientTransformation, mask: Any
                     ) -> optax.GradientTransformation:
    """`optimizer` on the sparse network: gradients of pruned weights zeroed before it,
    their updates after it (so no optimizer moves a pruned weight off 0)."""
    def init(params):
        return MaskedState(mask=jax.tree.map(jnp.asarray, mask), inner=optimizer.init(params))

    def update(grads, state, params=None):
        grads = apply_mask(grads, state.mask)
        updates, inner = optimizer.update(grads, state.inner, params)
        return apply_mask(updates, state.mask), MaskedState(mask=state.mask, inner=inner)

    return optax.GradientTransformation(init, update)


# ---------------------------------------------------------------- lottery-ticket rounds


def final_params(workdir: str) -> Any:
    """The params of the newest checkpoint of the run in `workdir`."""
    latest = checkpoint_lib.read_latest(workdir)
    if latest is None:
        raise FileNotFoundError(f"{workdir}: no checkpoint to read the final params from")
    return latest[0]["params"]


def train_steps(run: Any, state: Any, steps: int) -> Any:
    """`state` after `steps` steps of `run`'s compiled chunks, through the training
    driver (its chunking never changes a bit); stops on NaN/Inf like `jaxdl.train`."""
    data = run.device_data()
    return driver.run(state, lambda s, n: run.train_chunk(s, data, n),
                      [hooks_lib.StopOnNaN(step_lib.params_finite)],
                      end=int(state.step) + steps, chunk_size=run.config.chunk_size)


def weights_at_step(run: Any, step: int) -> Any:
    """The params of `run` (a dense run's `loop.build`) at `step`: its init for 0, else
    `step` steps of its own program — the dense run's weights at that step, bit for bit."""
    state = run.init(rng.root_key(run.config.seed))
    return jax.device_get((train_steps(run, state, step) if step else state).params)


def retrain_config(config: ml_collections.ConfigDict, steps: int, mask_path: str
                   ) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict(config.to_dict())
    c.steps, c.prune.mask = steps, mask_path
    return c


def _save_params(path: str, params: Any) -> None:
    flat = flat_params(jax.device_get(params))
    workdir_lib.write_npz_atomic(path, {k: np.asarray(v) for k, v in flat.items()})


def _load_params(path: str) -> Any:
    with np.load(path) as saved:
        return traverse_util.unflatten_dict({k: saved[k] for k in saved.files}, sep="/")


def prune_and_retrain(config: ml_collections.ConfigDict, directory: str, dense_params: Any,
                      rewind_params: Any, sparsities: Sequence[float], method: str,
                      rewind_step: int = 0) -> list[dict[str, float]]:
    """Lottery-ticket rounds from the trained dense network `dense_params` of `config`:
    round r (1-based) prunes to `sparsities[r - 1]` by `method`, sets the survivors to
    `rewind_params` (the dense run's weights at `rewind_step`, `weights_at_step`) and
    retrains them for `config.steps - rewind_step` steps from step 0 of the data order.
    Returns per round the target and measured sparsity (zeros among the trained weights)
    and the final metrics.

    Files, in `directory/round_<r>/`: mask.npz (the `config.prune.mask` of the round),
    params.npz (its trained params), result.json — written last, atomically: a round
    with a result is done and is read back on a re-run; the others are recomputed, the
    same bits (every input is a pure function of the seed). The rounds share one
    program: the mask is in the optimizer state, not compiled in."""
    if method not in METHODS:
        raise ValueError(f"method {method!r}: must be one of {', '.join(METHODS)}")
    if not 0 <= rewind_step < config.steps:
        raise ValueError(f"rewind_step {rewind_step}: must be in [0, steps={config.steps})")
    from jaxdl.training import loop  # loop.build imports this module (masked training)
    params, mask, rounds, run = dense_params, ones_like_weights(dense_params), [], None
    steps = config.steps - rewind_step
    for r, target in enumerate(sparsities, start=1):
        mask = (magnitude_mask(params, mask, target) if method == "magnitude" else
                random_mask(rng.step_key(rng.root_key(config.seed), rng.PRUNE, r), mask, target))
        round_dir = os.path.join(directory, f"round_{r:02d}")
        paths = {name: os.path.join(round_dir, name)
                 for name in ("mask.npz", "params.npz", "result.json")}
        if os.path.exists(paths["result.json"]):  # done before: read back
            with open(paths["result.json"]) as f:
                rounds.append(json.load(f))
            params = _load_params(paths["params.npz"])
            continue
        save_mask(paths["mask.npz"], mask)
        if run is None:  # validates the mask file and compiles once for every round
            run = loop.build(retrain_config(config, steps, paths["mask.npz"]))
        tree = load_mask(paths["mask.npz"], dense_params)
        state = run.init(rng.root_key(config.seed))
        start = apply_mask(jax.tree.map(jnp.asarray, rewind_params), tree)
        opt = masked_optimizer(optim.make_optimizer(run.config.optimizer, steps), tree)
        state = run.shard(state.replace(params=start, opt_state=opt.init(start)))
        state = train_steps(run, state, steps)
        final = {split: scalars for split, (scalars, _) in  # the final state, evaluated once
                 evaluation.evaluate(run, state, evaluation.eval_sets(run)).items()}
        params = jax.device_get(state.params)
        result = {"round": r, "target_sparsity": float(target),
                  "sparsity": sparsity(weights(params)),
                  "test_accuracy": final["test"]["accuracy"], "test_loss": final["test"]["loss"],
                  "train_accuracy": final["train"]["accuracy"]}
        _save_params(paths["params.npz"], params)
        workdir_lib.write_json_atomic(paths["result.json"], result)
        rounds.append(result)
    return rounds
