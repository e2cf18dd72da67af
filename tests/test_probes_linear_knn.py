"""Linear probes and kNN on frozen features: claims on features whose answer is known."""
import math

import jax
import numpy as np
import pytest

from jaxdl import models
from jaxdl.probes import knn, linear_probe

KEY = jax.random.PRNGKey(0)


def separable(n, d=8, classes=3, seed=0, margin=0.5):
    """Gaussian features labelled by a random linear rule, keeping the n points whose best
    score beats the runner-up by `margin`: linearly separable with a margin."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4 * n, d)).astype(np.float32)
    scores = x @ rng.normal(size=(d, classes))
    top2 = np.sort(scores, axis=1)[:, -2:]
    keep = np.flatnonzero(top2[:, 1] - top2[:, 0] > margin)[:n]
    assert len(keep) == n
    return x[keep], np.argmax(scores[keep], axis=1).astype(np.int32)


def test_linear_probe_separates_separable_features():
    x, y = separable(800)
    probe = linear_probe.fit_linear_probe(KEY, x[:600], y[:600], x[600:], y[600:], 3,
                                          lr=0.05, max_steps=600, patience=10)
    assert probe.test_accuracy >= 0.99 and probe.train_accuracy >= 0.99
    assert 0 < probe.best_step <= probe.steps <= 600
    # the returned params are the probe that scores test_accuracy
    pred = np.argmax(np.asarray(linear_probe.logits(probe, x[600:])), 1)
    assert np.mean(pred == y[600:]) == pytest.approx(probe.test_accuracy)


def test_linear_probe_on_random_labels_is_at_chance_and_stops_early():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 20)).astype(np.float32)
    y = rng.integers(0, 4, 1000).astype(np.int32)
    probe = linear_probe.fit_linear_probe(KEY, x[:500], y[:500], x[500:], y[500:], 4,
                                          lr=0.05, max_steps=3000, patience=4)
    # chance is 1/4; 500 test examples: 3 standard errors ~ 0.06
    assert abs(probe.test_accuracy - 0.25) < 0.06
    assert probe.steps < 3000  # no validation gain to wait for


def test_linear_probe_is_deterministic_in_its_key_and_minibatches():
    x, y = separable(800)  # the shapes of the test above: its compiled programs are reused
    fit = lambda key, bs: linear_probe.fit_linear_probe(  # noqa: E731
        key, x[:600], y[:600], x[600:], y[600:], 3, lr=0.05, batch_size=bs, max_steps=300)
    a, b = fit(KEY, 32), fit(KEY, 32)
    np.testing.assert_array_equal(a.params["kernel"], b.params["kernel"])
    assert a.test_accuracy == b.test_accuracy >= 0.9
    c = fit(jax.random.PRNGKey(1), 32)  # another validation split and batch order
    assert not np.array_equal(a.params["kernel"], c.params["kernel"])
    assert fit(KEY, 0).test_accuracy >= 0.9  # full batch


def test_validation_split_is_a_partition():
    fit, val = linear_probe.validation_split(KEY, 50, 0.2)
    assert len(val) == 10 and len(fit) == 40
    np.testing.assert_array_equal(np.sort(np.concatenate([fit, val])), np.arange(50))
    again, _ = linear_probe.validation_split(KEY, 50, 0.2)
    np.testing.assert_array_equal(fit, again)
    with pytest.raises(ValueError, match="val_fraction"):
        linear_probe.validation_split(KEY, 50, 1.0)
    x, y = separable(20)
    with pytest.raises(ValueError, match="train_labels must be 20 class ids in"):
        linear_probe.fit_linear_probe(KEY, x, y + 1, x, y, 3)
    with pytest.raises(ValueError, match="patience must be a positive integer"):
        linear_probe.fit_linear_probe(KEY, x, y, x, y, 3, patience=0)


def test_features_by_layer_by_hand():
    model = models.build("mlp", 3, width=5, depth=2)
    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    params = model.init(KEY, x[:1], train=False)["params"]
    feats = linear_probe.features_by_layer(model, params, {}, x, batch_size=3)  # 3 + 3 + 1 (padded)
    # Dense_i: pre-activations; Dropout_i (rate 0, still a module): post-activations
    assert set(feats) == {"Dense_0", "Dropout_0", "Dense_1", "Dropout_1", "Dense_2", "output"}
    w0, b0 = np.asarray(params["Dense_0"]["kernel"]), np.asarray(params["Dense_0"]["bias"])
    np.testing.assert_allclose(feats["Dense_0"], x @ w0 + b0, rtol=1e-5, atol=1e-6)
    h0 = np.maximum(x @ w0 + b0, 0)
    np.testing.assert_allclose(feats["Dropout_0"], h0, rtol=1e-5, atol=1e-6)
    h1 = h0 @ np.asarray(params["Dense_1"]["kernel"]) + np.asarray(params["Dense_1"]["bias"])
    np.testing.assert_allclose(feats["Dense_1"], h1, rtol=1e-5, atol=1e-6)
    logits = model.apply({"params": params}, x, train=False)
    np.testing.assert_allclose(feats["output"], logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(feats["output"], feats["Dense_2"])


def test_probe_every_layer_uses_one_split():
    x, y = separable(800)
    feats = {"good": x, "noise": np.random.default_rng(2).normal(size=x.shape).astype(np.float32)}
    probes = linear_probe.probe_every_layer(KEY, {k: v[:600] for k, v in feats.items()}, y[:600],
                                            {k: v[600:] for k, v in feats.items()}, y[600:], 3,
                                            lr=0.05, max_steps=300)
    assert probes["good"].test_accuracy > probes["noise"].test_accuracy + 0.3


# --- kNN -------------------------------------------------------------------------------------

def test_knn_scores_by_hand():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]], np.float32)
    labels = np.array([0, 1, 1, 0])
    query = np.array([[2.0, 0.5]], np.float32)
    # cosines of the query (direction (4, 1)/sqrt(17)) with the training points
    c = [4 / math.sqrt(17), 1 / math.sqrt(17), 5 / math.sqrt(34), -4 / math.sqrt(17)]
    # k = 2 nearest: points 0 (label 0) and 2 (label 1), weights exp(c / T)
    t = 0.5
    expected = [math.exp(c[0] / t), math.exp(c[2] / t)]
    scores = knn.knn_scores(train, labels, query, 2, k=2, temperature=t)
    np.testing.assert_allclose(scores, [expected], rtol=1e-5)
    # k = 3 adds point 1 (label 1, cos 0.24): class 1 now outvotes class 0
    scores3 = knn.knn_scores(train, labels, query, 2, k=3, temperature=t)
    np.testing.assert_allclose(scores3, [[expected[0], expected[1] + math.exp(c[1] / t)]], rtol=1e-5)
    assert knn.knn_accuracy(train, labels, query, np.array([1]), 2, k=3, temperature=t) == 1.0
    assert knn.knn_accuracy(train, labels, query, np.array([1]), 2, k=1, temperature=t) == 0.0


def test_knn_recovers_clustered_labels_and_batches_do_not_matter():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 16)) * 3
    labels = rng.integers(0, 5, 500)
    feats = (centres[labels] + rng.normal(size=(500, 16))).astype(np.float32)
    acc = knn.knn_accuracy(feats[:400], labels[:400], feats[400:], labels[400:], 5, k=20)
    assert acc >= 0.98
    shuffled = rng.permutation(labels[:400])  # labels unrelated to the geometry: chance
    assert knn.knn_accuracy(feats[:400], shuffled, feats[400:], labels[400:], 5, k=20) < 0.45
    a = knn.knn_scores(feats[:400], labels[:400], feats[400:], 5, batch_size=7)
    b = knn.knn_scores(feats[:400], labels[:400], feats[400:], 5, batch_size=100)
    np.testing.assert_allclose(a, b, rtol=1e-5)
    with pytest.raises(ValueError, match="k must be in"):
        knn.knn_scores(feats[:10], labels[:10], feats[:2], 5, k=11)


def test_as_dense_folds_the_standardization_into_one_linear_layer():
    x, y = separable(300)
    x = x * np.arange(1, 9, dtype=np.float32) + 3.0  # scales and offsets to fold in
    probe = linear_probe.fit_linear_probe(KEY, x[:200], y[:200], x[200:], y[200:], 3,
                                          lr=0.05, max_steps=100)
    dense = linear_probe.as_dense(probe)
    assert dense["kernel"].shape == (8, 3) and dense["bias"].shape == (3,)
    np.testing.assert_allclose(x[200:] @ dense["kernel"] + dense["bias"],
                               linear_probe.logits(probe, x[200:]), rtol=1e-5, atol=1e-4)
