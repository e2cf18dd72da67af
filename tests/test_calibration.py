"""Calibration and classification metrics against hand-computed values: ECE on six
examples (with confidences on bin edges), ~0 on calibrated data and the known gap on
overconfident data, P/R/F1, average precision, coverage and the risk-coverage curve."""
import numpy as np
import pytest

from jaxdl.probes import calibration

# Six examples, three classes. Top-label confidence / correct:
#   0.9 yes, 0.85 no, 0.7 yes, 0.4 no (on the edge 0.4), 0.45 yes, 0.6 no (on the edge 0.6)
PROBS = np.array([[0.9, 0.05, 0.05], [0.85, 0.1, 0.05], [0.1, 0.7, 0.2],
                  [0.35, 0.25, 0.4], [0.2, 0.45, 0.35], [0.6, 0.3, 0.1]])
LABELS = np.array([0, 1, 1, 0, 1, 2])


def test_ece_by_hand_with_right_closed_bins():
    # 5 bins ((m-1)/5, m/5]: 0.4 -> (0.2, 0.4], 0.6 -> (0.4, 0.6].
    # (0.2,0.4]: {0.4 wrong} gap 0.4; (0.4,0.6]: {0.45 yes, 0.6 no} conf 0.525 acc 0.5;
    # (0.6,0.8]: {0.7 yes} gap 0.3; (0.8,1]: {0.9 yes, 0.85 no} conf 0.875 acc 0.5.
    # ECE = (1*0.4 + 2*0.025 + 1*0.3 + 2*0.375) / 6 = 1.5 / 6
    assert calibration.expected_calibration_error(PROBS, LABELS, bins=5) == pytest.approx(0.25)
    diagram = calibration.reliability(PROBS, LABELS, bins=5)
    np.testing.assert_array_equal(diagram.count, [0, 1, 2, 1, 2])
    np.testing.assert_allclose(diagram.confidence[1:], [0.4, 0.525, 0.7, 0.875])
    np.testing.assert_allclose(diagram.accuracy[1:], [0.0, 0.5, 1.0, 0.5])
    assert np.isnan(diagram.confidence[0]) and np.isnan(diagram.accuracy[0])
    # one bin: |accuracy - mean confidence| = |0.5 - 3.9/6|
    assert calibration.expected_calibration_error(PROBS, LABELS, bins=1) == pytest.approx(0.15)


def synthetic(n, k, shift, seed):
    """Top-class confidence c ~ U(1/k + 0.05, 1); the label is the top class with
    probability c - shift, else another class at random: calibrated when shift = 0."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(1 / k + 0.05, 1, n)
    top = rng.integers(k, size=n)
    probs = np.repeat(((1 - c) / (k - 1))[:, None], k, axis=1)
    probs[np.arange(n), top] = c
    hit = rng.uniform(size=n) < c - shift
    other = (top + rng.integers(1, k, size=n)) % k
    return probs, np.where(hit, top, other)


def test_ece_is_zero_on_calibrated_data_and_the_gap_on_overconfident_data():
    probs, labels = synthetic(200_000, 4, 0.0, seed=0)
    assert calibration.expected_calibration_error(probs, labels) < 0.005
    # accuracy = confidence - 0.2 in every bin (c >= 0.3 keeps c - 0.2 a probability)
    probs, labels = synthetic(200_000, 4, 0.2, seed=1)
    assert calibration.expected_calibration_error(probs, labels) == pytest.approx(0.2, abs=0.005)


def test_precision_recall_f1_by_hand():
    # predictions 0 0 1 2 1 0 against labels 0 1 1 0 1 2
    m = calibration.classification_metrics(PROBS, LABELS)
    np.testing.assert_allclose(m["precision"], [1 / 3, 1.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(m["recall"], [1 / 2, 2 / 3, 0.0], rtol=1e-6)
    np.testing.assert_allclose(m["f1"], [0.4, 0.8, 0.0], rtol=1e-6)
    assert m["f1_macro"] == pytest.approx(0.4) and m["accuracy"] == pytest.approx(0.5)


def test_average_precision_by_hand():
    p1 = np.array([0.9, 0.8, 0.7, 0.4, 0.3])
    probs = np.stack([1 - p1, p1, np.zeros(5)], axis=1)  # class 2 never occurs
    labels = np.array([1, 0, 1, 1, 0])
    ap = calibration.average_precision(probs, labels)
    # class 1 ranked + - + + -: precisions at the hits 1, 2/3, 3/4
    # class 0 (scores 0.7, 0.6, 0.3, 0.2, 0.1 for + - - + -): precisions 1, 2/4
    np.testing.assert_allclose(ap["per_class"][:2], [0.75, 29 / 36])
    assert np.isnan(ap["per_class"][2])
    assert ap["macro"] == pytest.approx((0.75 + 29 / 36) / 2)


def test_coverage_and_risk_coverage_by_hand():
    coverage, accuracy = calibration.coverage_at(PROBS, LABELS, 0.7)  # 0.9, 0.85, 0.7
    assert (coverage, accuracy) == (pytest.approx(0.5), pytest.approx(2 / 3))
    assert calibration.coverage_at(PROBS, LABELS, 0.95) == (0.0, pytest.approx(np.nan, nan_ok=True))
    curve = calibration.risk_coverage(PROBS, LABELS)  # correct in order: 1 0 1 0 1 0
    np.testing.assert_allclose(curve.coverage, np.arange(1, 7) / 6)
    np.testing.assert_allclose(curve.risk, [0, 1 / 2, 1 / 3, 2 / 4, 2 / 5, 3 / 6])
    assert curve.area == pytest.approx((0 + 1 / 2 + 1 / 3 + 2 / 4 + 2 / 5 + 3 / 6) / 6)
    # tied confidences enter together: no threshold separates them
    tied = calibration.risk_coverage(np.array([[0.8, 0.2], [0.8, 0.2], [0.6, 0.4]]),
                                     np.array([1, 0, 0]))
    np.testing.assert_allclose(tied.coverage, [2 / 3, 1.0])
    np.testing.assert_allclose(tied.risk, [1 / 2, 1 / 3])


def test_bad_input_is_one_line_naming_it():
    with pytest.raises(ValueError, match="pass jax.nn.softmax"):
        calibration.expected_calibration_error(np.log(PROBS), LABELS)
    with pytest.raises(ValueError, match="^labels: "):
        calibration.reliability(PROBS, LABELS + 1)
    with pytest.raises(ValueError, match="^probs: expected shape"):
        calibration.reliability(PROBS[:, 0], LABELS)


def test_reliability_plot_has_a_bar_per_filled_bin():
    fig = calibration.plot_reliability(calibration.reliability(PROBS, LABELS, bins=5))
    ax = fig.axes[0]
    assert len(ax.patches) == 4 and "ECE 0.2500" in ax.get_title()
