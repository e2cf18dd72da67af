"""Each loss, penalty and metric against a value computed by hand."""
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import losses

LOGITS = jnp.array([[1.0, 2.0, 3.0]])


def test_cross_entropy_by_hand():
    # log(e^1 + e^2 + e^3) - 3 = log(1 + e^-1 + e^-2)
    expected = np.log(1 + np.exp(-1) + np.exp(-2))
    np.testing.assert_allclose(losses.cross_entropy(LOGITS, jnp.array([2])), [expected], rtol=1e-6)


def test_cross_entropy_label_smoothing_by_hand():
    # smoothing 0.3 over 3 classes: targets (0.1, 0.1, 0.8); loss = LSE - <t, f>
    lse = 3 + np.log(1 + np.exp(-1) + np.exp(-2))
    expected = lse - (0.1 * 1 + 0.1 * 2 + 0.8 * 3)
    got = losses.cross_entropy(LOGITS, jnp.array([2]), label_smoothing=0.3)
    np.testing.assert_allclose(got, [expected], rtol=1e-6)


def test_mse_one_hot_and_regression_by_hand():
    outputs = jnp.array([[0.5, -1.0, 2.0]])
    # target (1, 0, 0): errors 0.25, 1, 4 -> mean 1.75
    np.testing.assert_allclose(losses.mse(outputs, jnp.array([0])), [1.75])
    # float targets are used as they are
    np.testing.assert_allclose(losses.mse(outputs, jnp.array([[0.5, 0.0, 0.0]])), [5.0 / 3])


@pytest.mark.parametrize("logits,label,expected", [
    ([1.0, 2.0, 3.0], 0, 3.0),   # 1 + 3 - 1
    ([1.0, 2.0, 3.0], 2, 0.0),   # margin 1 met exactly
    ([1.0, 2.0, 2.5], 2, 0.5),   # 1 + 2 - 2.5
])
def test_hinge_by_hand(logits, label, expected):
    got = losses.hinge(jnp.array([logits]), jnp.array([label]))
    np.testing.assert_allclose(got, [expected], atol=1e-6)


def test_penalties_skip_biases():
    params = {"dense": {"kernel": jnp.array([[1.0, -2.0]]), "bias": jnp.array([5.0])}}
    assert float(losses.l1_penalty(params)) == 3.0
    assert float(losses.l2_penalty(params)) == 2.5


def test_precision_recall_f1_by_hand():
    logits = jnp.eye(2)[jnp.array([0, 0, 1, 1, 1, 1])] * 5
    labels = jnp.array([0, 0, 0, 1, 1, 1])
    confusion = losses.confusion_matrix(logits, labels, 2)
    np.testing.assert_array_equal(confusion, [[2, 1], [0, 3]])
    m = losses.precision_recall_f1(confusion)
    np.testing.assert_allclose(m["precision"], [1.0, 0.75])
    np.testing.assert_allclose(m["recall"], [2 / 3, 1.0], rtol=1e-6)
    np.testing.assert_allclose(m["f1"], [0.8, 6 / 7], rtol=1e-6)
    np.testing.assert_allclose(losses.accuracy(logits, labels), [1, 1, 0, 1, 1, 1])


def test_confusion_mask_drops_padding():
    logits = jnp.eye(2)[jnp.array([0, 1, 1])]
    labels = jnp.array([0, 1, 0])
    confusion = losses.confusion_matrix(logits, labels, 2, mask=jnp.array([1.0, 1.0, 0.0]))
    np.testing.assert_array_equal(confusion, [[1, 0], [0, 1]])
