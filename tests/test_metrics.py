import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from rlshift import metrics


def test_ece_hand_computed_equal_width():
    conf = np.array([0.05, 0.15, 0.95, 0.85, 0.9])
    correct = np.array([0, 1, 1, 0, 1])
    # width bins (10): 0.05->0, 0.15->1, 0.85->8, 0.9->9, 0.95->9
    # bin0: conf .05 freq 0 gap .05; bin1: .15 vs 1 gap .85; bin8: .85 vs 0 gap .85;
    # bin9: conf .925 vs freq 1 gap .075 (n=2)
    expected = (0.05 + 0.85 + 0.85 + 2 * 0.075) / 5
    assert metrics.ece(conf, correct, 10, "width") == pytest.approx(expected)


def test_ece_hand_computed_equal_mass():
    conf = np.array([0.1, 0.2, 0.3, 0.4])
    correct = np.array([0, 0, 1, 1])
    # 2 equal-mass bins: {.1,.2} conf .15 freq 0; {.3,.4} conf .35 freq 1
    assert metrics.ece(conf, correct, 2, "mass") == pytest.approx((2 * 0.15 + 2 * 0.65) / 4)
    assert metrics.rms_calibration_error(conf, correct, 2, "mass") == pytest.approx(
        np.sqrt((2 * 0.15 ** 2 + 2 * 0.65 ** 2) / 4))


def test_perfectly_calibrated_has_near_zero_ece():
    rng = np.random.default_rng(0)
    conf = rng.uniform(size=200_000)
    correct = rng.uniform(size=conf.size) < conf
    assert metrics.ece(conf, correct, 10, "mass") < 0.005
    assert metrics.ece(conf, correct, 10, "width") < 0.005


@pytest.mark.parametrize("binning,strategy", [("width", "uniform"), ("mass", "quantile")])
def test_reliability_table_matches_sklearn(binning, strategy):
    rng = np.random.default_rng(1)
    conf = rng.beta(2, 2, size=1000)
    correct = (rng.uniform(size=conf.size) < conf ** 1.5).astype(int)
    table = metrics.reliability_table(conf, correct, 10, binning)
    freq, mean_conf = calibration_curve(correct, conf, n_bins=10, strategy=strategy)
    np.testing.assert_allclose(table["freq"], freq, atol=1e-12)
    np.testing.assert_allclose(table["conf"], mean_conf, atol=1e-12)
    assert (table["lo"] <= table["freq"]).all() and (table["freq"] <= table["hi"]).all()


def test_brier_two_options_matches_sklearn():
    rng = np.random.default_rng(2)
    p1 = rng.uniform(size=50)
    answer = (rng.uniform(size=50) < 0.5).astype(int)
    probs = np.column_stack([1 - p1, p1])
    # multi-class Brier sums over both options: twice the binary Brier score
    assert metrics.brier(probs, answer) == pytest.approx(2 * brier_score_loss(answer, p1))


def test_selective_accuracy_and_auc():
    conf = np.array([0.9, 0.8, 0.7, 0.6])
    correct = np.array([1, 1, 0, 0])
    table = metrics.selective_accuracy(conf, correct, coverages=(0.5, 1.0))
    assert table["accuracy"].tolist() == [1.0, 0.5]
    assert metrics.selective_auc(conf, correct) == pytest.approx((1 + 1 + 2 / 3 + 0.5) / 4)


def test_fit_temperature_recovers_the_generating_temperature():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(4000, 4)) * 3
    true_t = 2.5
    probs = np.exp(logits / true_t) / np.exp(logits / true_t).sum(1, keepdims=True)
    answer = np.array([rng.choice(4, p=p) for p in probs])
    fitted = metrics.fit_temperature(logits, answer)
    assert fitted == pytest.approx(true_t, rel=0.08)
    before = metrics.calibration_views(metrics.probs_at_temperature(logits, 1.0), answer)["all_options"]
    after = metrics.calibration_views(metrics.probs_at_temperature(logits, fitted), answer)["all_options"]
    assert metrics.ece(*after) < metrics.ece(*before)


def test_nan_padded_rows_keep_their_own_option_count():
    logprobs = np.array([[0.0, 0.0, np.nan], [0.0, 0.0, 0.0]])
    probs = metrics.probs_at_temperature(logprobs, 1.0)
    np.testing.assert_allclose(probs[0], [0.5, 0.5, np.nan])
    report = metrics.summarize(probs, np.array([0, 2]))
    assert report["chance"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    conf, correct = metrics.calibration_views(probs, np.array([0, 2]))["all_options"]
    assert len(conf) == 5 and correct.sum() == 2  # the padded slot is not a prediction
