"""Teacher-student data: Gaussian inputs labelled by a fixed random MLP.

The teacher, for input dimension d, width w, depth L and K outputs:

    h_0 = x,   h_l = tanh(W_l h_{l-1})  for l = 1..L,   f(x) = (V h_L) / s

with W_1 (w x d), W_l (w x w) for l >= 2 and V (K x fan) all i.i.d. N(0, 1/fan_in)
(fan = d when L = 0), no biases, and s the per-output std of V h_L over a fixed
calibration batch of 4096 standard Gaussian inputs. Dividing by s gives every
output unit variance, which keeps the argmax classes roughly balanced (without
it, the output with the largest readout norm wins most inputs) and makes the
regression noise a noise-to-signal ratio. Weights and calibration batch come
from the teacher's own stream of `seed`, so the teacher depends only on
(d, w, L, K, seed), not on n or test_size.

Inputs: x ~ N(0, I_d), float32. Labels: argmax_k f_k(x) as int32 class ids
when num_classes >= 2, or the K = `outputs` values f(x) as float32 targets
(n, K) when num_classes = 0.
"""
from __future__ import annotations

import numpy as np

from jaxdl.data import Dataset
from jaxdl.data import _util

__all__ = ["CALIBRATION_SIZE", "load", "make_teacher", "teacher_outputs"]

# Part of the teacher's definition: changing it changes every teacher.
CALIBRATION_SIZE = 4096

# Stream ids of `_util.streams(seed, ...)`; append, never reorder.
_TEACHER, _X_TRAIN, _X_TEST, _NOISE = range(4)


def load(
        n: int = 1000,
        d: int = 20,
        teacher_width: int = 64,
        teacher_depth: int = 2,
        num_classes: int = 10,
        outputs: int = 1,
        noise: float = 0.0,
        test_size: int = 1000,
        seed: int = 0,
) -> Dataset:
    """n train and test_size test Gaussian inputs in R^d labelled by the teacher (module doc).

    num_classes >= 2: classification, y = argmax of the teacher's num_classes
    outputs; `noise` in [0, 1] is the probability that a training label is
    redrawn uniformly from all classes (so about noise * (1 - 1/num_classes)
    of them change). num_classes = 0: regression on the teacher's `outputs`
    outputs; `noise` >= 0 is the std of Gaussian noise added to the training
    targets (outputs have unit variance). Test labels are always clean, so
    test metrics measure agreement with the teacher. `outputs` is ignored for
    classification.
    """
    n = _util.positive_int("n", n)
    d = _util.positive_int("d", d)
    teacher_width = _util.positive_int("teacher_width", teacher_width)
    teacher_depth = _util.nonnegative_int("teacher_depth", teacher_depth)
    num_classes = _num_classes(num_classes)
    outputs = _util.positive_int("outputs", outputs)
    noise = _util.number("noise", noise, 0.0, 1.0 if num_classes else np.inf)
    test_size = _util.nonnegative_int("test_size", test_size)
    seed = _util.seed("seed", seed)

    weights = make_teacher(d, teacher_width, teacher_depth, num_classes or outputs, seed)
    rngs = _util.streams(seed, 4)
    x_train = rngs[_X_TRAIN].standard_normal((n, d)).astype(np.float32)
    x_test = rngs[_X_TEST].standard_normal((test_size, d)).astype(np.float32)
    # Labels are computed from the float32 inputs actually returned, so they
    # are an exact function of x_train / x_test through `teacher_outputs`.
    y_train = _labels(teacher_outputs(weights, x_train), num_classes)
    y_test = _labels(teacher_outputs(weights, x_test), num_classes)
    y_train = _add_noise(y_train, noise, num_classes, rngs[_NOISE])
    return Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                   num_classes=num_classes, name="teacher")


def _num_classes(value: object) -> int:
    if _util.is_int(value) and value == 0:
        return 0
    return _util.integer("num_classes", value, 2, what="0 (regression) or an integer >= 2")


def make_teacher(d: int, width: int, depth: int, num_outputs: int, seed: int) -> list[np.ndarray]:
    """The teacher's weights [W_1, ..., W_L, V / s] (float64), each stored as (fan_in, fan_out)."""
    rng = _util.streams(seed, _TEACHER + 1)[_TEACHER]
    weights, fan_in = [], d
    for _ in range(depth):
        weights.append(rng.standard_normal((fan_in, width)) / np.sqrt(fan_in))
        fan_in = width
    weights.append(rng.standard_normal((fan_in, num_outputs)) / np.sqrt(fan_in))
    calibration = rng.standard_normal((CALIBRATION_SIZE, d))
    weights[-1] = weights[-1] / teacher_outputs(weights, calibration).std(axis=0)
    return weights


def teacher_outputs(weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """The teacher's outputs f(x), float64 (n, num_outputs), for inputs x (n, d)."""
    h = np.asarray(x, dtype=np.float64)
    for w in weights[:-1]:
        h = np.tanh(h @ w)
    return h @ weights[-1]


def _labels(outputs: np.ndarray, num_classes: int) -> np.ndarray:
    if num_classes:
        return outputs.argmax(axis=1).astype(np.int32)
    return outputs.astype(np.float32)


def _add_noise(y: np.ndarray, noise: float, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Training labels with noise.

    The same draws are made for every noise level, so for a given seed the
    labels corrupted at noise=0.1 are a subset of those corrupted at 0.2
    (classification: `_util.resample_labels`, shared with mnist1d's label_noise).
    """
    if num_classes:
        return _util.resample_labels(y, noise, num_classes, rng)
    return (y + noise * rng.standard_normal(y.shape)).astype(np.float32)
