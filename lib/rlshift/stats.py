"""Uncertainty and tests for the book's comparisons, from statsmodels and scipy.

Base and tuned models answer the same items, so comparisons are paired: McNemar's exact test
for accuracy, and a paired permutation test (swapping the two models' answers item by item)
with a paired bootstrap CI for any other metric, ECE included.
"""
from __future__ import annotations

import warnings

from typing import Callable

import numpy as np
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint


def wilson(hits: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    lo, hi = proportion_confint(hits, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def bootstrap_ci(statistic: Callable[[np.ndarray], float], n_items: int, seed: int = 0,
                 n_resamples: int = 2000, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap over items: statistic takes an index array into the items. Where scipy
    gives NaN, the interval is read from the resamples with a value: all equal (a perfect
    separation) gives that value; resamples where the statistic is undefined (an AUROC of a
    resample with one class) are left out, if at most half of them are."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=sps.DegenerateDataWarning)
        res = sps.bootstrap((np.arange(n_items),), lambda idx: statistic(idx.astype(int)),
                            vectorized=False, n_resamples=n_resamples, confidence_level=1 - alpha,
                            method="percentile", random_state=np.random.default_rng(seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    spread = np.asarray(res.bootstrap_distribution, float)
    finite = spread[np.isfinite(spread)]
    if np.isnan(low) and len(finite) >= len(spread) / 2:
        low, high = (float(v) for v in np.percentile(finite, [100 * alpha / 2, 100 * (1 - alpha / 2)]))
    return low, high


def mean_ci(x, seed: int = 0, n_resamples: int = 2000) -> tuple[float, float, float]:
    """The mean of x (NaN left out) and its percentile-bootstrap 95% interval; NaN bounds below 2 values."""
    x = np.asarray(x, float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return (float(x.mean()) if len(x) else np.nan), np.nan, np.nan
    lo, hi = bootstrap_ci(lambda idx: float(x[idx].mean()), len(x), seed, n_resamples)
    return float(x.mean()), lo, hi


def sign_flip_p(d, alternative: str = "two-sided", seed: int = 0, n_resamples: int = 2000) -> float:
    """Paired differences' sign-flip permutation p-value for a zero mean (NaN below 2 values)."""
    d = np.asarray(d, float)
    if len(d) < 2:
        return np.nan
    return float(sps.permutation_test((d,), np.mean, permutation_type="samples", alternative=alternative,
                                      n_resamples=n_resamples, random_state=np.random.default_rng(seed)).pvalue)


def mcnemar_test(correct_a, correct_b) -> dict:
    """Exact McNemar test on paired correctness (0/1 arrays over the same items)."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    result = mcnemar(table, exact=True)
    return {"a_only": table[0][1], "b_only": table[1][0], "p_value": float(result.pvalue)}


def paired_difference(metric: Callable[[np.ndarray, np.ndarray], float], data_a, data_b,
                      seed: int = 0, n_resamples: int = 2000) -> dict:
    """metric(data, idx) on model a minus model b, over the same items: the observed
    difference, a paired bootstrap 95% CI, and a two-sided paired permutation p-value.

    data_a and data_b are per-item arrays (first axis = items) that `metric` reads by index.
    """
    n = len(data_a)
    pooled = np.concatenate([np.asarray(data_a), np.asarray(data_b)])

    def diff(x, y):  # x, y: indices into pooled (the permutation swaps a_i and b_i)
        return metric(pooled, x.astype(int)) - metric(pooled, y.astype(int))

    observed = diff(np.arange(n), np.arange(n, 2 * n))
    perm = sps.permutation_test((np.arange(n), np.arange(n, 2 * n)), diff, vectorized=False,
                                permutation_type="samples", n_resamples=n_resamples,
                                alternative="two-sided", random_state=np.random.default_rng(seed))
    lo, hi = bootstrap_ci(lambda idx: metric(pooled, idx) - metric(pooled, idx + n), n, seed, n_resamples)
    return {"difference": float(observed), "ci_low": lo, "ci_high": hi, "p_value": float(perm.pvalue)}


# ------------------------------------------------------------------ distributions and resampling

def bimodality_coefficient(x) -> float:
    """Sarle's bimodality coefficient (g^2 + 1) / (k + 3 (n-1)^2 / ((n-2)(n-3))), with the
    sample skewness g and excess kurtosis k (bias-corrected); above 5/9 (0.555, a uniform
    distribution's value) suggests bimodality."""
    x = np.asarray(x, float)
    n = len(x)
    if n < 4 or np.ptp(x) == 0:
        return float("nan")
    g = sps.skew(x, bias=False)
    k = sps.kurtosis(x, fisher=True, bias=False)
    return float((g ** 2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


def dip_test(x) -> tuple[float, float]:
    """Hartigan's dip statistic and its p-value against the uniform null (the most unimodal-
    looking unimodal law, as Hartigan & Hartigan 1985 recommend; `diptest` package, table
    interpolation, so deterministic)."""
    import diptest

    x = np.asarray(x, float)
    if len(x) < 4 or np.ptp(x) == 0:
        return float("nan"), float("nan")
    dip, p = diptest.diptest(x)
    return float(dip), float(p)


def shape_ks_test(x, y, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Do x and y differ in shape (location and scale removed)? The KS statistic between the
    two samples each standardised by its own mean and sd, with a permutation p-value: the pooled
    standardised values are reassigned to groups of the same sizes and re-standardised within
    each, since scipy's KS p-value is invalid once mean and sd are estimated from the data."""
    from scipy import stats as sps

    def z(v):
        return (v - v.mean()) / v.std(ddof=1)

    x, y = z(np.asarray(x, float)), z(np.asarray(y, float))
    observed = sps.ks_2samp(x, y).statistic
    pooled, rng, hits = np.concatenate([x, y]), np.random.default_rng(seed), 0
    for _ in range(n_resamples):
        perm = rng.permutation(pooled)
        a, b = perm[:len(x)], perm[len(x):]
        if np.ptp(a) > 0 and np.ptp(b) > 0:
            hits += sps.ks_2samp(z(a), z(b)).statistic >= observed - 1e-12
        else:
            hits += 1
    return float(observed), (hits + 1) / (n_resamples + 1)


def gmm_bic(x, seed: int = 0) -> dict:
    """A 1- and a 2-component Gaussian mixture fitted by maximum likelihood (scikit-learn);
    BIC of each (lower is better), and the 2-component fit's means and weights."""
    from sklearn.mixture import GaussianMixture

    x = np.asarray(x, float).reshape(-1, 1)
    if len(x) < 6 or np.ptp(x) == 0:
        return {"bic_1": np.nan, "bic_2": np.nan, "delta_bic": np.nan, "means_2": [], "weights_2": []}
    fits = {k: GaussianMixture(n_components=k, n_init=3, random_state=seed).fit(x) for k in (1, 2)}
    bic = {k: float(f.bic(x)) for k, f in fits.items()}
    order = np.argsort(fits[2].means_.ravel())
    return {"bic_1": bic[1], "bic_2": bic[2], "delta_bic": bic[1] - bic[2],
            "means_2": fits[2].means_.ravel()[order].round(4).tolist(),
            "weights_2": fits[2].weights_.ravel()[order].round(3).tolist()}


def auc(good, bad) -> float:
    """P(reward of a good response > reward of a bad one) over all good x bad combinations,
    ties counted half: the ROC AUC of reward as a score for 'good'."""
    from scipy.stats import mannwhitneyu

    good, bad = np.asarray(good, float), np.asarray(bad, float)
    if not len(good) or not len(bad):
        return float("nan")
    return float(mannwhitneyu(good, bad, alternative="two-sided").statistic / (len(good) * len(bad)))


def auc_ci(good, bad, seed, n_resamples) -> dict:
    """AUC with a stratified bootstrap CI (good and bad resampled separately) and the
    Mann-Whitney test of AUC = 0.5 (exact where the samples are small and untied). With few
    answers the bootstrap interval degenerates (all resamples separate perfectly): the test's
    p-value is the one to read there."""
    from scipy.stats import mannwhitneyu

    if len(good) < 2 or len(bad) < 2:
        return {"auc": np.nan, "auc_low": np.nan, "auc_high": np.nan, "auc_p": np.nan}
    rng = np.random.default_rng(seed)
    boot = [auc(rng.choice(good, len(good)), rng.choice(bad, len(bad))) for _ in range(n_resamples)]
    lo, hi = np.quantile(boot, [0.025, 0.975])
    p = float(mannwhitneyu(good, bad, alternative="two-sided").pvalue)
    return {"auc": auc(good, bad), "auc_low": float(lo), "auc_high": float(hi), "auc_p": p}


def percentile_interval(values: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the first axis (bootstrap replicates)."""
    return np.nanquantile(values, alpha / 2, axis=0), np.nanquantile(values, 1 - alpha / 2, axis=0)


def bootstrap_p(diff: np.ndarray) -> float:
    """Two-sided bootstrap p-value of a difference being 0: twice the smaller share of
    resamples on either side of 0, counted as (k + 1) / (n + 1) so that it is never 0."""
    diff = diff[~np.isnan(diff)]
    k = min(int(np.sum(diff <= 0)), int(np.sum(diff >= 0)))
    return float(min(1.0, 2 * (k + 1) / (len(diff) + 1)))


def resample_weights(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """[n_boot, n] how often each unit is drawn in each bootstrap resample."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)


# ------------------------------------------------------------------ the 2x2 of format x tuning

def factorial_effects(values: dict, roles: tuple[str, str] = ("base", "tuned"),
                      formats: tuple[str, str] = ("raw", "chat")) -> dict:
    """The effects of a 2x2 (model role x prompt format) from its four cell values (numbers, or
    arrays of bootstrap replicates, elementwise): the tuning effect within each format, the
    format effect within each model, their interaction, and the confounded contrast a
    one-format-per-model design reports."""
    (b, t), (r, c) = roles, formats
    m = values
    return {f"tuning | {r}": m[(t, r)] - m[(b, r)],
            f"tuning | {c}": m[(t, c)] - m[(b, c)],
            f"format | {b}": m[(b, c)] - m[(b, r)],
            f"format | {t}": m[(t, c)] - m[(t, r)],
            "interaction": (m[(t, c)] - m[(b, c)]) - (m[(t, r)] - m[(b, r)]),
            f"confounded ({t} {c} - {b} {r})": m[(t, c)] - m[(b, r)]}


def factorial_contrasts(metric: Callable[[np.ndarray], float], cells: dict[tuple[str, str], np.ndarray],
                        roles: tuple[str, str] = ("base", "tuned"), formats: tuple[str, str] = ("raw", "chat"),
                        seed: int = 0, n_resamples: int = 2000) -> list[dict]:
    """`factorial_effects` of one metric over the same items, each with a paired bootstrap 95%
    CI (items resampled jointly in all four cells) and a bootstrap p-value.

    cells[(role, fmt)] is a per-item array (first axis = the same items in every cell) that
    `metric` reduces to a number."""
    keys = [(role, fmt) for role in roles for fmt in formats]
    return paired_contrasts(metric, {k: cells[k] for k in keys},
                            lambda values: factorial_effects(values, roles, formats), seed, n_resamples)


def paired_contrasts(metric: Callable[[np.ndarray], float], cells: dict, effects: Callable[[dict], dict],
                     seed: int = 0, n_resamples: int = 2000) -> list[dict]:
    """`effects(values per cell)` of one metric over the same items in every cell, each with a
    paired bootstrap 95% CI (items resampled jointly in all cells) and a bootstrap p-value."""
    arrays = {k: np.asarray(a) for k, a in cells.items()}
    n = len(next(iter(arrays.values())))
    if any(len(a) != n for a in arrays.values()):
        raise ValueError("every cell must hold the same items")
    observed = effects({k: metric(a) for k, a in arrays.items()})
    rng = np.random.default_rng(seed)
    replicates = {k: np.empty(n_resamples) for k in arrays}
    for i in range(n_resamples):
        idx = rng.integers(0, n, n)
        for k, a in arrays.items():
            replicates[k][i] = metric(a[idx])
    boot = effects(replicates)
    rows = []
    for name, estimate in observed.items():
        lo, hi = np.nanquantile(boot[name], [0.025, 0.975])
        rows.append({"contrast": name, "estimate": float(estimate), "ci_low": float(lo),
                     "ci_high": float(hi), "p_value": bootstrap_p(boot[name]), "n": n})
    return rows


def random_effects(estimates, ci_low, ci_high) -> dict:
    """Random-effects meta-analysis (Paule-Mandel tau^2, statsmodels) of per-task effects whose
    95% CIs came from a bootstrap (SE = CI width / 3.92): the pooled effect across tasks with its
    CI and z-test p-value, and the between-task spread (tau^2, I^2)."""
    from scipy.stats import norm
    from statsmodels.stats.meta_analysis import combine_effects

    est = np.asarray(estimates, float)
    var = ((np.asarray(ci_high, float) - np.asarray(ci_low, float)) / (2 * norm.ppf(0.975))) ** 2
    ok = ~np.isnan(est) & (var > 0)
    if ok.sum() < 2:
        return {"k": int(ok.sum()), "estimate": float(est[ok][0]) if ok.any() else np.nan, "ci_low": np.nan,
                "ci_high": np.nan, "p_value": np.nan, "tau2": np.nan, "i2": np.nan}
    res = combine_effects(est[ok], var[ok], method_re="iterated")  # tau^2 >= 0 (statsmodels' "dl" can go negative)
    frame = res.summary_frame()
    row = frame.loc["random effect"]
    z = row["eff"] / row["sd_eff"]
    return {"k": int(ok.sum()), "estimate": float(row["eff"]), "ci_low": float(row["ci_low"]),
            "ci_high": float(row["ci_upp"]), "p_value": float(2 * norm.sf(abs(z))), "tau2": float(res.tau2),
            "i2": float(np.clip(res.i2, 0.0, 1.0))}


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels), NaN kept as NaN."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, float)
    out = np.full(len(p), np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out
