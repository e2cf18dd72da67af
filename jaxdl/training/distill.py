"""Knowledge distillation's data: a teacher run's outputs as a student's training targets
(`config.objective.name=distill`; the loss is `jaxdl.objectives.distill`).

Hinton, Vinyals & Dean ("Distilling the Knowledge in a Neural Network", 2015): the
student matches the teacher's class probabilities softened by a temperature T,

    loss(x) = T² · KL(softmax(t(x) / T) || softmax(s(x) / T))

(their soft-target cross-entropy minus the teacher's entropy: the same gradients, 0 at
a perfect match; the T² keeps the gradients' size independent of T).

    jaxdl train --workdir runs/teacher                                     # any supervised run
    jaxdl train --config.model.name=mlp --config.objective.name=distill \
                --config.objective.teacher=runs/teacher \
                --config.objective.inputs=generated --workdir runs/student

The teacher is a finished jaxdl run directory, read through orbax
(`training/checkpoint.py`: tensorstore arrays and JSON, nothing unpickled); its model
is rebuilt from the config saved with its newest checkpoint. Before any training the
run's training set is replaced by (inputs, teacher logits), so the step, the batch
order, checkpoints and resume are the ordinary ones — only the targets are float
(n, k) logits instead of class ids:

- inputs "train": the run's own training inputs (labels unused);
- inputs "generated": `num_inputs` fresh inputs from the MNIST-1D generator (the
  run's config.data options, generator seed `inputs_seed`): the "ideal world" of
  experiments/deep_bootstrap.py, where no input is seen twice while
  steps × batch_size ≤ num_inputs.

Pseudo-labels (self-training, Lee 2013; Xie et al. 2020): with `hard` the targets are
the teacher's argmax class ids; with `threshold` > 0 only the inputs whose teacher
confidence (largest softmax probability of its logits, at temperature 1, as FixMatch's
0.95 threshold) is at least `threshold` are kept (`teacher_targets`); with `labelled` = k
the first k training inputs keep their own labels and the teacher labels only the rest.

The test set keeps its labels: test/loss is the cross-entropy on them, test/accuracy
the usual. On the distillation inputs, train/loss is the distillation loss and
train/accuracy the agreement with the teacher's argmax.
"""
from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxdl import config as config_lib
from jaxdl import saved as saved_lib
from jaxdl import data as data_lib
from jaxdl import models
from jaxdl.training import checkpoint as checkpoint_lib
from jaxdl.training import resume

__all__ = ["teacher_logits_fn", "distillation_inputs", "teacher_targets", "with_teacher_targets"]


def teacher_logits_fn(teacher: str, num_outputs: int, sample_x: np.ndarray):
    """(x -> logits) of the teacher run in directory `teacher`, inference mode; ConfigError
    (one line, naming config.objective.teacher) when it cannot serve this run."""
    key = "objective.teacher"
    directory = os.path.join(teacher, "checkpoints")
    if not os.path.isdir(directory):
        raise config_lib.ConfigError(f"config.{key}: no checkpoints directory in {teacher!r}")
    latest = checkpoint_lib.read_latest(teacher)
    if latest is None:
        raise config_lib.ConfigError(f"config.{key}: no complete checkpoint in {teacher!r}")
    saved, saved_config, _ = latest
    saved_config = saved_lib.upgrade(saved_config)
    if saved_config.get("objective", {}).get("name", "supervised") not in ("supervised", "distill"):
        raise config_lib.ConfigError(f"config.{key}: {teacher!r} is a self-supervised run "
                                     f"(no class outputs to distill)")
    model_cfg = saved_config["model"]
    model = models.build(model_cfg["name"], num_outputs,
                         **config_lib.options(model_cfg))
    try:
        shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), sample_x, train=False))
    except (ValueError, TypeError) as e:
        raise config_lib.ConfigError(f"config.{key}: the teacher's model does not take this "
                                     f"run's inputs {np.shape(sample_x)[1:]}: "
                                     f"{str(e).splitlines()[0]}") from None
    problems = resume.shape_mismatches(saved["params"], shapes["params"], allow_missing=False)
    if problems:
        raise config_lib.ConfigError(f"config.{key}: the teacher's params do not fit this "
                                     f"run's inputs and {num_outputs} outputs: {problems[0]}")
    variables = {"params": saved["params"], **(saved.get("model_state") or {})}
    return jax.jit(lambda x: model.apply(variables, x, train=False))


def distillation_inputs(config: ml_collections.ConfigDict, dataset: data_lib.Dataset) -> np.ndarray:
    """The inputs the student sees in training (`inputs`: train | generated)."""
    d = config.objective
    if d.inputs == "train":
        return dataset.x_train
    options = {k: v for k, v in config.data.items() if k not in ("name", "label_noise",
                                                                  "label_noise_seed")}
    options.update(num_samples=d.num_inputs, train_split=1.0, seed=d.inputs_seed)
    return data_lib.load("mnist1d", **options).x_train


def teacher_targets(logits: np.ndarray, hard: bool = False, threshold: float = 0.0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(keep, targets) of the teacher's `logits` (n, k): keep[i] when input i's confidence,
    the largest softmax probability (temperature 1), is at least `threshold` (0 keeps all:
    a probability is > 0); targets the logits (float32), or with `hard` their argmax class
    ids (int32, pseudo-labels) — of every input, kept or not."""
    logits = np.asarray(logits, np.float32)
    confidence = np.asarray(jax.nn.softmax(logits, axis=-1)).max(-1)
    targets = logits.argmax(-1).astype(np.int32) if hard else logits
    return confidence >= threshold, targets


def with_teacher_targets(config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
                         batch_size: int = 2000) -> data_lib.Dataset:
    """`dataset` with its training set replaced by (distillation inputs, teacher targets):
    the first `objective.labelled` inputs with their own labels, then those of the rest
    that `teacher_targets` keeps; ConfigError (one line) when too few are left."""
    o = config.objective
    x = distillation_inputs(config, dataset)
    k = o.get("labelled", 0)
    if k > len(x):
        raise config_lib.ConfigError(f"config.objective.labelled: must be <= the {len(x)} "
                                     f"training inputs, got {k}")
    logits = teacher_logits_fn(o.teacher, dataset.num_outputs, x[:1])
    unlabelled = x[k:]
    out = np.concatenate([np.asarray(logits(jnp.asarray(unlabelled[i:i + batch_size])))
                          for i in range(0, len(unlabelled), batch_size)] or
                         [np.zeros((0, dataset.num_outputs), np.float32)])
    keep, targets = teacher_targets(out, o.get("hard", False), o.get("threshold", 0.0))
    x_new = np.concatenate([x[:k], unlabelled[keep]])
    y_new = np.concatenate([dataset.y_train[:k].astype(np.int32), targets[keep]]) if k else \
        targets[keep]
    if len(x_new) < config.batch_size:
        raise config_lib.ConfigError(
            f"config.objective.threshold: keeps {int(keep.sum())} of the teacher's "
            f"{len(unlabelled)} inputs ({k} labelled besides), fewer than batch_size "
            f"{config.batch_size}, got {o.get('threshold', 0.0)}")
    return dataclasses.replace(dataset, x_train=x_new, y_train=y_new)
