"""DINO (jaxdl/objectives/dino.py): its loss, centering and sharpening against numpy
written out in the test; the center's update and the teacher's EMA in a train step; no
gradient into the teacher; one-line option errors; and, slow, a short run that learns (and
collapses without centering), vectorized trials equal to single runs, and the center of
the global batch under a per-device program. Exact resume
(teacher and center included) and a few steps of training and evaluation are
tests/test_ssl_training.py's, with the other methods.

    PYTHONPATH=. python -m pytest -q tests/test_dino.py            # the fast ones
    PYTHONPATH=. python -m pytest -q -m slow tests/test_dino.py    # the training runs
"""
import json
import math
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl
from jaxdl import config as config_lib
from jaxdl import losses, models, rng
from jaxdl.models import ssl
from jaxdl.objectives import StepKeys, byol
from jaxdl.objectives import self_supervised as ssl_objective
from jaxdl.study import sweep
from jaxdl.training import loop

from equivalence import vectorized_and_single  # tests/equivalence.py

RNG = np.random.default_rng(0)
S1, S2, T1, T2 = (RNG.normal(size=(5, 7)).astype(np.float32) for _ in range(4))
CENTER = RNG.normal(size=(7,)).astype(np.float32) * 0.3


def config(steps=40, *overrides):
    c = config_lib.load(None, ["objective.name=dino", "augment.name=mnist1d", f"steps={steps}",
                               "eval_every=20", "chunk_size=10", "checkpoint_every=10",
                               "eval_train_examples=1000", *overrides])
    return c


# ---------------------------------------------------------------- the loss, by hand


def softmax_by_hand(row, temperature):
    e = [math.exp(v / temperature) for v in row]
    return np.array([v / sum(e) for v in e])


def cross_entropy_by_hand(teacher, student, center, tau_s, tau_t):
    """mean over rows of -sum_k P_t,k log P_s,k, written out."""
    total = 0.0
    for t, s in zip(teacher, student):
        p_t = softmax_by_hand(t - center, tau_t)
        p_s = softmax_by_hand(s, tau_s)
        total += -sum(p * math.log(q) for p, q in zip(p_t, p_s))
    return total / len(teacher)


@pytest.mark.parametrize("tau_t", [0.04, 0.1, 1.0])
def test_teacher_probs_center_then_sharpen_as_written_out(tau_t):
    expected = np.stack([softmax_by_hand(t - CENTER, tau_t) for t in T1.astype(np.float64)])
    got = losses.dino_teacher_probs(T1, CENTER, tau_t)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(np.sum(got, axis=1), 1.0, rtol=1e-6)


def test_sharpening_lowers_and_centering_moves_the_teacher_entropy():
    def entropy(p):
        return float(np.mean(-np.sum(p * np.log(np.maximum(p, 1e-30)), axis=1)))

    sharp = losses.dino_teacher_probs(T1, 0.0, 0.04)
    soft = losses.dino_teacher_probs(T1, 0.0, 1.0)
    assert entropy(np.asarray(sharp)) < entropy(np.asarray(soft))
    # a center of the rows' own mean prototype score spreads a batch that prefers one
    # prototype: without it every row picks prototype 0, with it they differ
    biased = T1 + np.eye(7, dtype=np.float32)[0] * 10
    assert np.all(np.argmax(losses.dino_teacher_probs(biased, 0.0, 0.04), axis=1) == 0)
    centered = losses.dino_teacher_probs(biased, np.mean(biased, axis=0), 0.04)
    np.testing.assert_allclose(centered, losses.dino_teacher_probs(T1, np.mean(T1, axis=0), 0.04),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("tau_s,tau_t", [(0.1, 0.04), (0.5, 0.2)])
def test_dino_loss_is_the_two_crossed_pairs_halved(tau_s, tau_t):
    s1, s2, t1, t2, c = (a.astype(np.float64) for a in (S1, S2, T1, T2, CENTER))
    expected = (cross_entropy_by_hand(t1, s2, c, tau_s, tau_t)
                + cross_entropy_by_hand(t2, s1, c, tau_s, tau_t)) / 2
    got = losses.dino_loss(S1, S2, T1, T2, CENTER, tau_s, tau_t)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # crossed, not matched: swapping one side's views changes the value
    assert abs(float(losses.dino_loss(S2, S1, T1, T2, CENTER, tau_s, tau_t)) - expected) > 1e-3


def test_teacher_and_center_get_no_gradient_the_student_does():
    grads = jax.grad(losses.dino_loss, argnums=(0, 1, 2, 3, 4))(
        *(jnp.asarray(a) for a in (S1, S2, T1, T2, CENTER)))
    assert all(np.abs(g).sum() > 0 for g in grads[:2])
    for g in grads[2:]:
        np.testing.assert_array_equal(g, np.zeros_like(g))


def test_center_update_is_the_ema_of_the_batch_mean():
    t = np.concatenate([T1, T2])
    expected = 0.9 * CENTER.astype(np.float64) + 0.1 * t.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(losses.dino_center(CENTER, t, 0.9), expected, rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_array_equal(losses.dino_center(CENTER, t, 1.0), CENTER)  # no centering
    np.testing.assert_allclose(losses.dino_center(CENTER, t, 0.0), t.mean(axis=0), rtol=1e-6)
    grad = jax.grad(lambda t: jnp.sum(losses.dino_center(jnp.asarray(CENTER), t, 0.9)))(
        jnp.asarray(t))
    np.testing.assert_array_equal(grad, np.zeros_like(t))


# ---------------------------------------------------------------- the network and a step


@pytest.fixture(scope="module")
def built():
    """A dino run, its initial state and a training batch."""
    run = loop.build(config(10))
    state = run.init(rng.root_key(0))
    batch = tuple(jnp.asarray(a[:100]) for a in (run.dataset.x_train, run.dataset.y_train))
    return run, state, batch


def test_prototypes_are_cosines_of_the_unit_projection_with_unit_prototypes(built):
    run, state, (x, _) = built
    out, _ = models.apply(run.model, state.params, state.model_state, x[:8], train=False)
    kernel = np.asarray(state.params["prototypes"]["kernel"], np.float64)
    assert set(state.params["prototypes"]) == {"kernel"}  # no bias, the gain fixed at 1
    z = np.asarray(out["projection"], np.float64)
    expected = (z / np.linalg.norm(z, axis=1, keepdims=True)) @ \
        (kernel / np.linalg.norm(kernel, axis=0, keepdims=True))
    np.testing.assert_allclose(out["prototypes"], expected, rtol=1e-4, atol=1e-5)
    assert out["prototypes"].shape == (8, 256) and np.all(np.abs(expected) <= 1 + 1e-9)
    np.testing.assert_array_equal(state.model_state[ssl.CENTER]["center"], np.zeros(256))


def test_a_step_moves_the_center_and_the_teacher_and_no_gradient_reaches_the_teacher(built):
    """One train step: the center becomes 0.9·0 + 0.1·(the teacher's mean output on both
    views, as the step drew them), the teacher τ_0 teacher + (1 - τ_0) student with τ_0 =
    ema_base, and the loss has no gradient in the teacher."""
    run, state, batch = built
    net, keys = run.model, StepKeys(state.key, state.step)
    new, _ = jax.jit(run.train_step)(state, batch)
    t = jax.jit(lambda target: byol.target_outputs(
        net, target, batch[0], keys(rng.AUGMENT), train=True, key=keys(rng.DROPOUT)))(
        state.target)["prototypes"]
    expected_center = 0.1 * np.mean(np.asarray(t, np.float64), axis=0)
    np.testing.assert_allclose(new.model_state[ssl.CENTER]["center"], expected_center,
                               rtol=1e-4, atol=1e-6)
    assert np.abs(expected_center).max() > 1e-3
    tau = net.method.ema_base
    online = {"params": new.params, "model_state": new.model_state}
    jax.tree.map(lambda got, t0, o: np.testing.assert_allclose(
        got, tau * np.asarray(t0) + (1 - tau) * np.asarray(o), rtol=1e-6, atol=1e-7),
        new.target, state.target, online)
    assert not np.allclose(new.target["params"]["prototypes"]["kernel"],
                           new.params["prototypes"]["kernel"])
    to_teacher = jax.jit(jax.grad(lambda target: run.objective.loss(
        state.params, state.model_state, target, batch, keys)[0]))(state.target)
    assert jax.tree.leaves(to_teacher)
    for g in jax.tree.leaves(to_teacher):
        np.testing.assert_array_equal(g, np.zeros_like(g))


# ---------------------------------------------------------------- options


@pytest.mark.parametrize("overrides,names", [
    (["objective.out_dim=0"], ["config.objective.out_dim", ">= 1"]),
    (["objective.student_temperature=0"], ["config.objective.student_temperature", "> 0"]),
    (["objective.teacher_temperature=-0.04"], ["config.objective.teacher_temperature", "> 0"]),
    (["objective.center_momentum=1.5"], ["config.objective.center_momentum", "[0, 1]"]),
    (["objective.center_momentum=-0.1"], ["config.objective.center_momentum", "[0, 1]"]),
    (["objective.ema_base=1.0"], ["config.objective.ema_base", "[0, 1)"]),
    (["objective.projector=()"], ["config.objective.projector", "non-empty"]),
    (["objective.predictor=128"], ["config.objective.predictor", "unknown key"]),
])
def test_bad_options_fail_with_one_line_naming_the_key(overrides, names):
    with pytest.raises(config_lib.ConfigError) as info:
        config_lib.load(None, ["objective.name=dino", *overrides])
    message = str(info.value)
    assert "\n" not in message
    for name in names:
        assert name in message, message


def test_defaults_and_registration():
    c = config_lib.load(None, ["objective.name=dino"])
    assert {k: c.objective[k] for k in ("out_dim", "student_temperature", "teacher_temperature",
                                        "center_momentum", "ema_base")} == \
        {"out_dim": 256, "student_temperature": 0.1, "teacher_temperature": 0.04,
         "center_momentum": 0.9, "ema_base": 0.996}
    assert "dino" in jaxdl.objectives.SELF_SUPERVISED


# ---------------------------------------------------------------- training (slow)


def teacher_terms(run, state, x, view_key):
    """On fixed views of x, in inference mode: the DINO loss (the cross-entropy), the
    teacher's mean per-example entropy H(P_t), their difference KL(P_t || P_s) (the part
    the student controls), and the entropy of the batch-mean P_t (log K: every prototype
    used alike; 0: one prototype for every example, the collapse)."""
    net, m = run.model, run.model.method
    out, _ = ssl_objective.forward_two_views(net, state.params, state.model_state, x, view_key,
                                             train=False)
    t = byol.target_outputs(net, state.target, x, view_key, train=False)["prototypes"]
    center, n, s = state.model_state[ssl.CENTER]["center"], x.shape[0], out["prototypes"]
    p = np.asarray(losses.dino_teacher_probs(t, center, m.teacher_temperature), np.float64)
    cross = float(losses.dino_loss(s[:n], s[n:], t[:n], t[n:], center, m.student_temperature,
                                   m.teacher_temperature))

    def entropy(q):
        return -np.sum(q * np.log(np.maximum(q, 1e-30)), axis=-1)

    h = float(np.mean(entropy(p)))
    return {"loss": cross, "entropy": h, "kl": cross - h, "entropy_of_mean": float(
        entropy(p.mean(axis=0)))}


def train_and_measure(*overrides, steps=300):
    run = loop.build(config(steps, "eval_every=0", f"chunk_size={steps}", *overrides))
    x, view_key = jnp.asarray(run.dataset.x_test[:500]), jax.random.PRNGKey(7)
    state = run.init(rng.root_key(0))
    sets = {"test": loop.eval_sets(run)["test"]}
    before = teacher_terms(run, state, x, view_key), loop.evaluate(run, state, sets)["test"][0]
    state, metrics = run.train_chunk(state, run.device_data(), steps)
    after = teacher_terms(run, state, x, view_key), loop.evaluate(run, state, sets)["test"][0]
    return before, after, np.asarray(metrics["loss"])


@pytest.mark.slow  # two builds and 300 steps each: 28 s on 2 busy shared cores
def test_a_short_run_learns_and_without_centering_the_teacher_collapses():
    """300 steps on MNIST-1D. With centering the student's KL to the teacher falls, the
    teacher keeps using many prototypes, and the kNN accuracy of the representation beats
    the network at init. The total loss is not asserted to fall: it is H(P_t) + KL, and
    centering first raises the teacher's entropy (measured, seed 0: loss 5.11 -> 5.19 over
    the first 300 steps, falling only after ~500; KL 1.75 -> 0.57; kNN 0.355 -> 0.429;
    entropy of the mean P_t 4.01 -> 5.30 of log 256 = 5.55). Without centering
    (center_momentum=1 keeps it at 0) the teacher collapses onto one prototype (entropy of
    the mean P_t 0.85 and falling; loss 4.2 -> 1.2) — the paper's fig. 7."""
    log_k = math.log(256)
    (terms0, eval0), (terms, evaluated), loss = train_and_measure()
    assert np.all(np.isfinite(loss))
    assert terms["kl"] < 0.6 * terms0["kl"], (terms0, terms)
    assert terms["entropy_of_mean"] > 0.8 * log_k, terms
    assert evaluated["knn_accuracy"] > eval0["knn_accuracy"] + 0.03, (eval0, evaluated)
    (_, _), (collapsed, _), loss = train_and_measure("objective.center_momentum=1.0")
    assert collapsed["entropy_of_mean"] < 0.3 * log_k, collapsed
    assert collapsed["entropy_of_mean"] < terms["entropy_of_mean"] - 2.0
    assert np.mean(loss[-25:]) < 0.5 * np.mean(loss[:25])  # the collapse: a trivial match


@pytest.mark.slow  # a vmapped program and two single ones: 20-90 s on 2 busy shared cores
def test_vectorized_trials_equal_single_runs():
    """Two seeds as one vmapped program train as one by one, per step, to float rounding
    (the project's tolerance for vmapped against single programs)."""
    configs = [t.config for t in sweep.make_trials(config(4), [{"optimizer.lr": 1e-2}], [0, 1])]
    (_, _, state, metrics), singles = vectorized_and_single(configs, 4)
    for i, reference in enumerate(singles):
        np.testing.assert_allclose(metrics["loss"][i], reference["loss"], rtol=1e-5, atol=1e-6)
    centers = np.asarray(state.trials.model_state[ssl.CENTER]["center"])
    assert centers.shape == (2, 256) and not np.allclose(centers[0], centers[1])


PER_DEVICE = textwrap.dedent("""
    import json, jax, jax.numpy as jnp, numpy as np
    from jaxdl import config as C, rng
    from jaxdl.models import ssl
    from jaxdl.objectives import byol
    from jaxdl.training import loop, step as step_lib

    c = C.load(None, ["objective.name=dino", "augment.name=mnist1d", "steps=10",
                      "parallel.mode=pmap", "parallel.data=2"])
    run = loop.build(c)
    state = run.init(rng.root_key(0))
    x = jnp.asarray(run.dataset.x_train[:100]); y = jnp.asarray(run.dataset.y_train[:100])
    chunk = step_lib.make_streamed_chunk(run.train_step, "loop", run.placement,
                                         run.state_sharding)
    new, _ = chunk(jax.tree.map(jnp.copy, state), (x[None], y[None]), 1)
    # each device's teacher on its half of the batch, with its own views (keys folded
    # with the device index, as objectives.StepKeys does under a device axis)
    means = []
    for i in range(2):
        view_key = jax.random.fold_in(rng.step_key(state.key, rng.AUGMENT, 0), i)
        t = byol.target_outputs(run.model, state.target, x[50 * i:50 * (i + 1)], view_key,
                                train=True)["prototypes"]
        means.append(np.mean(np.asarray(t, np.float64), axis=0))
    got = np.asarray(new.model_state[ssl.CENTER]["center"])
    m = run.model.method.center_momentum
    print("RESULT " + json.dumps({
        "devices": jax.device_count(),
        "global": float(np.max(np.abs(got - (1 - m) * np.mean(means, axis=0)))),
        "device_0": float(np.max(np.abs(got - (1 - m) * means[0]))),
        "scale": float(np.max(np.abs(got)))}))
""")


@pytest.mark.slow  # a fresh process with 2 simulated devices: 79 s on 2 busy shared cores
def test_under_a_per_device_program_the_center_moves_by_the_global_batch_mean():
    """pmap mode, 2 devices, one step: each device's criterion sees its half of the batch,
    and the center is the EMA of the mean over both halves (the objective's mean over
    devices of the model state), not of one device's half."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out = subprocess.run([sys.executable, "-c", PER_DEVICE], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.split("RESULT ")[1])
    assert result["devices"] == 2
    assert result["global"] < 1e-5 * max(result["scale"], 1e-3), result
    assert result["device_0"] > 100 * result["global"], result
