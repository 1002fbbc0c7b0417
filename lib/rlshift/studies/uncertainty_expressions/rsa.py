"""Herbstritt & Franke's speaker model for the simple messages, ported from their
`model/simple/prediction_functions.R` (`predictions.sp`; mic-he/ProbExp-HOU), and fitted by
maximum likelihood with scipy instead of JAGS.

- States: R = 0..10 red balls in the urn, with a beta-binomial prior (alpha = beta = 1: flat,
  the prior of `inputs.p_red`).
- Threshold semantics: 'certainly' is true where R > theta_c * 10, 'certainly not' where
  R < (1 - theta_c) * 10; 'probably' / 'probably not' likewise with theta_p; 'possibly' where
  R > theta_poss * 10.
- Literal listener: the prior restricted to the states where the message is true.
- Speaker belief after seeing o red of a drawn: the prior times the hypergeometric likelihood.
- Expected utility of a message: minus the Hellinger distance between the speaker's belief and
  the literal listener's; the speaker soft-maximizes it with rationality lambda.

R > theta * 10 on integer R only changes where theta * 10 crosses an integer, so a threshold is
identified up to a tenth: the fit searches theta on the midpoints 0.05, 0.15, ..., 0.95 of the
tenths (away from the boundaries, where floating point would decide) and lambda continuously (scipy.optimize, bounded). A source's
choices enter as counts (people) or as probabilities (a model's message distribution, its mean
over paraphrases): the fit maximizes the weighted log-likelihood, the same argmax either way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

from rlshift import metrics, stats

N = 10
GRID = (np.arange(N) + 0.5) / N  # theta candidates, one per tenth (its midpoint): each a different truth set
LAMBDA_BOUNDS = (0.01, 100.0)
# the simple messages (inputs.SIMPLE order), the threshold each uses, and its polarity
MESSAGES = ("certainly not", "probably not", "possibly", "probably", "certainly")
USES = ("certainly", "probably", "possibly", "probably", "certainly")
NEGATED = (True, True, False, False, False)
THRESHOLDS = ("possibly", "probably", "certainly")


def state_prior(alpha: float = 1.0, beta: float = 1.0) -> np.ndarray:
    return sps.betabinom.pmf(np.arange(N + 1), N, alpha, beta)


def truth(theta: float, negated: bool) -> np.ndarray:
    """Where a message is true over R = 0..10 (the R code's comparisons)."""
    r = np.arange(N + 1)
    return (r < (1 - theta) * N) if negated else (r > theta * N)


def speaker_beliefs(states, prior: np.ndarray) -> np.ndarray:
    """[states, 11]: P(R | o red of a drawn), the prior times the hypergeometric likelihood."""
    r = np.arange(N + 1)
    like = np.stack([sps.hypergeom.pmf(o, N, r, a) for a, o in states])
    bel = like * prior
    return bel / bel.sum(-1, keepdims=True)


def hellinger(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.sqrt(((np.sqrt(p) - np.sqrt(q)) ** 2).sum(-1)) / np.sqrt(2)


def utilities(states, prior: np.ndarray | None = None) -> np.ndarray:
    """EU[message, grid index, state]: minus the Hellinger distance between the speaker's
    belief and the literal listener's after the message with its threshold at GRID[k]."""
    prior = state_prior() if prior is None else prior
    bel = speaker_beliefs(states, prior)
    out = np.empty((len(MESSAGES), len(GRID), len(states)))
    for m, neg in enumerate(NEGATED):
        for k, theta in enumerate(GRID):
            lit = truth(theta, neg) * prior
            out[m, k] = -hellinger(bel, lit / lit.sum())
    return out


def speaker(states, thetas: dict[str, float], lam: float, prior: np.ndarray | None = None) -> np.ndarray:
    """[states, 5] the speaker's message probabilities (inputs.SIMPLE order)."""
    prior = state_prior() if prior is None else prior
    bel = speaker_beliefs(states, prior)
    eu = []
    for use, neg in zip(USES, NEGATED):
        lit = truth(thetas[use], neg) * prior
        eu.append(-hellinger(bel, lit / lit.sum()))
    logits = lam * np.stack(eu, axis=-1)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


def grid_loglik(eu: np.ndarray, weights: np.ndarray, lam: float) -> np.ndarray:
    """[possibly k, probably k, certainly k] weighted log-likelihood at lambda, all combinations
    at once: each message's logit depends on its own threshold only."""
    u = lam * eu  # [5, K, S]
    cn, pn, po, pr, ce = range(5)
    linear = np.einsum("mks,sm->mk", u, weights)  # sum_s w[s, m] * u[m, k, s]
    lin = (linear[po][:, None, None] + (linear[pr] + linear[pn])[None, :, None]
           + (linear[ce] + linear[cn])[None, None, :])
    shift = u.max(axis=(0, 1))  # [S], for stability
    e = np.exp(u - shift)
    z = (e[po][:, None, None, :] + (e[pr] + e[pn])[None, :, None, :] + (e[ce] + e[cn])[None, None, :, :])
    total = weights.sum(-1)  # [S]
    return lin - (total * (np.log(z) + shift)).sum(-1)


@dataclass
class RSAFit:
    thetas: dict[str, float]  # the midpoint of the tenth the threshold lies in
    lam: float
    loglik: float  # weighted, per unit weight (a mean log-probability of the choices)


def fit(states, weights, prior: np.ndarray | None = None, eu: np.ndarray | None = None,
        n_lambda: int = 25) -> RSAFit:
    """Maximum-likelihood thresholds and lambda for [states, 5] weights (counts or
    probabilities, inputs.SIMPLE order): a grid over the thresholds x a log grid over lambda,
    then lambda refined by bounded scalar search (scipy.optimize) for the best few threshold
    combinations."""
    weights = np.asarray(weights, float)
    eu = utilities(states, prior) if eu is None else eu
    lams = np.geomspace(*LAMBDA_BOUNDS, n_lambda)
    grids = np.stack([grid_loglik(eu, weights, lam) for lam in lams])  # [L, K, K, K]
    best = grids.max(0).ravel().argsort()[::-1][:4]
    results = []
    for flat in best:
        ks = np.unravel_index(flat, grids.shape[1:])
        res = optimize.minimize_scalar(lambda x: -grid_loglik(eu, weights, np.exp(x))[ks],
                                       bounds=np.log(LAMBDA_BOUNDS), method="bounded",
                                       options={"xatol": 1e-4})
        results.append((-res.fun, ks, float(np.exp(res.x))))
    ll, ks, lam = max(results, key=lambda t: t[0])
    return RSAFit({name: float(GRID[k]) for name, k in zip(THRESHOLDS, ks)}, lam, float(ll / weights.sum()))


def bootstrap(states, replicates: np.ndarray, prior: np.ndarray | None = None) -> list[RSAFit]:
    """Fits to each of [n, states, 5] resampled weights."""
    eu = utilities(states, prior)
    return [fit(states, w, prior, eu) for w in replicates]


def threshold_table(states, sources: dict[str, np.ndarray], replicates: dict[str, np.ndarray],
                    reference: str = "people") -> pd.DataFrame:
    """Per source (people and each model cell: [states, 5] distributions, every state weighted
    alike) and parameter (the three thresholds, lambda): the fit, its percentile interval over
    the resampled distributions (`replicates[name]`: [n, states, 5]), and for the thresholds the
    difference from the reference source's with the interval of the replicate-wise differences
    (the sources are resampled independently: participants for people, paraphrases for models).
    `fit_jsd`: how close the fitted speaker comes to the source's own distributions; `gain`: its
    log-likelihood per choice over the best state-blind speaker (the source's own overall mix of
    messages), with an interval: at or below 0, the choices do not follow the states in a way the
    model captures, and its thresholds are not identified."""
    eu = utilities(states)
    fits = {name: fit(states, dist, eu=eu) for name, dist in sources.items()}
    boots = {name: [fit(states, w, eu=eu) for w in replicates[name]] for name in sources}

    def gain(f: RSAFit, w: np.ndarray) -> float:  # over the best state-blind speaker (the source's own mix)
        w = np.asarray(w, float)
        mix = w.sum(0) / w.sum()
        return f.loglik - float((w * np.log(np.where(mix > 0, mix, 1.0))).sum() / w.sum())

    def values(f: RSAFit) -> dict[str, float]:
        return {**{f"theta {k}": v for k, v in f.thetas.items()}, "lambda": f.lam}
    rows = []
    for name, f in fits.items():
        point, reps = values(f), pd.DataFrame([values(b) for b in boots[name]])
        ref = pd.DataFrame([values(b) for b in boots[reference]]) if reference in boots else None
        jsd = float(metrics.js_divergence(speaker(states, f.thetas, f.lam), sources[name]).mean())
        g, g_b = gain(f, sources[name]), [gain(b, w) for b, w in zip(boots[name], replicates[name])]
        g_lo, g_hi = stats.percentile_interval(np.array(g_b))
        for param, value in point.items():
            lo, hi = stats.percentile_interval(reps[param].to_numpy())
            row = {"source": name, "parameter": param, "estimate": value, "low": float(lo), "high": float(hi),
                   "loglik": f.loglik, "gain": g, "gain_low": float(g_lo), "gain_high": float(g_hi), "fit_jsd": jsd}
            if ref is not None and name != reference and param != "lambda":
                d = reps[param].to_numpy()[:len(ref)] - ref[param].to_numpy()[:len(reps)]
                dlo, dhi = stats.percentile_interval(d)
                row.update(vs_reference=value - fits[reference].thetas[param.split(" ")[1]],
                           vs_low=float(dlo), vs_high=float(dhi))
            rows.append(row)
    return pd.DataFrame(rows)


def rsa_table(fit, n_boot: int = 200) -> pd.DataFrame:
    """`threshold_table` for a production fit of the simple messages (analysis.Fit): people and
    every model cell, the first n_boot of the fit's resamples (participants for people,
    paraphrases for the models; `n_units` says how many)."""
    if tuple(fit.messages) != MESSAGES:
        raise ValueError("the RSA speaker is ported for the simple messages only")
    sources = {"people": fit.human, **{m: fit.sources[m] for m in fit.models}}
    reps = {"people": fit.human_boot[:n_boot], **{m: fit.boot[m][:n_boot] for m in fit.models}}
    table = threshold_table(fit.states, sources, reps).assign(message_set=fit.message_set)
    units = len(fit.tensor) if fit.tensor is not None else np.nan
    table["n_units"] = np.where(table["source"] == "people", units, len(fit.paraphrases))
    return table
