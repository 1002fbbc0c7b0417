"""Calibration and accuracy metrics: small pure functions on arrays (HELM style: the name says
which binning). `conf` is a predicted probability, `correct` 0/1 of the same length.

Kadavath et al. (2022) bin *all* answer options (each option's probability against whether it
is the correct one) in 10 equal-mass bins; the top-1 view (confidence of the chosen option
against its correctness, Guo et al. 2017) is the other common reading. Both are offered.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

BINNINGS = ("mass", "width")


def _bins(conf: np.ndarray, n_bins: int, binning: str) -> np.ndarray:
    """Bin index per prediction: equal-mass (sorted, near-equal counts) or equal-width."""
    if binning == "mass":
        order = np.argsort(conf, kind="stable")
        index = np.empty(len(conf), dtype=int)
        for b, chunk in enumerate(np.array_split(order, n_bins)):
            index[chunk] = b
        return index
    if binning == "width":
        return np.clip((conf * n_bins).astype(int), 0, n_bins - 1)
    raise ValueError(f"binning must be one of {BINNINGS}, got {binning!r}")


def reliability_table(conf, correct, n_bins: int = 10, binning: str = "mass") -> pd.DataFrame:
    """Per non-empty bin: count, mean confidence, observed frequency, and a Wilson 95% CI."""
    from statsmodels.stats.proportion import proportion_confint

    conf, correct = np.asarray(conf, float), np.asarray(correct, float)
    frame = pd.DataFrame({"bin": _bins(conf, n_bins, binning), "conf": conf, "correct": correct})
    table = frame.groupby("bin").agg(n=("conf", "size"), conf=("conf", "mean"),
                                     freq=("correct", "mean"), hits=("correct", "sum")).reset_index()
    lo, hi = proportion_confint(table["hits"], table["n"], alpha=0.05, method="wilson")
    return table.assign(lo=lo, hi=hi).drop(columns="hits")


def _gaps(conf, correct, n_bins: int, binning: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin counts and (frequency - confidence) gaps; numpy only, as it runs in resampling."""
    conf, correct = np.asarray(conf, float), np.asarray(correct, float)
    index = _bins(conf, n_bins, binning)
    n = np.bincount(index, minlength=n_bins)
    gap = np.bincount(index, weights=correct - conf, minlength=n_bins)
    filled = n > 0
    return n[filled], gap[filled] / n[filled]


def ece(conf, correct, n_bins: int = 10, binning: str = "mass") -> float:
    """Expected calibration error: count-weighted mean |frequency - confidence| over bins."""
    n, gap = _gaps(conf, correct, n_bins, binning)
    return float(np.sum(n * np.abs(gap)) / n.sum())


def rms_calibration_error(conf, correct, n_bins: int = 10, binning: str = "mass") -> float:
    """Kadavath et al.'s RMS calibration error: sqrt of the count-weighted mean squared gap."""
    n, gap = _gaps(conf, correct, n_bins, binning)
    return float(np.sqrt(np.sum(n * gap ** 2) / n.sum()))


def _bin_means(conf, correct, n_bins: int, binning: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per non-empty bin: count, mean confidence, observed frequency (the bins of `_bins`)."""
    conf, correct = np.asarray(conf, float), np.asarray(correct, float)
    index = _bins(conf, n_bins, binning)
    n = np.bincount(index, minlength=n_bins)
    filled = n > 0
    mean_conf = np.bincount(index, weights=conf, minlength=n_bins)[filled] / n[filled]
    freq = np.bincount(index, weights=correct, minlength=n_bins)[filled] / n[filled]
    return n[filled], mean_conf, freq


def l2_calibration_error_debiased(conf, correct, n_bins: int = 10, binning: str = "mass") -> float:
    """Debiased l2 calibration error (Kumar, Liang & Ma 2019, "Verified uncertainty calibration").

    The plug-in estimate (`rms_calibration_error`) is biased upward: even a perfectly
    calibrated model shows a squared gap of about ybar_b (1 - ybar_b) / n_b per bin, sampling
    noise in the bin's observed frequency, so it shrinks only as 1/n and dominates at small n.
    This subtracts each bin's (unbiased) sampling variance from its squared gap:

        sqrt(max(0, sum_b w_b * (gap_b**2 - ybar_b (1 - ybar_b) / (n_b - 1)))),

    w_b = n_b / n, gap_b = mean confidence - frequency, ybar_b = frequency in bin b. Bins with
    fewer than 2 predictions contribute 0 (as the reference implementation does); the sum is
    clipped at 0 before the root, so a well-calibrated model can score exactly 0.
    """
    n, gap = _gaps(conf, correct, n_bins, binning)
    _, _, freq = _bin_means(conf, correct, n_bins, binning)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(n >= 2, gap ** 2 - freq * (1 - freq) / (n - 1), 0.0)
    return float(np.sqrt(max(0.0, np.sum(n * term) / n.sum())))


def brier_decomposition(conf, correct, n_bins: int = 10, binning: str = "mass") -> dict[str, float]:
    """Murphy's (1973) decomposition of the binary Brier score mean((conf - correct)**2), with
    the forecasts grouped into bins (w_b = n_b / n, ybar_b the bin's frequency, ybar overall):

        reliability = sum_b w_b (mean conf_b - ybar_b)**2   (lower is better; = RMS CE**2)
        resolution  = sum_b w_b (ybar_b - ybar)**2          (higher is better)
        uncertainty = ybar (1 - ybar)                       (the data's, not the model's)

    brier = reliability - resolution + uncertainty + within_bin. `within_bin` is the term the
    binning leaves (the within-bin variance of the forecasts less twice their within-bin
    covariance with the outcomes, Stephenson et al. 2008); it is 0 when every bin holds one
    forecast value, and may be of either sign.
    """
    conf, correct = np.asarray(conf, float), np.asarray(correct, float)
    n, mean_conf, freq = _bin_means(conf, correct, n_bins, binning)
    w = n / n.sum()
    ybar = float(correct.mean())
    score = float(np.mean((conf - correct) ** 2))
    reliability = float(np.sum(w * (mean_conf - freq) ** 2))
    resolution = float(np.sum(w * (freq - ybar) ** 2))
    uncertainty = ybar * (1 - ybar)
    return {"brier": score, "reliability": reliability, "resolution": resolution,
            "uncertainty": uncertainty,
            "within_bin": score - (reliability - resolution + uncertainty)}


def auroc(conf, correct) -> float:
    """Area under the ROC curve of confidence as a detector of correct answers: the chance a
    random correct answer has higher confidence than a random wrong one, ties counting 1/2
    (Mann-Whitney U / (n1 n0), from mid-ranks). NaN when all answers are correct or all
    wrong: with one class there is nothing to separate."""
    conf, correct = np.asarray(conf, float), np.asarray(correct, bool)
    n1 = int(correct.sum())
    n0 = len(correct) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = sps.rankdata(conf)  # average ranks: ties count 1/2
    u = ranks[correct].sum() - n1 * (n1 + 1) / 2
    return float(u / (n1 * n0))


def brier(probs: np.ndarray, answer: np.ndarray) -> float:
    """Multi-class Brier score: mean over items of the squared distance to the one-hot answer."""
    probs = np.asarray(probs, float)
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(probs)), np.asarray(answer, int)] = 1.0
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def nll(probs: np.ndarray, answer: np.ndarray) -> float:
    probs = np.asarray(probs, float)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(probs)), np.asarray(answer, int)], 1e-300, None))))


def selective_accuracy(conf, correct, coverages=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)) -> pd.DataFrame:
    """Accuracy on the most confident fraction of items, for each coverage."""
    conf, correct = np.asarray(conf, float), np.asarray(correct, float)
    order = np.argsort(-conf, kind="stable")
    rows = []
    for c in coverages:
        k = max(1, int(round(c * len(conf))))
        rows.append({"coverage": c, "n": k, "accuracy": float(correct[order[:k]].mean())})
    return pd.DataFrame(rows)


def selective_auc(conf, correct) -> float:
    """Area under the accuracy-coverage curve over every coverage 1/n..1 (higher: confidence
    ranks right answers first)."""
    conf, correct = np.asarray(conf, float), np.asarray(correct, float)
    order = np.argsort(-conf, kind="stable")
    running = np.cumsum(correct[order]) / np.arange(1, len(conf) + 1)
    return float(running.mean())


# ------------------------------------------------------------------ temperature

def probs_at_temperature(logprobs: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of logprobs / T over each item's options (rows may be NaN-padded)."""
    logprobs = np.asarray(logprobs, float)
    missing = np.isnan(logprobs)
    probs = np.exp(log_softmax(np.where(missing, -np.inf, logprobs / temperature), axis=1))
    probs[missing] = np.nan  # padding stays padding: it is no option and no prediction
    return probs


def fit_temperature(logprobs: np.ndarray, answer: np.ndarray, bounds=(0.05, 20.0)) -> float:
    """The T that minimizes the negative log-likelihood of the answers (Guo et al. 2017)."""
    result = minimize_scalar(lambda t: nll(probs_at_temperature(logprobs, t), answer),
                             bounds=bounds, method="bounded", options={"xatol": 1e-4})
    return float(result.x)


# ------------------------------------------------------------------ tables

def item_arrays(items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(logprob matrix NaN-padded to the largest option count, answer index) from a per-item
    table with columns `logprobs` (list) and `answer`."""
    width = int(items["logprobs"].map(len).max())
    matrix = np.full((len(items), width), np.nan)
    for i, row in enumerate(items["logprobs"]):
        matrix[i, :len(row)] = row
    return matrix, items["answer"].to_numpy(int)


def calibration_views(probs: np.ndarray, answer: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(conf, correct) for the two readings: 'all_options' (Kadavath) and 'top1'."""
    valid = ~np.isnan(probs)
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(probs)), answer] = 1.0
    pred = np.nanargmax(probs, axis=1)
    return {"all_options": (probs[valid], onehot[valid]),
            "top1": (np.nanmax(probs, axis=1), (pred == answer).astype(float))}


def summarize(probs: np.ndarray, answer: np.ndarray, n_bins: int = 10) -> dict[str, float]:
    """The calibration report of one model on one task: names say the binning (mass or
    width, n_bins bins) and the reading (all options, or top-1)."""
    views = calibration_views(probs, answer)
    conf1, correct1 = views["top1"]
    conf_all, correct_all = views["all_options"]
    filled = np.nan_to_num(probs)
    return {
        "n": len(answer),
        "accuracy": float(correct1.mean()),
        "chance": float(np.mean(1.0 / (~np.isnan(probs)).sum(axis=1))),
        "ece_mass_all": ece(conf_all, correct_all, n_bins, "mass"),
        "ece_width_all": ece(conf_all, correct_all, n_bins, "width"),
        "rms_ce_mass_all": rms_calibration_error(conf_all, correct_all, n_bins, "mass"),
        "ece_mass_top1": ece(conf1, correct1, n_bins, "mass"),
        "ece_width_top1": ece(conf1, correct1, n_bins, "width"),
        "brier": brier(filled, answer),
        "nll": nll(filled, answer),
        "mean_confidence": float(conf1.mean()),
        "selective_auc": selective_auc(conf1, correct1),
    }


# ------------------------------------------------------------------ distributions

def js_divergence(p, q, axis: int = -1):
    """Jensen-Shannon divergence in bits, in [0, 1]: the *square* of scipy's Jensen-Shannon
    distance with base 2 (0.5 KL(p||m) + 0.5 KL(q||m), m the average). Rows along `axis` are
    normalized to sum 1 first; zero cells are fine."""
    from scipy.spatial.distance import jensenshannon

    value = jensenshannon(np.asarray(p, float), np.asarray(q, float), base=2, axis=axis) ** 2
    return float(value) if np.ndim(value) == 0 else value


def normalize_options(frame: pd.DataFrame, column: str = "logprob", by: str = "item_id",
                      out: str = "prob") -> pd.DataFrame:
    """Probabilities over each item's options (softmax of the log-probabilities), and the mass
    the options held before normalizing. Pure: returns a new table."""
    frame = frame.copy()
    group = frame.groupby(by, sort=False)[column]
    peak = group.transform("max")
    shifted = (frame[column] - peak).map(math.exp)
    total = shifted.groupby(frame[by], sort=False).transform("sum")
    frame[out] = shifted / total
    frame["option_mass"] = (peak + total.map(math.log)).map(math.exp)
    return frame


# ------------------------------------------------------------------ agreement between distributions

def pearson_pooled(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation over the trailing two axes (all state x message cells pooled);
    leading axes are kept (bootstrap replicates)."""
    a = a.reshape(*a.shape[:-2], -1)
    b = b.reshape(*b.shape[:-2], -1)
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis (per state, across messages); NaN for a
    constant row."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def entropy_bits(p: np.ndarray) -> np.ndarray:
    return sps.entropy(p, base=2, axis=-1)


def slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS slope of y on x along the last axis (x shared)."""
    x = np.asarray(x, float) - np.mean(x)
    y = y - y.mean(-1, keepdims=True)
    return (y * x).sum(-1) / (x * x).sum()


# ------------------------------------------------------------------ free answers (SQuAD / CoQA)

def normalize_answer(text: str) -> str:
    """SQuAD's normalisation (lm-eval's coqa uses it): lower case, no punctuation, no articles,
    single spaces."""
    import re
    import string

    text = "".join(ch for ch in str(text).lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def exact_match(prediction: str, references) -> float:
    """1.0 where the normalised answer equals a normalised reference."""
    return float(any(normalize_answer(prediction) == normalize_answer(r) for r in references))


def token_f1(prediction: str, references) -> float:
    """The best token-overlap F1 against the references (SQuAD)."""
    from collections import Counter

    def f1(a: str, b: str) -> float:
        pa, pb = normalize_answer(a).split(), normalize_answer(b).split()
        if not pa or not pb:
            return float(pa == pb)
        common = sum((Counter(pa) & Counter(pb)).values())
        if common == 0:
            return 0.0
        precision, recall = common / len(pa), common / len(pb)
        return 2 * precision * recall / (precision + recall)

    return max((f1(prediction, r) for r in references), default=0.0)


def rouge_l_f1(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (longest common subsequence of tokens), Google's rouge-score package, no
    stemming: the summarisation literature's reference-based quality reading."""
    from rouge_score import rouge_scorer

    return float(rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False).score(reference, prediction)["rougeL"].fmeasure)
