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


# ------------------------------------------------------------------ debiased l2, Brier decomposition, AUROC
# References: `uncertainty-calibration` (Kumar, Liang & Ma 2019's own code, import `calibration`)
# and scikit-learn. Continuous confidences keep values off the bin boundaries, where the
# reference's bins (right-closed) and ours (left-closed) would differ.

def _miscalibrated(seed, n=500):
    rng = np.random.default_rng(seed)
    conf = rng.uniform(size=n)
    labels = (rng.uniform(size=n) < conf ** 2).astype(int)  # overconfident at mid confidence
    return conf, labels


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("n_bins", [10, 15])
def test_l2_debiased_and_plugin_match_kumar_reference(seed, n_bins):
    import calibration  # pinned in requirements.txt: the independent reference
    conf, labels = _miscalibrated(seed)
    # its get_equal_bins puts boundaries midway between np.array_split chunks of the sorted
    # values: our "mass" binning when values are distinct
    ref = dict(num_bins=n_bins, binning_scheme=calibration.get_equal_bins)
    assert metrics.l2_calibration_error_debiased(conf, labels, n_bins, "mass") == pytest.approx(
        calibration.lower_bound_scaling_ce(conf, labels, p=2, debias=True, **ref), abs=1e-12)
    assert metrics.rms_calibration_error(conf, labels, n_bins, "mass") == pytest.approx(
        calibration.lower_bound_scaling_ce(conf, labels, p=2, debias=False, **ref), abs=1e-12)
    assert metrics.ece(conf, labels, n_bins, "mass") == pytest.approx(
        calibration.get_ece_em(conf, labels, num_bins=n_bins), abs=1e-12)
    assert metrics.ece(conf, labels, n_bins, "width") == pytest.approx(
        calibration.get_ece(conf, labels, num_bins=n_bins), abs=1e-12)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_l2_debiased_sparse_bins_match_kumar_reference(seed):
    # 30 points in 20 equal-width bins: empty and single-point bins, which contribute 0
    import calibration  # pinned in requirements.txt: the independent reference
    conf, labels = _miscalibrated(seed, n=30)
    assert metrics.l2_calibration_error_debiased(conf, labels, 20, "width") == pytest.approx(
        calibration.lower_bound_scaling_ce(conf, labels, p=2, debias=True, num_bins=20,
                                           binning_scheme=calibration.get_equal_prob_bins),
        abs=1e-12)


def test_l2_debiased_is_nearer_zero_than_plugin_when_calibrated():
    debiased, plugin = [], []
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        conf = rng.uniform(size=20_000)
        correct = rng.uniform(size=conf.size) < conf
        debiased.append(metrics.l2_calibration_error_debiased(conf, correct))
        plugin.append(metrics.rms_calibration_error(conf, correct))
    # the plug-in's floor is sampling noise, ~sqrt(10 * 1/6 / 20000) ~ 0.009
    assert np.mean(plugin) > 0.006
    assert np.mean(debiased) < 0.5 * np.mean(plugin)


@pytest.mark.parametrize("binning", ["mass", "width"])
def test_brier_decomposition_brier_and_reliability_match_references(binning):
    conf, labels = _miscalibrated(7, n=1000)
    parts = metrics.brier_decomposition(conf, labels, 10, binning)
    assert set(parts) == {"brier", "reliability", "resolution", "uncertainty", "within_bin"}
    assert parts["brier"] == pytest.approx(brier_score_loss(labels, conf), abs=1e-12)
    assert parts["uncertainty"] == pytest.approx(labels.mean() * (1 - labels.mean()))
    assert parts["reliability"] == pytest.approx(
        metrics.rms_calibration_error(conf, labels, 10, binning) ** 2, abs=1e-12)
    assert (parts["reliability"] - parts["resolution"] + parts["uncertainty"]
            + parts["within_bin"]) == pytest.approx(parts["brier"], abs=1e-12)
    if binning == "mass":
        import calibration  # pinned in requirements.txt: the independent reference
        assert parts["reliability"] == pytest.approx(calibration.lower_bound_scaling_ce(
            conf, labels, p=2, debias=False, num_bins=10,
            binning_scheme=calibration.get_equal_bins) ** 2, abs=1e-12)


def test_brier_decomposition_is_exact_for_one_value_per_bin():
    rng = np.random.default_rng(8)
    conf = rng.choice((np.arange(10) + 0.5) / 10, size=2000)  # one forecast value per width bin
    correct = (rng.uniform(size=conf.size) < conf ** 1.3).astype(int)
    parts = metrics.brier_decomposition(conf, correct, 10, "width")
    assert abs(parts["within_bin"]) < 1e-12
    assert parts["reliability"] - parts["resolution"] + parts["uncertainty"] == pytest.approx(
        brier_score_loss(correct, conf), abs=1e-12)
    # Murphy's terms by hand, grouping on the forecast value itself
    values, inverse, counts = np.unique(conf, return_inverse=True, return_counts=True)
    freq = np.bincount(inverse, weights=correct) / counts
    w = counts / conf.size
    assert parts["reliability"] == pytest.approx(np.sum(w * (values - freq) ** 2), abs=1e-12)
    assert parts["resolution"] == pytest.approx(np.sum(w * (freq - correct.mean()) ** 2), abs=1e-12)


def test_brier_decomposition_constant_forecast_has_no_resolution():
    rng = np.random.default_rng(9)
    correct = (rng.uniform(size=400) < 0.3).astype(int)
    parts = metrics.brier_decomposition(np.full(400, 0.6), correct, 10, "width")
    assert parts["resolution"] == 0.0
    assert abs(parts["within_bin"]) < 1e-12
    assert parts["reliability"] == pytest.approx((0.6 - correct.mean()) ** 2)


def test_auroc_hand_computed_with_a_tie():
    # correct {.9, .8} vs wrong {.8, .1}: pairs 1, 1, 1/2 (tie), 1
    assert metrics.auroc([0.9, 0.8, 0.8, 0.1], [1, 1, 0, 0]) == pytest.approx(3.5 / 4)


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_auroc_matches_sklearn_with_ties(seed):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    conf = np.round(rng.uniform(size=300), 1)  # 11 values: many ties
    correct = (rng.uniform(size=conf.size) < conf).astype(int)
    assert metrics.auroc(conf, correct) == pytest.approx(roc_auc_score(correct, conf), abs=1e-12)


def test_auroc_single_class_is_nan():
    assert np.isnan(metrics.auroc([0.2, 0.7, 0.9], [1, 1, 1]))
    assert np.isnan(metrics.auroc([0.2, 0.7, 0.9], [0, 0, 0]))
