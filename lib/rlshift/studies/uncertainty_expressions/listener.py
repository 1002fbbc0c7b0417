"""The listener's side and people's beliefs, against the models': given a message, how many of
the urn's balls are red (filler trials) and how many balls the speaker drew (critical trials);
given a state, the belief about the urn (experiment 0). Each model cell's distributions over the
numbers 0..10, averaged over the (listener) paraphrases, with paraphrase resamples; people's
answers resampled within a message (each answered a message once)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rlshift import metrics, stats
from rlshift.data.people import N_BALLS, human_beliefs, human_critical, human_interpretation
from rlshift.errors import InputError
from rlshift.studies.uncertainty_expressions.analysis import model_cells, proportions
from rlshift.studies.uncertainty_expressions.inputs import certain_messages, posterior, state_label

NUMBERS = np.arange(N_BALLS + 1)


@dataclass
class Listener:
    """People's and each model cell's distributions over 0..10 per key (a message heard, or a
    state seen): `human` [keys, 11], `sources[name]` [keys, 11], `boot` with a leading resample
    axis (people's `human_boot` is None where only their means are shipped: beliefs)."""
    task: str
    message_set: str
    keys: list
    human: np.ndarray
    human_boot: np.ndarray | None
    sources: dict[str, np.ndarray]
    boot: dict[str, np.ndarray]
    per_paraphrase: dict[str, np.ndarray]
    paraphrases: list[str]
    models: list[str]
    reading: str = "sum"  # the score the distributions came from (inputs.distributions' norm)


def number_array(dist: pd.DataFrame, source: str, task: str, message_set: str, keys, paraphrases) -> np.ndarray:
    """[paraphrases, keys, 11] of one model cell; keys are messages heard, or states for beliefs."""
    part = dist[(dist["source"] == source) & (dist["task"] == task)]
    if task == "belief":
        table = part.set_index(["paraphrase", "access", "observation", "number"])["prob"]
        index = [(p, a, o, n) for p in paraphrases for a, o in keys for n in NUMBERS]
    else:
        part = part[part["message_set"] == message_set]
        table = part.set_index(["paraphrase", "heard", "number"])["prob"]
        index = [(p, m, n) for p in paraphrases for m in keys for n in NUMBERS]
    index = pd.MultiIndex.from_tuples(index)
    if len(index.difference(table.index)):
        raise InputError(f"{source}: {task} scores missing for {message_set} (run score_roles with "
                         f"interpretation / beliefs on and these paraphrases and states).")
    return table.reindex(index).to_numpy().reshape(len(paraphrases), len(keys), N_BALLS + 1)


def _fit(dist, task, message_set, keys, human, human_boot, paraphrases, n_boot, rng, reading) -> Listener:
    w_para = stats.resample_weights(rng, len(paraphrases), n_boot)
    sources, boot, per_para = {}, {}, {}
    models = model_cells(dist[dist["task"] == task])
    for name in models:
        arr = number_array(dist, name, task, message_set, keys, paraphrases)
        sources[name], per_para[name] = arr.mean(0), arr
        boot[name] = np.einsum("bp,pmk->bmk", w_para, arr) / len(paraphrases)
    return Listener(task, message_set, list(keys), human, human_boot, sources, boot, per_para, list(paraphrases), models,
                    reading)


def _resample_counts(counts: np.ndarray, n_boot: int, rng) -> np.ndarray:
    """[n_boot, keys, 11] proportions: each key's answers drawn anew (multinomial)."""
    return np.stack([rng.multinomial(int(c.sum()), c / c.sum(), size=n_boot) for c in counts], axis=1) \
        / counts.sum(-1)[None, :, None]


def interpretation_fit(dist: pd.DataFrame, message_set: str, paraphrases, n_boot: int = 1000,
                       seed: int = 0, reading: str = "sum") -> Listener:
    """Filler trials: people's slider answers (red balls in the urn, 0..10) per message against
    each model cell's distribution over '0 out of 10.'..'10 out of 10.'."""
    table = human_interpretation(message_set)
    messages = list(dict.fromkeys(table["message"]))
    counts = table.pivot(index="message", columns="n_red", values="count").loc[messages].to_numpy(float)
    rng = np.random.default_rng(seed)
    return _fit(dist, "interpretation", message_set, messages, proportions(counts),
                _resample_counts(counts, n_boot, rng), paraphrases, n_boot, rng, reading)


def critical_fit(dist: pd.DataFrame, message_set: str, paraphrases, n_boot: int = 1000, seed: int = 0,
                 reading: str = "sum") -> Listener:
    """Critical trials: how many balls people inferred the speaker had drawn, per message
    (their <access, observation> answers, marginalized over observation), against each model
    cell's answer to 'how many balls did the speaker draw'."""
    table = human_critical(message_set)
    messages = list(dict.fromkeys(table["message"]))
    counts = (table.groupby(["message", "access"])["count"].sum().unstack(fill_value=0)
              .reindex(index=messages, columns=NUMBERS, fill_value=0).to_numpy(float))
    rng = np.random.default_rng(seed)
    return _fit(dist, "critical", message_set, messages, proportions(counts),
                _resample_counts(counts, n_boot, rng), paraphrases, n_boot, rng, reading)


def people_beliefs(states) -> np.ndarray:
    """[states, 11] people's mean normalized belief over the number of red balls (experiment 0)."""
    table = human_beliefs().set_index(["access", "observation", "n_red"])["mean"]
    out = np.array([[table[(a, o, n)] for n in NUMBERS] for a, o in states])
    return out / out.sum(-1, keepdims=True)


def belief_fit(dist: pd.DataFrame, states, paraphrases, n_boot: int = 1000, seed: int = 0,
               reading: str = "sum") -> Listener:
    """Experiment 0: people's mean belief about the urn in each state against each model cell's
    distribution over the number of red balls after the same evidence; the Bayesian posterior
    (uniform prior) joins as the source 'bayes'."""
    rng = np.random.default_rng(seed)
    fit = _fit(dist, "belief", "-", list(states), people_beliefs(states), None, paraphrases, n_boot, rng, reading)
    bayes = np.stack([posterior(a, o) for a, o in states])
    fit.sources["bayes"] = bayes
    fit.boot["bayes"] = np.broadcast_to(bayes, (n_boot, *bayes.shape))
    return fit


def listener_summary(fit: Listener) -> pd.DataFrame:
    """Per source: mean JSD to people over keys (95% interval), and across keys the correlation
    of the mean number (red balls, or balls drawn) with people's, and its spread (max - min);
    the row 'uniform' (every number alike) is a reference JSD."""
    rows = []
    h_mean = fit.human @ NUMBERS
    for name in [*fit.models, *(["bayes"] if "bayes" in fit.sources else [])]:
        human_b = fit.human_boot if fit.human_boot is not None else fit.human[None]
        j_b = metrics.js_divergence(fit.boot[name], human_b).mean(-1)
        m, m_b = fit.sources[name] @ NUMBERS, fit.boot[name] @ NUMBERS
        r_b = metrics.row_pearson(m_b, human_b @ NUMBERS)
        r_lo, r_hi = stats.percentile_interval(r_b) if np.isfinite(r_b).any() else (np.nan, np.nan)
        rows.append({"task": fit.task, "message_set": fit.message_set, "reading": fit.reading, "source": name,
                     "jsd": metrics.js_divergence(fit.sources[name], fit.human).mean(),
                     "jsd_low": stats.percentile_interval(j_b)[0], "jsd_high": stats.percentile_interval(j_b)[1],
                     "r_mean": float(np.corrcoef(m, h_mean)[0, 1]) if np.ptp(m) > 0 else np.nan,
                     "r_low": float(r_lo), "r_high": float(r_hi),
                     "spread_mean": float(np.ptp(m)), "people_spread_mean": float(np.ptp(h_mean)),
                     "n_paraphrases": len(fit.paraphrases)})
    flat = np.full_like(fit.human, 1.0 / fit.human.shape[-1])  # a reference: a listener who infers nothing
    rows.append({"task": fit.task, "message_set": fit.message_set, "reading": fit.reading, "source": "uniform",
                 "jsd": metrics.js_divergence(flat, fit.human).mean(), "people_spread_mean": float(np.ptp(h_mean)),
                 "spread_mean": 0.0, "n_paraphrases": len(fit.paraphrases)})
    return pd.DataFrame(rows)


def listener_compare(fit: Listener, a: str, b: str) -> dict:
    """JSD(a) - JSD(b) to people's answers, mean over keys, paired bootstrap."""
    human_b = fit.human_boot if fit.human_boot is not None else fit.human[None]
    diff = (metrics.js_divergence(fit.boot[a], human_b) - metrics.js_divergence(fit.boot[b], human_b)).mean(-1)
    lo, hi = stats.percentile_interval(diff)
    point = (metrics.js_divergence(fit.sources[a], fit.human) - metrics.js_divergence(fit.sources[b], fit.human)).mean()
    return {"task": fit.task, "message_set": fit.message_set, "a": a, "b": b, "difference": float(point),
            "low": float(lo), "high": float(hi), "p_boot": stats.bootstrap_p(diff)}


def access_gap(fit: Listener) -> pd.DataFrame:
    """Critical trials: the mean number of balls a listener infers the speaker drew after a
    message that leaves no doubt ('certainly (not)', 'is certainly ...') minus after a hedged
    one, per source with a 95% interval. People infer more access from certain messages
    (Herbstritt & Franke 2019): a positive gap reads higher-order uncertainty off the words."""
    certain = np.array([m in certain_messages(fit.message_set) for m in fit.keys])
    if not certain.any() or certain.all():
        return pd.DataFrame(columns=["message_set", "source", "gap", "low", "high", "n_paraphrases"])

    def gap(arr):
        mean = arr @ NUMBERS
        return mean[..., certain].mean(-1) - mean[..., ~certain].mean(-1)
    rows = []
    for name, dist, boot in [("people", fit.human, fit.human_boot)] + \
            [(m, fit.sources[m], fit.boot[m]) for m in fit.models]:
        lo, hi = stats.percentile_interval(gap(boot))
        rows.append({"message_set": fit.message_set, "reading": fit.reading, "source": name, "gap": float(gap(dist)),
                     "low": float(lo), "high": float(hi), "n_paraphrases": len(fit.paraphrases)})
    return pd.DataFrame(rows)


def belief_slopes(fit: Listener) -> pd.DataFrame:
    """Beliefs: per source, the slope of the expected number of red balls on the Bayesian one
    across states (1 = as the evidence warrants; people's is the reference) and the mean
    entropy of the belief (bits: how uncertain)."""
    bayes = fit.sources["bayes"] @ NUMBERS
    rows = []
    for name, dist, boot in [("people", fit.human, None)] + \
            [(m, fit.sources[m], fit.boot[m]) for m in [*fit.models, "bayes"]]:
        lo, hi = stats.percentile_interval(metrics.slope(bayes, boot @ NUMBERS)) if boot is not None else (np.nan, np.nan)
        rows.append({"source": name, "slope": float(metrics.slope(bayes, dist @ NUMBERS)), "slope_low": float(lo),
                     "slope_high": float(hi), "entropy": float(metrics.entropy_bits(dist).mean())})
    return pd.DataFrame(rows)


def listener_long(fit: Listener) -> pd.DataFrame:
    """Long table for the figures: key x number x source -> proportion."""
    rows = []
    names = [("people", fit.human)] + [(m, fit.sources[m]) for m in fit.models]
    names += [("bayes", fit.sources["bayes"])] if "bayes" in fit.sources else []
    for name, dist in names:
        for i, key in enumerate(fit.keys):
            label = state_label(*key) if isinstance(key, tuple) else key
            for n in NUMBERS:
                rows.append({"task": fit.task, "message_set": fit.message_set, "key": label, "number": int(n),
                             "source": name, "proportion": float(dist[i, n])})
    return pd.DataFrame(rows)
