"""Knowledge distillation (Hinton, Vinyals & Dean 2015): the student matches a teacher run's
class probabilities softened by a temperature T,

    loss(x) = T² · KL(softmax(t(x) / T) || softmax(s(x) / T))

(the soft-target cross-entropy minus the teacher's entropy: the same gradients, 0 at a
perfect match; the T² keeps the gradients' size independent of T). Before training,
``jaxdl.training.distill`` replaces the training set by (inputs, teacher logits): the
run's own training inputs (`inputs` train) or `num_inputs` fresh MNIST-1D inputs of
generator seed `inputs_seed` (`inputs` generated). The test set keeps its labels:
test/loss is the cross-entropy on them; on the distillation inputs train/loss is the
distillation loss and train/accuracy the agreement with the teacher's argmax.

Pseudo-labelling (self-training: Lee 2013; Xie et al. 2020's Noisy Student) is the same
machinery: `hard` makes the targets the teacher's argmax class ids (the cross-entropy on
them), `threshold` keeps only the inputs the teacher labels with confidence — its largest
softmax probability, at temperature 1 — at least `threshold`, and `labelled` = k keeps the
first k training inputs' own labels, the teacher labelling only the rest (the
semi-supervised split of experiments/semi_supervised.py: a teacher trained on those k).

    jaxdl train --workdir runs/teacher
    jaxdl train --config.model.name=mlp --config.objective.name=distill \\
                --config.objective.teacher=runs/teacher --workdir runs/student
"""
from __future__ import annotations

import os

from jaxdl import losses
from jaxdl.objectives import Objective, Setup, check_penalties, require
from jaxdl.objectives import supervised

__all__ = ["distill", "check", "INPUTS"]

INPUTS = ("train", "generated")


def distill(setup: Setup, teacher: str = "", temperature: float = 4.0, inputs: str = "train",
            num_inputs: int = 100_000, inputs_seed: int = 1, hard: bool = False,
            threshold: float = 0.0, labelled: int = 0, l1: float = 0.0,
            l2: float = 0.0) -> Objective:
    """The soft-target loss at `temperature` on the teacher's logits (class ids — the test
    set's, pseudo-labels with `hard`, the `labelled` inputs' own — get the cross-entropy;
    the targets are made by jaxdl.training.distill)."""
    per_example = losses.per_example_loss("cross_entropy", 0.0, temperature)
    return supervised.make(setup, per_example, l1=l1, l2=l2)


def check(options: dict) -> None:
    require(options["inputs"] in INPUTS, "inputs", f"must be one of {', '.join(INPUTS)}",
            options["inputs"])
    require(options["temperature"] > 0, "temperature", "must be > 0", options["temperature"])
    require(options["num_inputs"] > 0 and options["num_inputs"] % 10 == 0, "num_inputs",
            "must be a positive multiple of 10", options["num_inputs"])
    require(0 <= options["inputs_seed"] <= 2**32 - 1, "inputs_seed", "must be a uint32 seed",
            options["inputs_seed"])
    require(0 <= options["threshold"] <= 1, "threshold",
            "must be in [0, 1] (the teacher's confidence; 0 keeps every input)",
            options["threshold"])
    labelled = options["labelled"]
    require(isinstance(labelled, int) and labelled >= 0, "labelled",
            "must be an integer >= 0 (0: the teacher labels every input)", labelled)
    require(labelled == 0 or (options["hard"] and options["inputs"] == "train"), "labelled",
            "must be 0 unless objective.hard is True and objective.inputs is 'train' (the "
            "labelled inputs' class ids and the pseudo-labels are one array)", labelled)
    require(os.path.isdir(os.path.join(options["teacher"], "checkpoints")), "teacher",
            "must be a jaxdl run directory with checkpoints", options["teacher"])
    check_penalties(options)
