"""Adversarial attacks, robust accuracy, the random-ensemble defense and adversarial
training (the gradient method `adversarial`): hand-checkable geometry, the claims (PGD <=
FGSM <= clean; a random ensemble defeats finite differences), determinism, the defining
properties of the adversarial gradient, and bit-identical training with gradient plain
against the frozen old step (tests/reference_step.py)."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ml_collections

from jaxdl import config as config_lib
from jaxdl import saved as saved_lib
from jaxdl import losses, models, objectives, rng
from jaxdl.data import pipeline
from jaxdl.gradients import attacks
from jaxdl.probes import adversarial as adv
from jaxdl.study import sweep, vectorize
from jaxdl.training import loop

import reference_step  # tests/reference_step.py: the step before gradient methods, frozen
from equivalence import run_and_reference, vectorized_and_single  # tests/equivalence.py
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
    f = lambda x: models.apply(run.model, state.params, state.model_state, x, train=False)[0]
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
    apply = lambda p, x: models.apply(run.model, p, state.model_state, x, train=False)[0]
    ensemble = jax.jit(adv.random_ensemble(apply, adv.stack([state.params] * 3)))
    np.testing.assert_allclose(ensemble(x, KEY), f(x), rtol=1e-5, atol=1e-5)


def test_random_ensemble_defeats_finite_differences_but_not_transfer(trained_seeds):
    """Claim 3 of experiments/adversarial.py: seeds 1 and 2 as a random ensemble against
    SPSA and against PGD examples crafted on seed 0; the same attacks on seed 1 alone."""
    run, states = trained_seeds
    apply = lambda p, x: models.apply(run.model, p, {}, x, train=False)[0]
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
# Adversarial training is the gradient method `adversarial` (config.gradient); off is the
# default method `plain`, which has no options (there is no attack "none").


@pytest.mark.parametrize("overrides,message", [
    (["gradient.attack=bim"], "config.gradient.attack: must be one of fgsm, pgd, got 'bim'"),
    (["gradient.attack=none"], "config.gradient.attack: must be one of fgsm, pgd, got 'none'"),
    (["gradient.norm=l1"], "config.gradient.norm: must be one of linf, l2"),
    (["gradient.eps=-0.1"], "config.gradient.eps: must be > 0"),
    (["gradient.eps=nan"], "config.gradient.eps: must be a finite number"),
    (["gradient.steps=0"], "config.gradient.steps: must be >= 1"),
    (["gradient.step_size=0"], "config.gradient.step_size: must be > 0"),
    (["gradient.fraction=1.5"], "config.gradient.fraction: must be in [0, 1]"),
    (["gradient.epsilon=0.1"], "config.gradient.epsilon: unknown key"),
])
def test_adversarial_options_are_validated_with_one_line_naming_the_key(overrides, message):
    with pytest.raises(config_lib.ConfigError, match=message.replace("[", r"\[").replace(
            "]", r"\]")) as e:
        config_lib.load(None, ["gradient.name=adversarial", *overrides])
    assert "\n" not in str(e.value)


def test_eps_zero_is_refused_by_the_adversarial_method_and_plain_has_no_eps():
    """Off is gradient.name=plain, whose section holds no attack options at all (once eps
    was allowed at 0 with the attack off, unused); attacking, eps must be > 0."""
    assert config_lib.load(None).gradient.to_dict() == {"name": "plain"}
    with pytest.raises(config_lib.ConfigError, match=r"config.gradient.eps: unknown key; "
                                                     r"allowed: name$"):
        config_lib.load(None, ["gradient.eps=0"])
    with pytest.raises(config_lib.ConfigError, match=r"config.gradient.eps: must be > 0, "
                                                     r"got 0.0$"):
        config_lib.load(None, ["gradient.name=adversarial", "gradient.attack=pgd",
                               "gradient.eps=0"])
    config_lib.load(None, ["gradient.name=adversarial", "gradient.attack=fgsm",
                           "gradient.eps=0.01"])


def _old_saved(**adversarial) -> dict:
    """A config.json from before gradient methods: `loss` held the supervised loss, its
    regularizers and `adversarial` (left out with no options given)."""
    saved = config_lib.default().to_dict()
    del saved["gradient"]
    saved["objective"] = {"name": "supervised"}
    saved["loss"] = dict(name="cross_entropy", label_smoothing=0.1, l1=0.0, l2=1e-4,
                         jacobian=0.0, input_noise=0.0, weight_noise=0.0,
                         distill=dict(teacher="", temperature=4.0))
    if adversarial:
        saved["loss"]["adversarial"] = adversarial
    return saved


ATTACK = dict(attack="pgd", eps=0.2, norm="l2", steps=3, step_size=0.05, random_start=False,
              fraction=0.5)


def test_an_old_config_with_loss_adversarial_reopens_as_the_adversarial_method():
    c = saved_lib.reopen(_old_saved(**ATTACK))
    assert c.gradient.to_dict() == {"name": "adversarial", **ATTACK}
    assert "loss" not in c
    assert (c.objective.name, c.objective.loss, c.objective.label_smoothing, c.objective.l2) == \
        ("supervised", "cross_entropy", 0.1, 1e-4)
    # attack none, or a config from before the section existed: the plain gradient
    for saved in (_old_saved(**{**ATTACK, "attack": "none"}), _old_saved()):
        c = saved_lib.reopen(saved)
        assert c.gradient.to_dict() == {"name": "plain"} and c.objective.l2 == 1e-4
    # and it trains: the upgraded adversarial config builds and reports adversarial metrics
    c = saved_lib.reopen(_old_saved(**ATTACK), ["model.name=mlp", "steps=2", "chunk_size=2"])
    run = loop.build(c)
    _, metrics = run.train_chunk(run.init(rng.root_key(0)), run.device_data(), 2)
    assert "adversarial_loss" in metrics


# ---------------------------------------------------------------- adversarial training: the step


def old_loss(c) -> ml_collections.ConfigDict:
    """config.loss as it was (the `loss_cfg` of tests/reference_step.py's frozen step) for
    `c`'s supervised objective and gradient method."""
    o = c.objective
    attack = (config_lib.options(c.gradient) if c.gradient.name == "adversarial"
              else dict(attack="none"))
    return ml_collections.ConfigDict(dict(
        name=o.loss, label_smoothing=o.label_smoothing, l1=o.l1, l2=o.l2, jacobian=o.jacobian,
        input_noise=o.input_noise, weight_noise=o.weight_noise, adversarial=attack,
        distill=dict(teacher="", temperature=4.0)))


def _setup(model_name="cnn1d", gradient=None, **model_options):
    c = config_lib.default()
    c.model = config_lib.named_section("model", model_name)
    for k, v in model_options.items():
        c.model[k] = v
    c.objective.l2 = 1e-4
    if gradient is not None:
        c = _adversarial(c, **gradient)
    run = loop.build(c)
    state = run.init(rng.root_key(0))
    batch = (jnp.asarray(run.dataset.x_train[:50]), jnp.asarray(run.dataset.y_train[:50]))
    return c, run, state, batch


def _adversarial(c, **options):
    c = config_lib.apply_overrides(c, ["gradient.name=adversarial",
                                       *[f"gradient.{k}={v}" for k, v in options.items()]])
    config_lib.validate(c)
    return c


def _keys(state, step) -> objectives.StepKeys:
    return objectives.StepKeys(state.key, jnp.asarray(step, jnp.int32))


class _Swapped:
    """Step keys with purpose `purpose`'s key replaced by `key`, the others unchanged."""

    def __init__(self, keys, purpose, key):
        self.keys, self.purpose, self.key = keys, purpose, key

    def __call__(self, purpose):
        return self.key if purpose == self.purpose else self.keys(purpose)


@pytest.mark.parametrize("model,options", [("cnn1d", {"batch_norm": True}),
                                           ("mlp", {"dropout": 0.3})])
def test_plain_gradient_is_the_old_gradient_bit_for_bit(model, options):
    """The default gradient method on the default objective: the gradient, metrics and
    batch-norm statistics of both frozen objectives (before adversarial training existed,
    and just before gradient methods), bit for bit, with the DROPOUT key of step 3."""
    c, run, state, batch = _setup(model, **options)
    assert c.gradient.name == "plain"
    keys, key = _keys(state, 3), rng.step_key(state.key, rng.DROPOUT, 3)
    new = jax.jit(lambda p, s, b, k: run.gradient(run.objective.loss, p, s, state.target, b, k))
    b = new(state.params, state.model_state, batch, keys)
    for old in (old_objective(run.model, old_loss(c), True),
                reference_step.make_objective(run.model, old_loss(c), True)):
        a = jax.jit(jax.grad(old, has_aux=True))(state.params, state.model_state, batch, key)
        assert jax.tree.structure(a) == jax.tree.structure(b)
        jax.tree.map(np.testing.assert_array_equal, a, b)


def test_plain_gradient_trains_bit_for_bit_as_the_frozen_step_with_attack_none_or_absent():
    """A short run (two chunks: the carried state too) with gradient plain equals the frozen
    old step's run with loss.adversarial.attack none, and with that section left out (a
    config from before adversarial training), in every bit of the state and metrics."""
    c, run, _, _ = _setup("mlp", dropout=0.2)
    absent = old_loss(c).to_dict()
    del absent["adversarial"]
    for loss_cfg in (old_loss(c), ml_collections.ConfigDict(absent)):
        reference = reference_step.make_train_step(run.model, run.optimizer, loss_cfg, True,
                                                   augment=c.augment)
        for (state, metrics), (old_state, old_metrics) in run_and_reference(run, reference,
                                                                            [10, 10]):
            assert jax.tree.structure(state) == jax.tree.structure(old_state)
            jax.tree.map(np.testing.assert_array_equal, state, old_state)
            assert set(metrics) == set(old_metrics)
            for name in old_metrics:
                np.testing.assert_array_equal(metrics[name], old_metrics[name])


ADV = dict(attack="pgd", eps=0.2, step_size=0.05, steps=5)


def test_adversarial_gradient_mixes_clean_and_attacked_losses():
    c, run, state, batch = _setup("mlp", gradient={**ADV, "fraction": 0.25})
    loss, l2 = run.objective.loss, c.objective.l2
    keys = _keys(state, 0)

    def grad(loss, keys):
        return jax.jit(lambda p: run.gradient(loss, p, state.model_state, state.target, batch,
                                              keys))(state.params)

    g, (m, _) = grad(loss, keys)
    clean, (clean_m, _) = old_objective(run.model, old_loss(c), True)(
        state.params, state.model_state, batch, keys(rng.DROPOUT))
    clean_loss = float(clean - l2 * losses.l2_penalty(state.params))
    np.testing.assert_allclose(clean_loss, clean_m["loss"], rtol=1e-6)
    assert float(m["adversarial_loss"]) > clean_loss + 0.05  # the attack raises the loss
    for name in ("loss", "accuracy"):  # metrics mix as the losses do
        np.testing.assert_allclose(m[name], 0.75 * clean_m[name] + 0.25 * m[f"adversarial_{name}"],
                                   rtol=1e-5)
    # The penalty is counted once in the mixed total: (1 - f)(L(x) + P) + f(L(x') + P). The
    # same gradient of the objective without l2 differs by l2 ∇P = l2 w (~1e-5): exactly but
    # for the float32 rounding of the two gradients subtracted, a few ulp of their largest
    # entries (atol 1e-6 of it; counting P twice or not at all would be off by ~l2 |w|).
    setup = objectives.Setup(model=run.model, num_classes=run.dataset.num_classes,
                             sample_x=run.dataset.x_train[:1], steps=c.steps)
    unpenalized = objectives.build("supervised", setup,
                                   **{**config_lib.options(c.objective), "l2": 0.0})
    g0, (m0, _) = grad(unpenalized.loss, keys)
    np.testing.assert_array_equal(m0["adversarial_loss"], m["adversarial_loss"])  # same attack
    penalty = jax.grad(lambda p: l2 * losses.l2_penalty(p))(state.params)
    jax.tree.map(lambda a, b, p: np.testing.assert_allclose(
        a - b, p, rtol=1e-3, atol=1e-6 * float(jnp.abs(a).max())), g, g0, penalty)
    assert all(float(jnp.abs(p).max()) > 100 * 1e-6 * float(jnp.abs(a).max())
               for a, p in zip(jax.tree.leaves(g), jax.tree.leaves(penalty)) if p.ndim > 1)
    # the attack's random start is the ADVERSARIAL key's, and only it
    again, (m_again, _) = grad(loss, keys)
    other, (m_other, _) = grad(loss, _Swapped(keys, rng.ADVERSARIAL, jax.random.PRNGKey(7)))
    same_otherwise, (m_same, _) = grad(loss, _Swapped(keys, rng.AUGMENT, jax.random.PRNGKey(7)))
    jax.tree.map(np.testing.assert_array_equal, (again, m_again), (g, m))
    jax.tree.map(np.testing.assert_array_equal, (same_otherwise, m_same), (g, m))
    assert float(m_other["adversarial_loss"]) != float(m["adversarial_loss"])


def test_adversarial_gradient_is_the_gradient_at_the_fixed_attacked_batch():
    """stop_gradient: d/dθ L(θ, x'(θ)) is taken at fixed x' (no derivative through the
    attack), x' the PGD attack on the objective's own loss from the ADVERSARIAL key."""
    c, run, state, (x, y) = _setup("mlp", gradient=ADV)
    loss, keys = run.objective.loss, _keys(state, 3)

    def loss_fn(x, y):
        return loss(state.params, state.model_state, state.target, (x, y), keys)[0]

    x_adv = jax.jit(lambda x, y: attacks.pgd(loss_fn, x, y, keys(rng.ADVERSARIAL), 0.2, 0.05, 5,
                                             "linf", True))(x, y)
    assert float(jnp.abs(x_adv - x).max()) <= 0.2 + 1e-6 and float(jnp.abs(x_adv - x).max()) > 0.1
    g, _ = jax.jit(lambda p: run.gradient(loss, p, state.model_state, state.target, (x, y),
                                          keys))(state.params)
    ref, _ = jax.grad(loss, has_aux=True)(state.params, state.model_state, state.target,
                                          (x_adv, y), keys)
    # the same ops, compiled in one program or eagerly: rounding may differ
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), g, ref)
    # The frozen old step's adversarial gradient is the same math, not op for op: its attack
    # maximized the data loss alone (the penalty is constant in x: the same attack) and it
    # added the penalty after the pass; so equal within float32 rounding.
    old = reference_step.make_objective(run.model, old_loss(c), True)
    g_old, _ = jax.grad(old, has_aux=True)(state.params, state.model_state, (x, y),
                                           keys(rng.DROPOUT), keys(rng.ADVERSARIAL))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), g, g_old)


def test_adversarial_training_draws_its_attack_from_the_adversarial_purpose():
    """A run with PGD training is deterministic, and its attack key is the ADVERSARIAL one:
    replaying step 0 by hand with step_key(root, ADVERSARIAL, 0) gives its params (and
    with another purpose's key, not)."""
    c, run, _, _ = _setup("mlp", gradient=dict(attack="pgd", eps=0.1, step_size=0.05, steps=3))
    data = run.device_data()
    first, metrics = run.train_chunk(run.init(rng.root_key(0)), data, 1)
    again, _ = run.train_chunk(run.init(rng.root_key(0)), data, 1)
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(first.params),
                 jax.device_get(again.params))
    assert "adversarial_loss" in metrics
    s0 = run.init(rng.root_key(0))
    x, y = pipeline.batch_at(data, rng.purpose_key(s0.key, rng.DATA_ORDER), 0, c.batch_size)
    keys = _keys(s0, 0)
    loss = run.objective.loss

    def replay(attack_key):
        frozen = jax.lax.stop_gradient(s0.params)
        x_adv = attacks.pgd(lambda x, y: loss(frozen, s0.model_state, s0.target, (x, y), keys)[0],
                            x, y, attack_key, 0.1, 0.05, 3, "linf", True)
        grads, _ = jax.grad(loss, has_aux=True)(s0.params, s0.model_state, s0.target,
                                                (x_adv, y), keys)
        updates, _ = run.optimizer.update(grads, s0.opt_state, s0.params)
        return jax.device_get(jax.tree.map(lambda p, u: p + u, s0.params, updates))

    expected = replay(rng.step_key(s0.key, rng.ADVERSARIAL, 0))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                 jax.device_get(first.params), expected)
    wrong = replay(rng.step_key(s0.key, rng.DROPOUT, 0))
    assert not all(np.allclose(a, b, rtol=1e-6, atol=1e-7) for a, b in zip(
        jax.tree.leaves(jax.device_get(first.params)), jax.tree.leaves(wrong)))


def test_adversarial_options_split_vectorized_groups_and_a_group_trains():
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps, c.chunk_size = 3, 3
    points = [{"gradient.name": "plain"},
              {"gradient.name": "adversarial", "gradient.attack": "pgd", "gradient.eps": 0.1},
              {"gradient.name": "adversarial", "gradient.attack": "pgd", "gradient.eps": 0.2}]
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
    for method in ("plain", "adversarial"):
        c = config_lib.default()
        c.steps, c.eval_every = 1000, 0
        if method == "adversarial":
            c = _adversarial(c, attack="pgd", eps=0.2, step_size=0.05, steps=7)
        run = loop.build(c)
        state, _ = run.train_chunk(run.init(rng.root_key(0)), run.device_data(), c.steps)
        f = functools.partial(lambda s, x: models.apply(
            run.model, s.params, s.model_state, x, train=False)[0], state)
        x, y = jnp.asarray(run.dataset.x_test), jnp.asarray(run.dataset.y_test)
        pgd = adv.pgd_attack(adv.mean_loss(f), 0.2, 0.025, 20)
        accuracies[method] = float(adv.robust_accuracy(lambda x, k: f(x), pgd, x, y, KEY))
    assert accuracies["adversarial"] > accuracies["plain"] + 0.15, accuracies
