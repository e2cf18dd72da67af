"""Pruning: masks on the weight matrices, training under a mask, and lottery-ticket rounds.

    mask = magnitude_mask(params, ones_like_weights(params), 0.9)   # keep the 10% largest |w| per layer
    save_mask("mask.npz", mask)
    jaxdl train --config.prune.mask=mask.npz                         # trains the sparse network

A mask is `{param path: 0/1 array}` over weight matrices and kernels (params with more
than one axis, as `optim.decay_mask`); paths are flax's, joined by "/" ("Dense_0/kernel").
Biases and norm scales are not pruned (Frankle & Carbin 2019 prune weights only) unless
asked: `prune_and_retrain(biases=True)` pools each layer's bias with its weights, as the
MNIST-1D lottery-ticket notebook does. Pruning is *per layer*: every weight matrix loses
the same fraction, as in the notebook, so a random mask at the same sparsity has the same
count of survivors in every layer as the magnitude mask it is compared with.

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
matched per-layer sparsity; with `fresh`, a new random mask over all the weights each
round, the notebook's control) — then rewinds the surviving weights to their values at step
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
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import traverse_util

from jaxdl import optim, rng
from jaxdl.training import checkpoint as checkpoint_lib
from jaxdl.training import driver, evaluation
from jaxdl.training import hooks as hooks_lib
from jaxdl.training import loop
from jaxdl.training import step as step_lib
from jaxdl.training import workdir as workdir_lib
# The masks and masked training live in jaxdl/training/masks.py (loop.build uses them);
# their names stay importable from here.
from jaxdl.training.masks import (Mask, MaskedState, apply_mask, flat_params,  # noqa: F401
                                  keep_largest, kept_count, load_mask, magnitude_mask,
                                  masked_optimizer, ones_like_weights, random_mask, save_mask,
                                  sparsity, weights)

__all__ = ["METHODS", "ones_like_prunable", "layer_groups", "pooled_mask", "next_mask",
           "pruned_fraction", "final_params", "train_steps", "weights_at_step",
           "retrain_config", "prune_and_retrain"]

METHODS = ("magnitude", "random")


# ---------------------------------------------------------------- the notebook's masks
# The MNIST-1D lottery-ticket notebook prunes a layer's weights and bias as one vector
# (`SparseLinear.param2vec`), and its random control draws a fresh mask every round. These
# are options of `prune_and_retrain` (experiments/lottery_tickets.py measures what they
# change); without them the masks are `magnitude_mask`/`random_mask`'s, bit for bit.


def ones_like_prunable(params: Any, biases: bool = False) -> Mask:
    """The mask that prunes nothing: over the weight matrices, and with `biases` also over
    the bias of every layer that has one (the notebook's SparseLinear masks both)."""
    mask = ones_like_weights(params)
    if biases:
        flat = flat_params(params)
        for path in list(mask):
            bias = path.rsplit("/", 1)[0] + "/bias"
            if bias in flat:
                mask[bias] = np.ones(np.shape(flat[bias]), np.float32)
    return dict(sorted(mask.items()))


def layer_groups(mask: Mask) -> dict[str, list[str]]:
    """{layer: its param paths in `mask`, sorted}: "Dense_0": ["Dense_0/bias", "Dense_0/kernel"]."""
    groups: dict[str, list[str]] = {}
    for path in sorted(mask):
        groups.setdefault(path.rsplit("/", 1)[0], []).append(path)
    return groups


def _split(pool: np.ndarray, previous: Mask, paths: list[str]) -> dict[str, np.ndarray]:
    """A layer's pooled vector back into its params' shapes."""
    parts = np.split(pool, np.cumsum([previous[p].size for p in paths])[:-1])
    return {p: part.reshape(previous[p].shape) for p, part in zip(paths, parts)}


def pooled_mask(scores: dict[str, np.ndarray], previous: Mask, target: float) -> Mask:
    """Per layer, its entries of `previous` (kernel and bias) pooled into one vector, as
    the notebook's `get_mask`: the `1 - target` fraction of the pool with the highest
    `scores` among those `previous` kept (ties: the lower index)."""
    out = {}
    for paths in layer_groups(previous).values():
        alive = np.concatenate([previous[p].ravel() for p in paths])
        pool = np.concatenate([np.asarray(scores[p], np.float64).ravel() for p in paths])
        out.update(_split(keep_largest(pool, alive, kept_count(alive.size, target)),
                          previous, paths))
    return out


def _pooled_uniform(key: jax.Array, previous: Mask) -> dict[str, np.ndarray]:
    """Uniform scores, layer i's pool drawn at once from fold_in(key, i)."""
    scores = {}
    for i, paths in enumerate(layer_groups(previous).values()):
        size = sum(previous[p].size for p in paths)
        scores.update(_split(np.asarray(jax.random.uniform(jax.random.fold_in(key, i), (size,))),
                             previous, paths))
    return scores


def next_mask(method: str, params: Any, previous: Mask, target: float, key: jax.Array,
              pooled: bool = False) -> Mask:
    """The next round's mask: `magnitude_mask` or `random_mask` (`key`) of `previous`, or
    with `pooled` the same per layer over its kernel and bias as one vector."""
    if not pooled:
        return (magnitude_mask(params, previous, target) if method == "magnitude" else
                random_mask(key, previous, target))
    flat = flat_params(params)
    scores = ({p: np.abs(np.asarray(flat[p])) for p in previous} if method == "magnitude"
              else _pooled_uniform(key, previous))
    return pooled_mask(scores, previous, target)


def pruned_fraction(params: Any, mask: Mask) -> float:
    """Fraction of the mask's entries that are pruned and exactly 0 in `params`: the
    mask's sparsity when training kept every pruned entry at 0, less when it did not."""
    flat = flat_params(params)
    zeros = sum(int(np.sum((m == 0) & (np.asarray(flat[p]) == 0))) for p, m in mask.items())
    return zeros / sum(m.size for m in mask.values())


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
                      rewind_step: int = 0, *, biases: bool = False, fresh: bool = False
                      ) -> list[dict[str, float]]:
    """Lottery-ticket rounds from the trained dense network `dense_params` of `config`:
    round r (1-based) prunes to `sparsities[r - 1]` by `method`, sets the survivors to
    `rewind_params` (the dense run's weights at `rewind_step`, `weights_at_step`) and
    retrains them for `config.steps - rewind_step` steps from step 0 of the data order.
    Returns per round the target and measured sparsity (`pruned_fraction`: the pruned
    entries still exactly 0 after training) and the final metrics.

    The notebook's variants (experiments/lottery_tickets.py): `biases` prunes each layer's
    bias with its weights, one pool per layer (`next_mask(pooled=True)`); `fresh` (random
    only) draws every round's mask anew from all of each layer's entries instead of from
    the previous round's survivors.

    Files, in `directory/round_<r>/`: mask.npz (the `config.prune.mask` of the round),
    params.npz (its trained params), result.json — written last, atomically: a round
    with a result is done and is read back on a re-run; the others are recomputed, the
    same bits (every input is a pure function of the seed). The rounds share one
    program: the mask is in the optimizer state, not compiled in."""
    if method not in METHODS:
        raise ValueError(f"method {method!r}: must be one of {', '.join(METHODS)}")
    if not 0 <= rewind_step < config.steps:
        raise ValueError(f"rewind_step {rewind_step}: must be in [0, steps={config.steps})")
    if fresh and method != "random":
        raise ValueError(f"fresh=True: only random masks can be drawn anew each round, "
                         f"not {method!r} ones (pruned weights are 0, the smallest |w|)")
    ones = ones_like_prunable(dense_params, biases)
    params, mask, rounds, run = dense_params, ones, [], None
    steps = config.steps - rewind_step
    for r, target in enumerate(sparsities, start=1):
        key = rng.step_key(rng.root_key(config.seed), rng.PRUNE, r)
        mask = next_mask(method, params, ones if fresh else mask, target, key, pooled=biases)
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
                  "sparsity": pruned_fraction(params, mask),
                  "test_accuracy": final["test"]["accuracy"], "test_loss": final["test"]["loss"],
                  "train_accuracy": final["train"]["accuracy"]}
        _save_params(paths["params.npz"], params)
        workdir_lib.write_json_atomic(paths["result.json"], result)
        rounds.append(result)
    return rounds
