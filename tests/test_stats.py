import numpy as np
import pytest

from rlshift import metrics, stats


def test_mcnemar_counts_discordant_pairs():
    a = np.array([1, 1, 1, 0, 0, 1, 0, 1])
    b = np.array([1, 0, 0, 0, 1, 0, 0, 0])
    res = stats.mcnemar_test(a, b)
    assert (res["a_only"], res["b_only"]) == (4, 1)
    # exact two-sided binomial test of 1 vs 4 discordant pairs: 2 * P(X <= 1 | n=5, p=.5)
    assert res["p_value"] == pytest.approx(2 * (1 + 5) / 32)


def test_wilson_interval_contains_estimate():
    lo, hi = stats.wilson(30, 100)
    assert lo < 0.3 < hi and hi - lo < 0.2


def _ece_metric(pool, idx):
    conf, correct = metrics.calibration_views(pool[idx, :-1], pool[idx, -1].astype(int))["all_options"]
    return metrics.ece(conf, correct)


def _tables(rng, n, temperature):
    logits = rng.normal(size=(n, 4)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    answer = np.array([rng.choice(4, p=p) for p in probs])
    shown = metrics.probs_at_temperature(logits, temperature)
    return np.column_stack([shown, answer]), np.column_stack([probs, answer])


def test_paired_difference_detects_a_real_calibration_gap():
    rng = np.random.default_rng(0)
    overconfident, calibrated = _tables(rng, 400, temperature=0.3)
    res = stats.paired_difference(_ece_metric, overconfident, calibrated, n_resamples=300)
    assert res["difference"] > 0.05
    assert res["ci_low"] > 0 and res["p_value"] < 0.01


def test_paired_difference_no_gap_is_not_significant():
    rng = np.random.default_rng(1)
    a, _ = _tables(rng, 300, temperature=1.0)
    res = stats.paired_difference(_ece_metric, a, a.copy(), n_resamples=200)
    assert res["difference"] == 0 and res["p_value"] > 0.5


def _cells(rng, n=60):
    base_raw = rng.normal(size=n)
    return {("base", "raw"): base_raw, ("base", "chat"): base_raw + 1.0,
            ("tuned", "raw"): base_raw + 2.0, ("tuned", "chat"): base_raw + 3.0 + 0.5 * rng.normal(size=n)}


def test_factorial_contrasts_match_the_cell_means_and_resample_items_jointly():
    rng = np.random.default_rng(3)
    cells = _cells(rng)
    rows = {r["contrast"]: r for r in stats.factorial_contrasts(np.mean, cells, n_resamples=400)}
    m = {k: v.mean() for k, v in cells.items()}
    assert rows["tuning | raw"]["estimate"] == pytest.approx(m[("tuned", "raw")] - m[("base", "raw")])
    assert rows["format | tuned"]["estimate"] == pytest.approx(m[("tuned", "chat")] - m[("tuned", "raw")])
    assert rows["interaction"]["estimate"] == pytest.approx(
        m[("tuned", "chat")] - m[("base", "chat")] - m[("tuned", "raw")] + m[("base", "raw")])
    assert rows["confounded (tuned chat - base raw)"]["estimate"] == pytest.approx(
        m[("tuned", "chat")] - m[("base", "raw")])
    # base chat and tuned raw are base raw shifted by a constant: if the items were not resampled
    # jointly, the bootstrap would spread these contrasts; paired, they never move
    assert rows["tuning | raw"]["ci_low"] == pytest.approx(2.0) and rows["tuning | raw"]["ci_high"] == pytest.approx(2.0)
    assert rows["format | base"]["p_value"] < 0.01
    with pytest.raises(ValueError, match="same items"):
        stats.factorial_contrasts(np.mean, {**cells, ("base", "chat"): cells[("base", "chat")][:-1]})


def test_holm_matches_the_step_down_by_hand():
    p = [0.01, 0.04, np.nan, 0.03]
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1, made monotone: 0.03, 0.06, 0.06
    np.testing.assert_allclose(stats.holm(p), [0.03, 0.06, np.nan, 0.06])


def test_random_effects_pools_homogeneous_tasks_as_inverse_variance_weights():
    """Tasks that agree beyond their noise: tau^2 = 0 and the pooled effect is the
    inverse-variance mean with SE 1/sqrt(sum w) (computed by hand); spread-out tasks widen it."""
    from scipy.stats import norm

    est = np.array([0.10, 0.12, 0.11])
    se = np.array([0.05, 0.04, 0.06])
    z = norm.ppf(0.975)
    res = stats.random_effects(est, est - z * se, est + z * se)
    w = 1 / se ** 2
    assert res["tau2"] == pytest.approx(0.0, abs=1e-12) and res["k"] == 3
    assert res["estimate"] == pytest.approx((w * est).sum() / w.sum())
    assert res["ci_high"] - res["estimate"] == pytest.approx(z / np.sqrt(w.sum()))
    spread = stats.random_effects(np.array([-0.3, 0.1, 0.5]), np.array([-0.3, 0.1, 0.5]) - z * se,
                                  np.array([-0.3, 0.1, 0.5]) + z * se)
    assert spread["tau2"] > 0 and spread["ci_high"] - spread["ci_low"] > res["ci_high"] - res["ci_low"]
    assert 0 <= spread["i2"] <= 1


def test_shape_ks_test_holds_its_level_and_finds_a_second_mode():
    rng = np.random.default_rng(0)
    p_same = [stats.shape_ks_test(rng.normal(3, 2, 30), rng.normal(-1, 0.5, 40), n_resamples=199, seed=i)[1]
              for i in range(100)]
    assert 0.0 <= np.mean(np.array(p_same) < 0.05) <= 0.12  # same shape, other location and scale: ~5% rejections
    bimodal = np.concatenate([rng.normal(-3, 0.5, 40), rng.normal(3, 0.5, 40)])
    stat, p = stats.shape_ks_test(bimodal, rng.normal(0, 1, 80), n_resamples=499)
    assert p < 0.01 and stat > 0.2
