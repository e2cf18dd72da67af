"""DINO (Caron et al. 2021, "Emerging properties in self-supervised vision transformers",
Algorithm 1): self-distillation with no labels. A student matches, on one view, the
output distribution of a slowly moving teacher on the other view; no negatives, no
predictor.

    loss = H(P_t(view 1), P_s(view 2)) / 2 + H(P_t(view 2), P_s(view 1)) / 2
    P_s = softmax(s / τ_s),  P_t = softmax((t - c) / τ_t) with no gradient

s and t are the student's and teacher's `out_dim` prototype scores (`jaxdl.models.ssl`:
the projector, its output on the unit sphere, a weight-normalised bias-free layer). The
teacher is the student's EMA, exactly BYOL's target (`jaxdl.objectives.byol.initial_target`,
`jaxdl.objectives.byol.target_update`: momentum from `ema_base` rising to 1 on a cosine; in
`TrainState.target`). The center c is an EMA (`center_momentum`) of the teacher's
batch-mean output over both views, moved after each step's loss has used it; it lives in
the network's model state (`model_state["dino"]["center"]`, beside batch-norm statistics)
because the criterion's returned model state is the one channel from a step's outputs to
the train state: so checkpoints, resume, interventions and vmap carry it, and under a
per-device program the objective's mean of the model state over devices makes it the
EMA of the global batch mean (the update is linear in the batch mean). The target's copy
of the network carries an EMA of the center too; it is never read.

Choices, for MNIST-1D: `out_dim` 256 prototypes, not the paper's 65536 (for ImageNet's
1.3M images; 16 times MNIST-1D's 4000 training signals): still an over-clustering, ~25
per class of 10, while the last layer (64 x 256 = 16k weights) stays smaller than the
projector (24k). Two views, both "global": no multi-crop (the `mnist1d` views have no
small crops). τ_t is constant (0.04, the paper's default; its optional linear warm-up to
0.07 is left out), as is τ_s = 0.1. The loss halves the two pairs, as Algorithm 1 does
(BYOL's here sums its two). The last layer is not frozen during the first epoch (the
paper's `freeze_last_layer`). `center_momentum=1` keeps the center at 0: no centering,
the paper's collapse ablation (fig. 7), accepted on purpose.

    jaxdl train --config experiments/ssl_methods.py --config.objective.name=dino

Measured (seed 0, 4000 steps, 68 s on 2 CPU cores shared with other jobs): loss 5.11 ->
4.16 (it first rises to ~5.16 by step 300: centering raises the teacher's entropy),
test leave-one-out 20-NN accuracy 0.355 at init -> 0.584; the same recipe and seed gave
0.509 for byol and 0.660 for simclr. One seed, untuned: the study is ssl_methods'.
"""
from __future__ import annotations

from jaxdl import losses
from jaxdl.models import ssl
from jaxdl.objectives import Objective, Setup, byol, require
from jaxdl.objectives import self_supervised as ssl_objective

__all__ = ["dino", "check", "criterion"]


def dino(setup: Setup, projector: tuple = (128, 64), out_dim: int = 256,
         student_temperature: float = 0.1, teacher_temperature: float = 0.04,
         center_momentum: float = 0.9, ema_base: float = 0.996, online_probe: bool = False,
         l1: float = 0.0, l2: float = 0.0) -> Objective:
    """DINO with `out_dim` prototypes, temperatures τ_s, τ_t, the center's momentum and the
    teacher's momentum `ema_base`."""
    net = ssl_objective.network(setup, "dino", projector, online_probe, out_dim=out_dim,
                                student_temperature=student_temperature,
                                teacher_temperature=teacher_temperature,
                                center_momentum=center_momentum, ema_base=ema_base)
    return ssl_objective.objective(setup, net, criterion, l1=l1, l2=l2,
                                   init_extra=byol.initial_target,
                                   update_extra=byol.target_update(setup.steps, ema_base))


def criterion(net, params, model_state, teacher, x, view_key, *, train, key=None):
    out, model_state = ssl_objective.forward_two_views(net, params, model_state, x, view_key,
                                                       train=train, key=key)
    t = byol.target_outputs(net, teacher, x, view_key, train=train, key=key)["prototypes"]
    s, n, m = out["prototypes"], x.shape[0], net.method
    center = model_state[ssl.CENTER]["center"]
    loss = losses.dino_loss(s[:n], s[n:], t[:n], t[n:], center, m.student_temperature,
                            m.teacher_temperature)
    if train:  # after the loss, as in Algorithm 1: this step's targets use the old center
        model_state = {**model_state, ssl.CENTER: {
            "center": losses.dino_center(center, t, m.center_momentum)}}
    return loss, model_state, out


def check(options: dict) -> None:
    ssl_objective.check(options)
    require(options["out_dim"] >= 1, "out_dim", "must be >= 1", options["out_dim"])
    for name in ("student_temperature", "teacher_temperature"):
        require(options[name] > 0, name, "must be > 0", options[name])
    require(0 <= options["center_momentum"] <= 1, "center_momentum",
            "must be in [0, 1] (1: no centering)", options["center_momentum"])
    require(0 <= options["ema_base"] < 1, "ema_base", "must be in [0, 1)", options["ema_base"])
