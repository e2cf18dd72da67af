"""Bias–variance decompositions (jaxdl/probes/bias_variance.py), checked by hand, and
MNIST-1D label noise (jaxdl/data/mnist1d.py, shared with teacher.py via _util)."""
import math

import numpy as np
import pytest

from jaxdl import data, losses
from jaxdl.data import _util
from jaxdl.probes import bias_variance as bv

# ---------------------------------------------------------------- MSE


def test_mse_terms_by_hand() -> None:
    # Two members, one example, two classes, label 0. f = (1/2, 1/2).
    # loss: member 1 fits exactly (0), member 2 is off by (-1, 1): ||.||^2 = 2 -> mean 1, /k = 1/2.
    # bias² = ||(1/2 - 1, 1/2)||^2 / 2 = 1/4; variance = mean(1/2, 1/2) / 2 = 1/4.
    probs = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    terms = bv.mse_terms(probs, np.array([0]))
    assert terms.mean() == pytest.approx({"loss": 0.5, "bias": 0.25, "variance": 0.25,
                                          "noise": 0.0})


def test_mse_loss_is_the_members_mean_jaxdl_mse() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10), size=(4, 50))
    y = rng.integers(10, size=50)
    terms = bv.mse_terms(probs, y)
    ours = np.mean([np.asarray(losses.mse(p.astype(np.float32), y)) for p in probs], axis=0)
    np.testing.assert_allclose(terms.loss, ours, rtol=1e-5)
    np.testing.assert_allclose(terms.bias + terms.variance + terms.noise, terms.loss, rtol=1e-12)


def test_mse_noise_of_a_soft_label() -> None:
    # A member that predicts the label's distribution p = (1/2, 1/2) exactly: bias 0,
    # variance 0, and the loss of a label drawn from p, E||e_y - p||^2 / 2 = (1/4 + 1/4) / 2.
    probs = np.full((3, 1, 2), 0.5)
    terms = bv.mse_terms(probs, np.array([[0.5, 0.5]]))
    assert terms.mean() == pytest.approx({"loss": 0.25, "bias": 0.0, "variance": 0.0,
                                          "noise": 0.25})


# ---------------------------------------------------------------- cross-entropy


def test_cross_entropy_terms_by_hand() -> None:
    # q1 = (1/2, 1/2), q2 = (1/5, 4/5), label 0. Geometric mean (sqrt(1/10), sqrt(4/10)) =
    # sqrt(1/10) (1, 2): g = (1/3, 2/3), Z = 3 / sqrt(10).
    # bias = KL(e_0 || g) = log 3; variance = -log Z = log(10) / 2 - log 3;
    # loss = (log 2 + log 5) / 2 = log(10) / 2 = bias + variance.
    log_q = np.log(np.array([[[0.5, 0.5]], [[0.2, 0.8]]]))
    terms = bv.cross_entropy_terms(log_q, np.array([0]))
    assert terms.mean() == pytest.approx({"loss": math.log(10) / 2, "bias": math.log(3),
                                          "variance": math.log(10) / 2 - math.log(3),
                                          "noise": 0.0}, rel=1e-12)
    log_g, log_z = bv.geometric_mean(log_q)
    np.testing.assert_allclose(np.exp(log_g), [[1 / 3, 2 / 3]], rtol=1e-12)


def test_cross_entropy_variance_is_mean_kl_from_the_geometric_mean() -> None:
    rng = np.random.default_rng(1)
    log_q = bv.log_softmax(3 * rng.standard_normal((5, 40, 10)))
    labels = rng.dirichlet(np.ones(10), size=40)  # soft labels: noise = H(p) > 0
    terms = bv.cross_entropy_terms(log_q, labels)
    log_g, _ = bv.geometric_mean(log_q)
    kl = np.sum(np.exp(log_g)[None] * (log_g[None] - log_q), axis=2).mean(axis=0)
    np.testing.assert_allclose(terms.variance, kl, rtol=1e-10)
    np.testing.assert_allclose(terms.noise, -np.sum(labels * np.log(labels), axis=1), rtol=1e-12)
    ce = -np.mean(np.sum(labels[None] * log_q, axis=2), axis=0)
    np.testing.assert_allclose(terms.loss, ce, rtol=1e-12)
    np.testing.assert_allclose(terms.bias + terms.variance + terms.noise, terms.loss, rtol=1e-10)
    assert np.all(terms.variance >= 0) and np.all(terms.bias >= 0)


def test_cross_entropy_loss_is_the_members_mean_jaxdl_cross_entropy() -> None:
    rng = np.random.default_rng(2)
    logits = 4 * rng.standard_normal((3, 30, 10)).astype(np.float32)
    y = rng.integers(10, size=30)
    terms = bv.cross_entropy_terms(bv.log_softmax(logits), y)
    ours = np.mean([np.asarray(losses.cross_entropy(z, y)) for z in logits], axis=0)
    np.testing.assert_allclose(terms.loss, ours, rtol=1e-5)


def test_confident_members_give_finite_terms() -> None:
    # Interpolating nets give probabilities that underflow float32; from log-probabilities
    # the terms stay finite. Member 1 is sure of class 0 (log q_1 = -300), member 2 of
    # class 1 (log q_0 = -200): mean log q = (-100, -150), so g = (1, e^-50) nearly,
    # log Z = -100 + log(1 + e^-50): the loss (0 + 200) / 2 is all variance, no bias.
    log_q = np.array([[[0.0, -300.0]], [[-200.0, 0.0]]])
    terms = bv.cross_entropy_terms(log_q, np.array([0]))
    assert terms.mean() == pytest.approx({"loss": 100.0, "bias": math.exp(-50),
                                          "variance": 100.0 - math.exp(-50), "noise": 0.0},
                                         rel=1e-12, abs=1e-12)


def test_identical_members_have_no_variance() -> None:
    rng = np.random.default_rng(3)
    one = bv.log_softmax(rng.standard_normal((1, 20, 10)))
    members = np.repeat(one, 4, axis=0)
    y = rng.integers(10, size=20)
    for terms in (bv.cross_entropy_terms(members, y), bv.mse_terms(np.exp(members), y)):
        np.testing.assert_allclose(terms.variance, 0.0, atol=1e-12)
        np.testing.assert_allclose(terms.bias, terms.loss, rtol=1e-12)
    assert np.all(bv.zero_one_terms(members, y)["variance"] == 0)


# ---------------------------------------------------------------- 0-1


def test_zero_one_terms_by_hand() -> None:
    # Example 0: members predict 0, 0, 1; label 1 -> mode 0 (wrong), 1/3 disagree, 2/3 wrong.
    # Example 1: members predict 2, 2, 2; label 2 -> all right, no disagreement.
    scores = np.zeros((3, 2, 3))
    for m, (a, b) in enumerate([(0, 2), (0, 2), (1, 2)]):
        scores[m, 0, a] = scores[m, 1, b] = 1.0
    terms = bv.zero_one_terms(scores, np.array([1, 2]))
    np.testing.assert_allclose(terms["error"], [2 / 3, 0])
    np.testing.assert_allclose(terms["bias"], [1, 0])
    np.testing.assert_allclose(terms["variance"], [1 / 3, 0])


def test_ensemble_mode_breaks_ties_to_the_lower_class() -> None:
    assert bv.ensemble_mode(np.array([[3], [1]]), 4).tolist() == [1]
    assert bv.ensemble_mode(np.array([[2], [2], [0]]), 4).tolist() == [2]


@pytest.mark.parametrize("call, match", [
    (lambda: bv.mse_terms(np.ones((2, 3)), np.array([0, 1])), r"\[members, n, classes\]"),
    (lambda: bv.cross_entropy_terms(np.zeros((2, 3, 4)), np.array([0, 9, 1])), r"\[0, 4\)"),
    (lambda: bv.cross_entropy_terms(np.zeros((2, 3, 4)), np.array([0, 1])), "3"),
    (lambda: bv.mse_terms(np.zeros((2, 1, 2)), np.array([[0.5, 0.6]])), "summing to 1"),
    (lambda: bv.zero_one_terms(np.zeros((2, 1, 2)), np.array([[0.5, 0.5]])), "class ids"),
])
def test_bad_inputs_are_one_line_errors(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------- MNIST-1D label noise

SMALL = {"num_samples": 4000}


def test_label_noise_default_leaves_the_published_arrays_bit_identical() -> None:
    published = data.load("mnist1d")
    explicit = data.load("mnist1d", label_noise=0.0, label_noise_seed=7)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert getattr(explicit, name) is getattr(published, name)  # the cached arrays themselves


def test_label_noise_resamples_training_labels_only() -> None:
    clean = data.load("mnist1d", **SMALL)
    noisy = data.load("mnist1d", **SMALL, label_noise=0.5)
    np.testing.assert_array_equal(noisy.x_train, clean.x_train)
    np.testing.assert_array_equal(noisy.x_test, clean.x_test)
    np.testing.assert_array_equal(noisy.y_test, clean.y_test)
    changed = noisy.y_train != clean.y_train
    # 3200 labels, each redrawn with p = 0.5 and then different with p = 0.9: 45% ± 0.9% (std).
    assert abs(changed.mean() - 0.45) < 0.035
    # The new labels are uniform over the 10 classes, whatever the old one was.
    counts = np.bincount(noisy.y_train[changed], minlength=10)
    assert counts.min() > 0.6 * counts.mean()
    assert noisy.y_train.dtype == np.int32 and not noisy.y_train.flags.writeable


def test_label_noise_levels_are_nested_and_seeded() -> None:
    clean = data.load("mnist1d", **SMALL)
    low = data.load("mnist1d", **SMALL, label_noise=0.15)
    high = data.load("mnist1d", **SMALL, label_noise=0.4)
    changed_low = low.y_train != clean.y_train
    # Every label changed at 0.15 is changed at 0.4, to the same class.
    np.testing.assert_array_equal(high.y_train[changed_low], low.y_train[changed_low])
    assert (high.y_train != clean.y_train).sum() > 2 * changed_low.sum()
    again = data.load("mnist1d", **SMALL, label_noise=0.15)
    np.testing.assert_array_equal(again.y_train, low.y_train)
    other = data.load("mnist1d", **SMALL, label_noise=0.15, label_noise_seed=1)
    assert 0.3 * changed_low.sum() > np.sum((other.y_train != clean.y_train) & changed_low)
    # The draws are np.random.default_rng(label_noise_seed)'s: u < p, then a class.
    rng = np.random.default_rng(0)
    u, new = rng.random(3200), rng.integers(10, size=3200)
    np.testing.assert_array_equal(low.y_train, np.where(u < 0.15, new, clean.y_train))


@pytest.mark.parametrize("options, key", [({"label_noise": 1.5}, "label_noise"),
                                          ({"label_noise": -0.1}, "label_noise"),
                                          ({"label_noise_seed": -1}, "label_noise_seed")])
def test_label_noise_bad_values_name_the_option(options, key) -> None:
    with pytest.raises(ValueError, match=f"^{key} must be"):
        data.load("mnist1d", **SMALL, **options)


def test_label_noise_is_a_config_option() -> None:
    from jaxdl import config as config_lib
    from jaxdl.training import loop
    c = config_lib.load(None, ["data.num_samples=4000", "data.label_noise=0.2"])
    assert c.data.label_noise == 0.2 and c.data.label_noise_seed == 0
    with pytest.raises(config_lib.ConfigError, match="config.data.label_noise: must be"):
        loop.build(config_lib.load(None, ["data.num_samples=4000", "data.label_noise=2.0"]))


def test_teacher_label_noise_is_unchanged_by_the_shared_helper() -> None:
    # teacher.py's noise as it was before _util.resample_labels: same draws, same bits.
    options = dict(n=500, d=5, num_classes=4, test_size=10, seed=3)
    clean = data.load("teacher", **options)
    noisy = data.load("teacher", **options, noise=0.3)
    rng = _util.streams(3, 4)[3]
    redraw = rng.random(500) < 0.3
    expected = np.where(redraw, rng.integers(4, size=500).astype(np.int32), clean.y_train)
    np.testing.assert_array_equal(noisy.y_train, expected)
