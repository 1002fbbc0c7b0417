"""Uncertainty and tests for the book's comparisons, from statsmodels and scipy.

Base and tuned models answer the same items, so comparisons are paired: McNemar's exact test
for accuracy, and a paired permutation test (swapping the two models' answers item by item)
with a paired bootstrap CI for any other metric, ECE included.
"""
from __future__ import annotations

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
    """Percentile bootstrap over items: statistic takes an index array into the items."""
    res = sps.bootstrap((np.arange(n_items),), lambda idx: statistic(idx.astype(int)),
                        vectorized=False, n_resamples=n_resamples, confidence_level=1 - alpha,
                        method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


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
