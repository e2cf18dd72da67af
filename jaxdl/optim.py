"""Config -> optax: learning-rate schedules and optimizer chains.

    make_optimizer(config.optimizer, steps)   # an optax.GradientTransformation

`defaults()` is the section `config.optimizer` and `check(section, steps)` its rules (an
`OptionError` naming the key, which config reports as `config.optimizer.KEY: ...`).

Weight decay follows each method's published form: added to the gradient
(L2, coupled) for sgd, momentum, nesterov and adam — as torch's `weight_decay`
does —, decoupled for adamw and lars. By default it skips 1-D parameters
(biases, norm scales): decaying those only hurts (Goyal et al. 2017).
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxdl.registry import require

__all__ = ["OPTIMIZERS", "SCHEDULES", "defaults", "check", "decay_mask",
           "learning_rate_schedule", "learning_rates", "make_optimizer"]

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "lars")
SCHEDULES = ("constant", "cosine", "step", "linear")


def defaults() -> ml_collections.ConfigDict:
    """The section `config.optimizer` of the default run: Adam 1e-2, constant."""
    return ml_collections.ConfigDict(dict(
        name="adam",
        lr=1e-2,
        momentum=0.9,  # sgd-family and lars
        b1=0.9, b2=0.999, eps=1e-8,  # adam, adamw
        weight_decay=0.0,  # L2 added to the gradient (sgd, adam); decoupled (adamw, lars)
        decay_biases_and_norms=False,  # False: no decay on 1-D params (biases, norm scales)
        clip_norm=0.0,  # clip gradients to this global norm; 0: off
        trust_coefficient=0.001,  # lars
        schedule=ml_collections.ConfigDict(dict(
            name="constant",
            warmup_steps=0,  # linear warmup from 0, before any schedule
            end_fraction=0.0,  # cosine and linear decay to lr * end_fraction
            boundaries=(0.5, 0.75),  # step: fractions of `steps` where lr *= decay_rate
            decay_rate=0.1,
        )),
    ))


def check(o: ml_collections.ConfigDict, steps: int) -> None:
    """The rules of section `o` (config.optimizer) for a run of `steps`: OptionError
    naming the key (`lr`, `schedule.warmup_steps`, ...). Its structure and types are
    config's to check, before."""
    require(o.name in OPTIMIZERS, "name", f"must be one of {', '.join(OPTIMIZERS)}", o.name)
    require(math.isfinite(o.lr) and o.lr > 0, "lr", "must be a finite number > 0", o.lr)
    for key in ("momentum", "b1", "b2"):
        require(0 <= o[key] < 1, key, "must be in [0, 1)", o[key])
    require(o.eps >= 0, "eps", "must be >= 0", o.eps)
    require(o.weight_decay >= 0, "weight_decay", "must be >= 0", o.weight_decay)
    require(o.clip_norm >= 0, "clip_norm", "must be >= 0 (0: off)", o.clip_norm)
    require(o.trust_coefficient > 0, "trust_coefficient", "must be > 0", o.trust_coefficient)
    s = o.schedule
    require(s.name in SCHEDULES, "schedule.name", f"must be one of {', '.join(SCHEDULES)}",
            s.name)
    require(0 <= s.warmup_steps < steps, "schedule.warmup_steps",
            f"must be in [0, steps={steps})", s.warmup_steps)
    require(0 <= s.end_fraction <= 1, "schedule.end_fraction", "must be in [0, 1]",
            s.end_fraction)
    require(all(isinstance(b, (int, float)) and 0 < b < 1 for b in s.boundaries)
            and list(s.boundaries) == sorted(s.boundaries), "schedule.boundaries",
            "must be increasing fractions of steps in (0, 1)", s.boundaries)
    require(s.decay_rate > 0, "schedule.decay_rate", "must be > 0", s.decay_rate)


def decay_mask(params: Any) -> Any:
    """True for weight matrices and kernels, False for biases and norm scales."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def _fraction_steps(fraction: float, steps: int) -> int:
    return max(1, int(round(fraction * steps)))


def learning_rate_schedule(opt: ml_collections.ConfigDict, steps: int) -> optax.Schedule:
    """lr(step): optional linear warmup from 0, then constant / cosine / step / linear."""
    s = opt.schedule
    warmup, lr = s.warmup_steps, opt.lr
    rest = steps - warmup
    if s.name == "constant":
        main = optax.constant_schedule(lr)
    elif s.name == "cosine":
        main = optax.cosine_decay_schedule(lr, rest, alpha=s.end_fraction)
    elif s.name == "linear":
        main = optax.linear_schedule(lr, lr * s.end_fraction, rest)
    elif s.name == "step":
        # Boundaries are fractions of the whole run, counted after the warmup.
        bounds = {_fraction_steps(b, steps) - warmup: s.decay_rate for b in s.boundaries}
        main = optax.piecewise_constant_schedule(lr, {b: r for b, r in bounds.items() if b > 0})
    else:
        raise ValueError(f"config.optimizer.schedule.name: unknown schedule {s.name!r}")
    if warmup == 0:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def learning_rates(opt: ml_collections.ConfigDict, steps: int, counts: np.ndarray) -> np.ndarray:
    """The learning rate of the updates numbered `counts` (0: the first), on the host: the
    schedule `make_optimizer` uses, evaluated on all of them in one call (an eager call
    per step would cost ~1 ms). Equal to the traced schedule's value to float32 rounding."""
    counts = np.asarray(counts)
    lrs = learning_rate_schedule(opt, steps)(jnp.asarray(counts))
    return np.broadcast_to(np.asarray(lrs, np.float32), counts.shape)  # constant: a scalar


def make_optimizer(opt: ml_collections.ConfigDict, steps: int) -> optax.GradientTransformation:
    """The optax chain that config section `optimizer` describes, for a run of `steps`."""
    lr = learning_rate_schedule(opt, steps)
    mask = None if opt.decay_biases_and_norms else decay_mask
    chain = []
    if opt.clip_norm > 0:
        chain.append(optax.clip_by_global_norm(opt.clip_norm))
    name, wd = opt.name, opt.weight_decay
    if name in ("sgd", "momentum", "nesterov", "adam") and wd > 0:
        chain.append(optax.add_decayed_weights(wd, mask))
    if name == "sgd":
        chain.append(optax.sgd(lr))
    elif name in ("momentum", "nesterov"):
        chain.append(optax.sgd(lr, momentum=opt.momentum, nesterov=name == "nesterov"))
    elif name == "adam":
        chain.append(optax.adam(lr, b1=opt.b1, b2=opt.b2, eps=opt.eps))
    elif name == "adamw":
        chain.append(optax.adamw(lr, b1=opt.b1, b2=opt.b2, eps=opt.eps, weight_decay=wd,
                                 mask=mask))
    elif name == "lars":
        chain.append(optax.lars(lr, weight_decay=wd, weight_decay_mask=mask or True,
                                trust_coefficient=opt.trust_coefficient,
                                trust_ratio_mask=mask or True, momentum=opt.momentum))
    else:
        raise ValueError(f"config.optimizer.name: unknown optimizer {name!r}")
    return optax.chain(*chain)
