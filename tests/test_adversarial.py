"""Adversarial attacks, robust accuracy, the random-ensemble defense and adversarial
training: hand-checkable geometry, the claims (PGD <= FGSM <= clean; a random ensemble
defeats finite differences), determinism, and bit-identical training with the option off."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import config as config_lib
from jaxdl import losses, rng
from jaxdl.probes import adversarial as adv
from jaxdl.study import sweep, vectorize
from jaxdl.training import loop
from jaxdl.training import step as step_lib

from equivalence import vectorized_and_single, with_and_without_section  # tests/equivalence.py
from reference_objective import old_objective  # tests/reference_objective.py

KEY = jax.random.PRNGKey(0)


# ---------------------------------------------------------------- a linear model by hand


def linear_problem(d=5, n=4, seed=0):
    """Logits (0, w.x): for label 0 the loss log(1 + e^{w.x}) rises along +w, for label 1
    it rises along -w. Returns (loss_fn, w, x, y)."""
    r = np.random.default_rng(seed)
    w = jnp.asarray(r.normal(size=d), jnp.float32)
    x = jnp.asarray(r.normal(size=(n, d)), jnp.float32)
    y = jnp.asarray([0, 1] * (n // 2), jnp.int32)
    logits = lambda x: jnp.stack([jnp.zeros(x.shape[0]), x @ w], axis=1)
    return adv.mean_loss(logits), w, x, y


def test_fgsm_on_a_linear_model_moves_each_example_along_sign_w():
    loss, w, x, y = linear_problem()
    x, w, y = np.asarray(x), np.asarray(w), np.asarray(y)
    up = np.where(y[:, None] == 0, 1.0, -1.0)  # the side of w on which the loss rises
    fgsm = jax.jit(adv.fgsm, static_argnums=(0, 4))
    np.testing.assert_allclose(fgsm(loss, x, y, 0.3, "linf"), x + 0.3 * up * np.sign(w), rtol=1e-6)
    np.testing.assert_allclose(fgsm(loss, x, y, 0.3, "l2"), x + 0.3 * up * w / np.linalg.norm(w),
                               rtol=1e-5)


def test_pgd_on_a_linear_model_reaches_the_corner_fgsm_jumps_to():
    """The loss is monotone in w.x, so its max over the L∞ ball is FGSM's corner, and PGD
    from any random start walks there when steps * step_size >= 2 eps."""
    loss, _, x, y = linear_problem()

    @jax.jit
    def attacks(x, y):
        return (adv.fgsm(loss, x, y, 0.2, "linf"),
                adv.pgd(loss, x, y, KEY, eps=0.2, step_size=0.1, steps=5, norm="linf"),
                adv.fgsm(loss, x, y, 0.5, "l2"),
                adv.pgd(loss, x, y, KEY, eps=0.5, step_size=0.1, steps=200, norm="l2"))

    fgsm, pgd, fgsm2, pgd2 = attacks(x, y)
    np.testing.assert_allclose(pgd, fgsm, atol=1e-6)
    # L2: the max is x + eps * (±w/|w|), reached from a random start by steps along ±w
    np.testing.assert_allclose(pgd2, fgsm2, atol=2e-3)


def test_projection_and_random_start_stay_in_the_ball():
    delta = np.random.default_rng(1).normal(size=(64, 8)).astype(np.float32) * 3
    project = jax.jit(adv.project, static_argnums=2)
    norms = np.linalg.norm(np.asarray(project(delta, 0.5, "l2")), axis=1)
    assert norms.max() <= 0.5 * (1 + 1e-6)
    np.testing.assert_allclose(norms[np.linalg.norm(delta, axis=1) > 0.5], 0.5, rtol=1e-6)
    inside = delta * 0.01  # already inside: unchanged
    np.testing.assert_array_equal(project(inside, 0.5, "l2"), inside)
    np.testing.assert_array_equal(project(delta, 0.5, "linf"), np.clip(delta, -0.5, 0.5))
    # uniform in the 2-d disc of radius 1: a quarter of the points within radius 1/2
    ball = jax.jit(adv.uniform_in_ball, static_argnums=(1, 3))
    radius = np.linalg.norm(np.asarray(ball(KEY, (20000, 2), 1.0, "l2")), axis=1)
    assert radius.max() <= 1 + 1e-6 and abs(np.mean(radius < 0.5) - 0.25) < 0.015
    box = np.asarray(ball(KEY, (1000, 3), 0.3, "linf"))
    assert np.abs(box).max() <= 0.3 and np.abs(box).max() > 0.29


def test_clip_keeps_adversarial_inputs_in_the_data_range():
    loss, _, x, y = linear_problem()
    x = jnp.clip(x, 0, 1)
    attacks = jax.jit(lambda x, y: (adv.fgsm(loss, x, y, 0.5, "linf", clip=(0.0, 1.0)),
                                    adv.pgd(loss, x, y, KEY, 0.5, 0.1, 10, "linf", clip=(0.0, 1.0))))
    for x_adv in attacks(x, y):
        assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
        assert float(jnp.abs(x_adv - x).max()) <= 0.5 + 1e-6


def test_a_bad_norm_is_named():
    loss, _, x, y = linear_problem()
    with pytest.raises(ValueError, match="norm: must be one of linf, l2, got 'l1'"):
        adv.fgsm(loss, x, y, 0.1, "l1")


def test_spsa_estimates_the_gradient_from_loss_values_alone():
    """For a linear loss a.x the difference quotient is exactly a.v, so the estimate is
    mean (a.v) v, which tends to a (E[v v^T] = I)."""
    a = jnp.asarray(np.random.default_rng(2).normal(size=(3, 10)), jnp.float32)
    query = lambda x, y, key: jnp.sum(a * x, axis=1)
    g = jax.jit(lambda x, y: adv.spsa_gradient(query, x, y, KEY, samples=1024))(
        jnp.zeros((3, 10)), jnp.zeros(3, jnp.int32))
    g, a = np.asarray(g), np.asarray(a)
    cosine = np.sum(g * a, 1) / (np.linalg.norm(g, axis=1) * np.linalg.norm(a, axis=1))
    assert cosine.min() > 0.95


def test_random_ensemble_picks_a_model_per_query_by_key():
    """Model k always says class k: the prediction reveals which model answered."""
    k = 4
    stacked = jnp.eye(k)[:, :, None]  # "params" of model k: one-hot logits of class k

    def apply(p, x):
        return jnp.broadcast_to(p[:, 0], (x.shape[0], k))

    predict = jax.jit(lambda x, key: jnp.argmax(adv.random_ensemble(apply, stacked)(x, key), -1))
    x = jnp.zeros((4000, 3))
    chosen = np.asarray(predict(x, KEY))
    np.testing.assert_allclose(np.bincount(chosen, minlength=k) / len(chosen), 1 / k, atol=0.03)
    np.testing.assert_array_equal(chosen, predict(x, KEY))  # same key, same choices
    assert np.mean(chosen != np.asarray(predict(x, jax.random.PRNGKey(1)))) > 0.5


# ---------------------------------------------------------------- a trained CNN


@pytest.fixture(scope="module")
def trained_seeds():
    """The MNIST-1D CNN after 400 steps (~0.8 test accuracy) from seeds 0, 1, 2."""
    c = config_lib.default()
    c.steps, c.eval_every = 400, 0
    run = loop.build(c)
    data = run.device_data()
    return run, [run.train_chunk(run.init(rng.root_key(seed)), data, 400)[0] for seed in range(3)]


@pytest.fixture(scope="module")
def trained(trained_seeds):
    """Seed 0's network as a function, with 300 test signals."""
    run, states = trained_seeds
    state = states[0]
    f = lambda x: step_lib.apply_model(run.model, state.params, state.model_state, x,
                                       train=False)[0]
    x, y = jnp.asarray(run.dataset.x_test[:300]), jnp.asarray(run.dataset.y_test[:300])
    return run, state, f, x, y


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.5)])
def test_pgd_loss_above_fgsm_above_clean_and_accuracy_the_other_way(trained, norm, eps):
    _, _, f, x, y = trained
    loss = adv.mean_loss(f)
    predict = lambda x, k: f(x)
    attacks = {"clean": adv.no_attack, "fgsm": adv.fgsm_attack(loss, eps, norm),
               "pgd": adv.pgd_attack(loss, eps, eps / 4, 10, norm)}

    @jax.jit
    def losses_and_accuracies(x, y):
        return ({k: loss(a(x, y, KEY), y) for k, a in attacks.items()},
                {k: adv.robust_accuracy(predict, a, x, y, KEY) for k, a in attacks.items()})

    loss_of, acc = jax.device_get(losses_and_accuracies(x, y))
    assert loss_of["pgd"] > loss_of["fgsm"] > loss_of["clean"], loss_of
    assert acc["pgd"] <= acc["fgsm"] < acc["clean"] - 0.05, acc
    assert acc["clean"] > 0.7


def test_robust_accuracy_batches_pad_and_keys_are_deterministic(trained):
    _, _, f, x, y = trained
    predict, loss = (lambda x, k: f(x)), adv.mean_loss(f)
    clean = float(jnp.mean(losses.accuracy(f(x), y)))
    accuracy = jax.jit(lambda attack, batch_size, key: adv.robust_accuracy(
        predict, attack, x, y, key, batch_size), static_argnums=(0, 1))
    for batch_size in (300, 64, 7):  # 300 = 4 x 64 + 44: the last batch is padded
        assert float(accuracy(adv.no_attack, batch_size, KEY)) == pytest.approx(clean, abs=1e-6)
    # FGSM's direction is per example: the batch size cannot change it
    fgsm = adv.fgsm_attack(loss, 0.1)
    assert float(accuracy(fgsm, 64, KEY)) == pytest.approx(float(accuracy(fgsm, 300, KEY)),
                                                           abs=1e-6)
    pgd = adv.pgd_attack(loss, 0.1, 0.05, 3)
    assert float(accuracy(pgd, 64, KEY)) == float(accuracy(pgd, 64, KEY))
    attack = jax.jit(lambda key: adv.pgd(loss, x, y, key, 0.1, 0.05, 3))
    x1 = attack(KEY)
    np.testing.assert_array_equal(x1, attack(KEY))
    assert not np.array_equal(x1, attack(jax.random.PRNGKey(1)))


def test_transfer_from_the_target_itself_is_the_white_box_attack(trained):
    _, _, f, x, y = trained
    predict, loss = (lambda x, k: f(x)), adv.mean_loss(f)
    both = jax.jit(lambda x, y: (
        adv.robust_accuracy(predict, adv.pgd_attack(loss, 0.1, 0.025, 10), x, y, KEY, 100),
        adv.transfer_accuracy(predict, loss, x, y, KEY, 0.1, 0.025, 10, batch_size=100)))
    white, transfer = both(x, y)
    assert float(transfer) == float(white)


def test_random_ensemble_of_identical_models_is_that_model(trained):
    run, state, f, x, _ = trained
    apply = lambda p, x: step_lib.apply_model(run.model, p, state.model_state, x, train=False)[0]
    ensemble = jax.jit(adv.random_ensemble(apply, adv.stack([state.params] * 3)))
    np.testing.assert_allclose(ensemble(x, KEY), f(x), rtol=1e-5, atol=1e-5)


def test_random_ensemble_defeats_finite_differences_but_not_transfer(trained_seeds):
    """Claim 3 of experiments/adversarial.py: seeds 1 and 2 as a random ensemble against
    SPSA and against PGD examples crafted on seed 0; the same attacks on seed 1 alone."""
    run, states = trained_seeds
    apply = lambda p, x: step_lib.apply_model(run.model, p, {}, x, train=False)[0]
    ensemble = adv.random_ensemble(apply, adv.stack([s.params for s in states[1:]]))
    single = lambda x, k: apply(states[1].params, x)
    surrogate = adv.mean_loss(lambda x: apply(states[0].params, x))
    x, y = jnp.asarray(run.dataset.x_test[:300]), jnp.asarray(run.dataset.y_test[:300])
    spsa = lambda target: adv.spsa_attack(adv.query_loss(target), 0.2, 0.025, 10, samples=16)

    @jax.jit
    def accuracies(x, y):
        transfer = {name: adv.transfer_accuracy(target, surrogate, x, y, KEY, 0.2, 0.025, 10)
                    for name, target in (("ensemble", ensemble), ("single", single))}
        xs, ys = x[:100], y[:100]
        spsa_acc = {name: adv.robust_accuracy(target, spsa(target), xs, ys, KEY)
                    for name, target in (("ensemble", ensemble), ("single", single))}
        spsa_acc["clean"] = adv.robust_accuracy(single, adv.no_attack, xs, ys, KEY)
        return transfer, spsa_acc

    transfer, spsa_acc = jax.device_get(accuracies(x, y))
    assert spsa_acc["single"] < spsa_acc["clean"] - 0.3, spsa_acc  # SPSA breaks one model
    assert spsa_acc["ensemble"] > spsa_acc["single"] + 0.15, spsa_acc  # measured 0.65 vs 0.40
    assert abs(transfer["ensemble"] - transfer["single"]) < 0.08, transfer  # measured 0.02


# ---------------------------------------------------------------- adversarial training: config


@pytest.mark.parametrize("override,message", [
    ("loss.adversarial.attack=bim", "config.loss.adversarial.attack: must be one of none, fgsm, pgd"),
    ("loss.adversarial.norm=l1", "config.loss.adversarial.norm: must be one of linf, l2"),
    ("loss.adversarial.eps=-0.1", "config.loss.adversarial.eps: must be a finite number >= 0"),
    ("loss.adversarial.steps=0", "config.loss.adversarial.steps: must be >= 1"),
    ("loss.adversarial.step_size=0", "config.loss.adversarial.step_size: must be a finite"),
    ("loss.adversarial.fraction=1.5", "config.loss.adversarial.fraction: must be in [0, 1]"),
    ("loss.adversarial.epsilon=0.1", "config.loss.adversarial.epsilon: unknown key"),
])
def test_adversarial_options_are_validated_with_one_line_naming_the_key(override, message):
    with pytest.raises(config_lib.ConfigError, match=message.replace("[", r"\[").replace(
            "]", r"\]")) as e:
        config_lib.load(None, [override])
    assert "\n" not in str(e.value)


def test_eps_zero_is_refused_only_when_attacking():
    config_lib.load(None, ["loss.adversarial.eps=0"])  # off: eps unused
    with pytest.raises(config_lib.ConfigError, match="config.loss.adversarial.eps: must be > 0 "
                                                     "with attack 'pgd', got 0.0"):
        config_lib.load(None, ["loss.adversarial.attack=pgd", "loss.adversarial.eps=0"])


# ---------------------------------------------------------------- adversarial training: the step




def _setup(model_name="cnn1d", **model_options):
    c = config_lib.default()
    c.model = config_lib.named_section("model", model_name)
    for k, v in model_options.items():
        c.model[k] = v
    c.loss.l2 = 1e-4
    run = loop.build(c)
    state = run.init(rng.root_key(0))
    batch = (jnp.asarray(run.dataset.x_train[:50]), jnp.asarray(run.dataset.y_train[:50]))
    return c, run, state, batch


@pytest.mark.parametrize("model,options", [("cnn1d", {"batch_norm": True}),
                                           ("mlp", {"dropout": 0.3})])
def test_option_off_gives_the_old_gradients_bit_for_bit(model, options):
    c, run, state, batch = _setup(model, **options)
    key = rng.step_key(state.key, rng.DROPOUT, 3)
    old = jax.jit(jax.grad(old_objective(run.model, c.loss, True), has_aux=True))
    new = jax.jit(jax.grad(step_lib.make_objective(run.model, c.loss, True), has_aux=True))
    a = old(state.params, state.model_state, batch, key)
    b = new(state.params, state.model_state, batch, key)
    jax.tree.map(np.testing.assert_array_equal, a, b)


def test_option_none_or_absent_leaves_a_short_run_bit_identical():
    c, run, state, _ = _setup("mlp", dropout=0.2)
    jax.tree.map(np.testing.assert_array_equal, *with_and_without_section(c, run, "adversarial"))


def _adversarial(c, **options):
    c = config_lib.apply_overrides(c, [f"loss.adversarial.{k}={v}" for k, v in options.items()])
    config_lib.validate(c)
    return c


def test_adversarial_objective_mixes_clean_and_attacked_losses():
    c, run, state, batch = _setup("mlp")
    c = _adversarial(c, attack="pgd", eps=0.2, step_size=0.05, steps=5, fraction=0.25)
    objective = jax.jit(step_lib.make_objective(run.model, c.loss, True))
    key, attack_key = rng.step_key(state.key, rng.DROPOUT, 0), rng.step_key(state.key, rng.ADVERSARIAL, 0)
    total, (m, _) = objective(state.params, state.model_state, batch, key, attack_key)
    clean, _ = old_objective(run.model, c.loss, True)(state.params, state.model_state, batch, key)
    clean_loss = float(clean - c.loss.l2 * losses.l2_penalty(state.params))
    assert float(m["adversarial_loss"]) > clean_loss + 0.05  # the attack raises the loss
    np.testing.assert_allclose(m["loss"], 0.75 * clean_loss + 0.25 * m["adversarial_loss"],
                               rtol=1e-5)
    np.testing.assert_allclose(total, m["loss"] + c.loss.l2 * losses.l2_penalty(state.params),
                               rtol=1e-6)
    again, _ = objective(state.params, state.model_state, batch, key, attack_key)
    other, _ = objective(state.params, state.model_state, batch, key, jax.random.PRNGKey(7))
    assert float(again) == float(total) and float(other) != float(total)


def test_adversarial_gradient_is_the_gradient_at_the_fixed_attacked_batch():
    """stop_gradient: d/dθ L(θ, x'(θ)) is taken at fixed x' (no derivative through the attack)."""
    c, run, state, (x, y) = _setup("mlp")
    c = _adversarial(c, attack="pgd", eps=0.2, step_size=0.05, steps=5)
    key, attack_key = jax.random.PRNGKey(3), jax.random.PRNGKey(4)
    adversary = step_lib.make_adversary(run.model, c.loss)
    x_adv = adversary(state.params, state.model_state, x, y, key, attack_key)
    assert float(jnp.abs(x_adv - x).max()) <= 0.2 + 1e-6 and float(jnp.abs(x_adv - x).max()) > 0.1
    grad = jax.grad(step_lib.make_objective(run.model, c.loss, True), has_aux=True)
    g, _ = grad(state.params, state.model_state, (x, y), key, attack_key)
    ref, _ = jax.grad(old_objective(run.model, c.loss, True), has_aux=True)(
        state.params, state.model_state, (x_adv, y), key)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), g, ref)


def test_adversarial_training_draws_its_attack_from_the_adversarial_purpose():
    """A run with PGD training is deterministic, and its attack key is the ADVERSARIAL one:
    replaying step 0 by hand with step_key(root, ADVERSARIAL, 0) gives its params."""
    c, run, state, _ = _setup("mlp")
    c = _adversarial(c, attack="pgd", eps=0.1, step_size=0.05, steps=3)
    run = loop.build(c)
    data = run.device_data()
    first, metrics = run.train_chunk(run.init(rng.root_key(0)), data, 1)
    assert "adversarial_loss" in metrics
    s0 = run.init(rng.root_key(0))
    batch = loop.pipeline.batch_at(data, rng.purpose_key(s0.key, rng.DATA_ORDER), 0, c.batch_size)
    objective = step_lib.make_objective(run.model, c.loss, True)
    grads, _ = jax.grad(objective, has_aux=True)(
        s0.params, s0.model_state, batch, rng.step_key(s0.key, rng.DROPOUT, 0),
        rng.step_key(s0.key, rng.ADVERSARIAL, 0))
    updates, _ = run.optimizer.update(grads, s0.opt_state, s0.params)
    expected = jax.tree.map(lambda p, u: p + u, s0.params, updates)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                 jax.device_get(first.params), jax.device_get(expected))


def test_adversarial_options_split_vectorized_groups_and_a_group_trains():
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps, c.chunk_size = 3, 3
    points = [{"loss.adversarial.attack": "none"},
              {"loss.adversarial.attack": "pgd", "loss.adversarial.eps": 0.1},
              {"loss.adversarial.attack": "pgd", "loss.adversarial.eps": 0.2}]
    trials = sweep.make_trials(c, points, [0, 1])
    groups = vectorize.make_groups(trials, 32)
    assert [[t.point for t in g] for g in groups] == [[p, p] for p in points]
    (_, _, _, metrics), singles = vectorized_and_single([t.config for t in groups[1]], 3)
    for i, ref in enumerate(singles):
        np.testing.assert_allclose(metrics["adversarial_loss"][i], ref["adversarial_loss"],
                                   rtol=1e-4)


@pytest.mark.slow
def test_pgd_training_buys_robustness_at_its_eps():
    """Claim (Madry et al. 2018) on MNIST-1D, one seed, 1000 steps (~40 s on 2 shared cores)."""
    accuracies = {}
    for attack in ("none", "pgd"):
        c = config_lib.default()
        c.steps, c.eval_every = 1000, 0
        c = _adversarial(c, attack=attack, eps=0.2, step_size=0.05, steps=7)
        run = loop.build(c)
        state, _ = run.train_chunk(run.init(rng.root_key(0)), run.device_data(), c.steps)
        f = functools.partial(lambda s, x: step_lib.apply_model(
            run.model, s.params, s.model_state, x, train=False)[0], state)
        x, y = jnp.asarray(run.dataset.x_test), jnp.asarray(run.dataset.y_test)
        pgd = adv.pgd_attack(adv.mean_loss(f), 0.2, 0.025, 20)
        accuracies[attack] = float(adv.robust_accuracy(lambda x, k: f(x), pgd, x, y, KEY))
    assert accuracies["pgd"] > accuracies["none"] + 0.15, accuracies
