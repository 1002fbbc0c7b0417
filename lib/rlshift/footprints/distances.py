"""How far two footprints are apart, aspect by aspect: the Jensen-Shannon distance (base 2, in
[0, 1]) between their pooled distributions, a bootstrap interval (texts resampled within each
corpus) and a permutation null (texts' corpus labels shuffled).

JS between two finite samples is above zero even when both come from one distribution, and more
so for sparse aspects (lemmas, POS trigrams) and small corpora; the permutation null measures
that floor, and `excess` (observed minus the null's mean) is the size of the difference beyond it.
Sparse aspects are read over the pooled `top_k` most frequent units plus one `<other>` bucket."""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
import pandas as pd

from rlshift import stats
from rlshift.footprints.properties import Footprint

# Every aspect is a count per text over units (a text's sentence-length bins, tags, lemmas, its
# sentiment band or topic); the footprint's table holds the per-text values behind some of them.
ASPECTS = ("sentence_length", "pos", "pos_trigram", "lemma", "sentiment_vader", "sentiment_model", "topic")
OTHER = "<other>"


def vocabulary(counters: Sequence[Counter], top_k: int) -> list[str]:
    total = Counter()
    for c in counters:
        total.update(c)
    return [unit for unit, _ in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]]


def count_matrix(counters: Sequence[Counter], vocab: Sequence[str]) -> np.ndarray:
    """texts x (units + <other>) counts."""
    index = {u: i for i, u in enumerate(vocab)}
    out = np.zeros((len(counters), len(vocab) + 1))
    for row, c in enumerate(counters):
        for unit, n in c.items():
            out[row, index.get(unit, len(vocab))] += n
    return out


def js_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2) between matching rows of two count arrays; NaN where a
    row is empty."""
    from scipy.spatial.distance import jensenshannon

    p, q = np.atleast_2d(p), np.atleast_2d(q)
    empty = (p.sum(axis=1) == 0) | (q.sum(axis=1) == 0)
    safe_p = np.where(empty[:, None], 1.0, p)
    safe_q = np.where(empty[:, None], 1.0, q)
    return np.where(empty, np.nan, jensenshannon(safe_p, safe_q, base=2, axis=1))


def js_distance(p, q) -> float:
    """Jensen-Shannon distance (base 2) between two count or probability vectors."""
    return float(js_rows(np.asarray(p, float), np.asarray(q, float))[0])


def distribution(counters: Sequence[Counter], top_k: int | None = None) -> pd.Series:
    """The pooled distribution of one aspect (shares; the top_k units and <other> when given)."""
    vocab = vocabulary(counters, top_k or 10**9)
    totals = count_matrix(counters, vocab).sum(axis=0)
    series = pd.Series(totals, index=[*vocab, OTHER])
    series = series[series > 0] if top_k is None or series[OTHER] == 0 else series
    return series / series.sum() if series.sum() else series



def basic_interval(observed: float, draws: np.ndarray) -> tuple[float, float]:
    """The basic (reverse percentile) bootstrap interval: a resampled corpus repeats texts, which
    shrinks its variety and biases JS upward; reflecting the draws about the estimate corrects
    that bias to first order, where a percentile interval may miss the estimate altogether."""
    if not np.isfinite(draws).any():
        return np.nan, np.nan
    q_low, q_high = np.nanquantile(draws, [0.025, 0.975])
    return float(2 * observed - q_high), float(2 * observed - q_low)


def compare_counts(a: np.ndarray, b: np.ndarray, n_boot: int, seed: int) -> dict:
    """JS between the pooled rows of two texts x units arrays, its bootstrap interval, the
    permutation null's mean and the one-sided permutation p (distance at least as large)."""
    rng = np.random.default_rng(seed)
    observed = js_distance(a.sum(axis=0), b.sum(axis=0))
    boot = js_rows(stats.resample_weights(rng, len(a), n_boot) @ a, stats.resample_weights(rng, len(b), n_boot) @ b)
    pooled = np.vstack([a, b])
    labels = np.zeros((n_boot, len(pooled)), dtype=bool)
    labels[:, :len(a)] = True
    labels = rng.permuted(labels, axis=1)
    null = js_rows(labels.astype(float) @ pooled, (~labels).astype(float) @ pooled)
    low, high = basic_interval(observed, boot)
    low, high = max(low, 0.0), min(high, 1.0)  # a distance's own range
    valid = null[np.isfinite(null)]
    return {"js": observed, "js_low": float(low), "js_high": float(high), "null_mean": float(valid.mean()),
            "excess": observed - float(valid.mean()),
            "p_perm": float((1 + np.sum(valid >= observed - 1e-12)) / (1 + len(valid)))}


def compare(a: Footprint, b: Footprint, aspects: Sequence[str] = ASPECTS, n_boot: int = 1000, seed: int = 0,
            top_k: int = 300) -> pd.DataFrame:
    """One row per aspect both footprints carry: n texts, JS, interval, null mean, excess, p."""
    rows = []
    for aspect in aspects:
        if aspect not in a.counts or aspect not in b.counts or not len(a) or not len(b):
            continue
        vocab = vocabulary(a.counts[aspect] + b.counts[aspect], top_k)
        result = compare_counts(count_matrix(a.counts[aspect], vocab), count_matrix(b.counts[aspect], vocab),
                                n_boot, seed)
        rows.append({"aspect": aspect, "n_a": len(a), "n_b": len(b), **result})
    return pd.DataFrame(rows, columns=["aspect", "n_a", "n_b", "js", "js_low", "js_high", "null_mean", "excess",
                                       "p_perm"])
