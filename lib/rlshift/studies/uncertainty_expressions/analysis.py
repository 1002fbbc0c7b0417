"""The chapter's analysis of the speaker's side, pure functions of the message distributions and
people's data: production fits (people vs each model cell -- role x prompt format -- and two
baselines, with paired resamples of participants and paraphrases), their tables, and
overconfidence in words. The listener's side is in `listener`, the 2x2 and the paraphrase
random effect in `design`, the RSA speaker in `rsa`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rlshift import metrics, stats
from rlshift.data.people import human_meanings, participant_tensor
from rlshift.errors import InputError
from rlshift.studies.uncertainty_expressions.inputs import (CELLS, LEVELS, MESSAGES, NORMS, certain_messages,
                                                           distributions, level, meaning_key, p_red, state_label)


def proportions(counts: np.ndarray) -> np.ndarray:
    """Counts to proportions along the last axis (a row with no count stays NaN)."""
    total = counts.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts / total


def model_cells(dist: pd.DataFrame) -> list[str]:
    """The model sources present ('base raw', ..., in the 2x2's order)."""
    present = set(dist["source"])
    return [c for c in CELLS if c in present] + sorted(present - set(CELLS))


# ------------------------------------------------------------------ production: fit to people

@dataclass
class Fit:
    """People's and the models' message distributions over the same states, observed and
    resampled: `sources` maps a name (each model cell, and the baselines 'uniform' and
    'state_blind', which predicts people's overall mix of messages in every state) to its
    [states, messages] distribution; `boot` to [n_boot, states, messages]; `per_paraphrase`
    each model cell to its [paraphrases, states, messages] array."""
    message_set: str
    states: list[tuple[int, int]]
    messages: tuple[str, ...]
    human: np.ndarray
    human_boot: np.ndarray
    sources: dict[str, np.ndarray]
    boot: dict[str, np.ndarray]
    per_paraphrase: dict[str, np.ndarray] = field(default_factory=dict)
    paraphrases: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    counts: np.ndarray | None = None  # people's [states, messages] counts
    tensor: np.ndarray | None = None  # people's [participants, states, messages] choices
    reading: str = "sum"


def model_array(dist: pd.DataFrame, source: str, message_set: str, states, paraphrases) -> np.ndarray:
    """[paraphrases, states, messages] production probabilities of one model cell."""
    part = dist[(dist["source"] == source) & (dist["task"] == "production") & (dist["message_set"] == message_set)]
    table = part.set_index(["paraphrase", "access", "observation", "message"])["prob"]
    index = pd.MultiIndex.from_tuples([(p, a, o, m) for p in paraphrases for a, o in states
                                       for m in MESSAGES[message_set]])
    missing = index.difference(table.index)
    if len(missing):
        raise InputError(f"{source}: no scores for {len(missing)} cells, e.g. {missing[0]} "
                         f"(run score_roles with these paraphrases and states).")
    return table.reindex(index).to_numpy().reshape(len(paraphrases), len(states), len(MESSAGES[message_set]))


def production_fit(dist: pd.DataFrame, message_set: str, states, paraphrases, trials: pd.DataFrame,
                   n_boot: int = 1000, seed: int = 0, reading: str = "sum") -> Fit:
    """People's and each model cell's distributions over `states`, with `n_boot` paired
    resamples: participants (who gave one choice per state) and paraphrases are drawn with
    replacement, the same draws for every source; a model's distribution is its mean over
    paraphrases."""
    messages = MESSAGES[message_set]
    rng = np.random.default_rng(seed)
    tensor = participant_tensor(trials, states, messages)
    tensor = tensor[tensor.sum((1, 2)) > 0]  # participants who answered in these states
    w_people = stats.resample_weights(rng, len(tensor), n_boot)
    w_para = stats.resample_weights(rng, len(paraphrases), n_boot)
    counts = tensor.sum(0)
    counts_boot = np.einsum("bn,nsm->bsm", w_people, tensor)
    sources, boot, per_para = {}, {}, {}
    models = model_cells(dist)
    for name in models:
        arr = model_array(dist, name, message_set, states, paraphrases)
        sources[name] = arr.mean(0)
        boot[name] = np.einsum("bp,psm->bsm", w_para, arr) / len(paraphrases)
        per_para[name] = arr
    flat = np.full(len(messages), 1.0 / len(messages))
    sources["uniform"] = np.tile(flat, (len(states), 1))
    boot["uniform"] = np.broadcast_to(sources["uniform"], counts_boot.shape)
    sources["state_blind"] = np.tile(proportions(counts.sum(0)), (len(states), 1))
    boot["state_blind"] = np.repeat(proportions(counts_boot.sum(1))[:, None, :], len(states), axis=1)
    return Fit(message_set, list(states), messages, proportions(counts), proportions(counts_boot),
               sources, boot, per_para, list(paraphrases), models, counts, tensor, reading)


def overall(fit: Fit) -> pd.DataFrame:
    """Per source: mean JSD to people over states and the pooled correlation over state x
    message cells, with bootstrap 95% intervals; plus the sampling floor (people resampled
    against themselves: what a perfect model would score given the finite sample)."""
    rows = []
    for name, dist in fit.sources.items():
        jsd = metrics.js_divergence(dist, fit.human).mean()
        jsd_b = metrics.js_divergence(fit.boot[name], fit.human_boot).mean(-1)
        (jl, jh), r, rl, rh = stats.percentile_interval(jsd_b), np.nan, np.nan, np.nan
        if name != "uniform":  # a constant prediction has no correlation
            r = metrics.pearson_pooled(dist, fit.human)
            rl, rh = stats.percentile_interval(metrics.pearson_pooled(fit.boot[name], fit.human_boot))
        rows.append({"message_set": fit.message_set, "reading": fit.reading, "source": name, "jsd": jsd,
                     "jsd_low": jl, "jsd_high": jh, "r": r, "r_low": rl, "r_high": rh})
    floor = metrics.js_divergence(fit.human_boot, fit.human).mean(-1)
    lo, hi = stats.percentile_interval(floor)
    rows.append({"message_set": fit.message_set, "reading": fit.reading, "source": "people_resampled",
                 "jsd": float(floor.mean()), "jsd_low": lo, "jsd_high": hi, "r": np.nan, "r_low": np.nan,
                 "r_high": np.nan})
    out = pd.DataFrame(rows)
    out[["jsd_low", "jsd_high", "r_low", "r_high"]] = out[["jsd_low", "jsd_high", "r_low", "r_high"]].astype(float)
    return out


def per_state(fit: Fit) -> pd.DataFrame:
    """Per state and model cell: JSD to people (95% interval), the correlation across
    messages, the entropy of the message distribution (bits) and the favourite message; people's too."""
    rows = []
    for i, (a, o) in enumerate(fit.states):
        base = {"message_set": fit.message_set, "state": state_label(a, o), "access": a,
                "observation": o, "uncertainty": level(a), "p_red": p_red(a, o)}
        rows.append(dict(base, source="people", entropy=metrics.entropy_bits(fit.human[i]),
                         top=fit.messages[int(np.argmax(fit.human[i]))]))
        for name in fit.models:
            jsd_b = metrics.js_divergence(fit.boot[name][:, i], fit.human_boot[:, i])
            lo, hi = stats.percentile_interval(jsd_b)
            rows.append(dict(base, source=name, jsd=metrics.js_divergence(fit.sources[name][i], fit.human[i]),
                             jsd_low=float(lo), jsd_high=float(hi),
                             r=float(metrics.row_pearson(fit.sources[name][i], fit.human[i])),
                             entropy=metrics.entropy_bits(fit.sources[name][i]),
                             top=fit.messages[int(np.argmax(fit.sources[name][i]))]))
    return pd.DataFrame(rows)


def compare(fit: Fit, a: str, b: str, seed: int = 0, n_resamples: int = 2000) -> dict:
    """Which of two sources is closer to people: JSD(a) - JSD(b), mean over states. Two tests:
    the paired bootstrap over participants and paraphrases (interval and p), and a paired
    permutation test over states (stats.paired_difference), with its bootstrap interval."""
    jsd_a = metrics.js_divergence(fit.sources[a], fit.human)
    jsd_b = metrics.js_divergence(fit.sources[b], fit.human)
    diff_b = (metrics.js_divergence(fit.boot[a], fit.human_boot)
              - metrics.js_divergence(fit.boot[b], fit.human_boot)).mean(-1)
    lo, hi = stats.percentile_interval(diff_b)
    perm = stats.paired_difference(lambda pool, idx: float(pool[idx].mean()), jsd_a, jsd_b,
                                   seed=seed, n_resamples=n_resamples)
    return {"message_set": fit.message_set, "a": a, "b": b, "jsd_a": float(jsd_a.mean()),
            "jsd_b": float(jsd_b.mean()), "difference": float((jsd_a - jsd_b).mean()),
            "low": float(lo), "high": float(hi), "p_boot": stats.bootstrap_p(diff_b),
            "states_a_closer": int((jsd_a < jsd_b).sum()), "n_states": len(jsd_a),
            "state_low": perm["ci_low"], "state_high": perm["ci_high"], "p_states": perm["p_value"]}


def by_level(fit: Fit) -> pd.DataFrame:
    """Per higher-order uncertainty level: each model's mean JSD to people, and every source's
    mean entropy (people included), with 95% intervals."""
    levels = np.array([level(a) for a, _ in fit.states])
    rows = []
    for lv in LEVELS:
        mask = levels == lv
        if not mask.any():
            continue
        h = metrics.entropy_bits(fit.human_boot[:, mask]).mean(-1)
        rows.append({"message_set": fit.message_set, "uncertainty": lv, "source": "people",
                     "n_states": int(mask.sum()), "entropy": metrics.entropy_bits(fit.human[mask]).mean(),
                     "entropy_low": stats.percentile_interval(h)[0], "entropy_high": stats.percentile_interval(h)[1]})
        for name in fit.models:
            j = metrics.js_divergence(fit.boot[name][:, mask], fit.human_boot[:, mask]).mean(-1)
            e = metrics.entropy_bits(fit.boot[name][:, mask]).mean(-1)
            rows.append({"message_set": fit.message_set, "uncertainty": lv, "source": name,
                         "n_states": int(mask.sum()),
                         "jsd": metrics.js_divergence(fit.sources[name][mask], fit.human[mask]).mean(),
                         "jsd_low": stats.percentile_interval(j)[0], "jsd_high": stats.percentile_interval(j)[1],
                         "entropy": metrics.entropy_bits(fit.sources[name][mask]).mean(),
                         "entropy_low": stats.percentile_interval(e)[0], "entropy_high": stats.percentile_interval(e)[1]})
    return pd.DataFrame(rows)


def level_change(fit: Fit, hi: str = "high", lo: str = "none") -> pd.DataFrame:
    """Per model cell: mean JSD under high minus under no higher-order uncertainty (95% interval)."""
    levels = np.array([level(a) for a, _ in fit.states])
    if not ((levels == hi).any() and (levels == lo).any()):
        return pd.DataFrame(columns=["message_set", "source", "difference", "low", "high", "p_boot"])
    rows = []
    for name in fit.models:
        j = metrics.js_divergence(fit.boot[name], fit.human_boot)
        d_b = j[:, levels == hi].mean(-1) - j[:, levels == lo].mean(-1)
        j0 = metrics.js_divergence(fit.sources[name], fit.human)
        low, high = stats.percentile_interval(d_b)
        rows.append({"message_set": fit.message_set, "source": name,
                     "difference": float(j0[levels == hi].mean() - j0[levels == lo].mean()),
                     "low": float(low), "high": float(high), "p_boot": stats.bootstrap_p(d_b)})
    return pd.DataFrame(rows)


def paraphrase_table(fit: Fit) -> pd.DataFrame:
    """Mean JSD and pooled correlation per model cell and single paraphrase (prompt robustness)."""
    rows = []
    for name, arr in fit.per_paraphrase.items():
        for para, one in zip(fit.paraphrases, arr):
            rows.append({"message_set": fit.message_set, "source": name, "paraphrase": para,
                         "jsd": metrics.js_divergence(one, fit.human).mean(),
                         "r": float(metrics.pearson_pooled(one, fit.human))})
    return pd.DataFrame(rows)


def norm_table(records: pd.DataFrame, message_set: str, states, paraphrases, trials) -> pd.DataFrame:
    """Mean JSD and pooled correlation per model cell under each message score."""
    rows = []
    human = proportions(participant_tensor(trials, states, MESSAGES[message_set]).sum(0))
    speaker = records[records["task"].isin(["production", "neutral"])]
    for norm in NORMS:
        dist = distributions(speaker, norm)
        for name in model_cells(dist):
            arr = model_array(dist, name, message_set, states, paraphrases).mean(0)
            rows.append({"message_set": message_set, "source": name, "norm": norm,
                         "jsd": metrics.js_divergence(arr, human).mean(), "r": float(metrics.pearson_pooled(arr, human))})
    return pd.DataFrame(rows)


def proportions_table(fit: Fit) -> pd.DataFrame:
    """Long table for the paper-style figure: state x message x source -> proportion."""
    rows = []
    for name, dist in [("people", fit.human)] + [(m, fit.sources[m]) for m in fit.models]:
        for i, (a, o) in enumerate(fit.states):
            for j, m in enumerate(fit.messages):
                rows.append({"message_set": fit.message_set, "state": state_label(a, o), "access": a,
                             "observation": o, "uncertainty": level(a), "message": m,
                             "source": name, "proportion": float(dist[i, j])})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ overconfidence in words

def conveyed_values(message_set: str, messages) -> np.ndarray:
    """The probability of red each message conveys: the share of red balls people inferred
    from it (interpretation experiments' filler trials)."""
    meaning = human_meanings(message_set).set_index("message")["conveyed"]
    return np.array([meaning[meaning_key(m)] for m in messages])


def words_table(fit: Fit) -> pd.DataFrame:
    """How strong a probability each source's words convey (per state: the expectation of the
    conveyed probability over its message distribution). Against the Bayesian probability of red
    (`p_red`), the OLS slope across states says how far words follow the evidence. Also the mean
    distance of the conveyed probability from 1/2, and the probability of the messages that leave
    no doubt ('certainly (not)', 'is certainly ...'; no state of the design makes the next
    ball's colour certain). Each model's slope and certain share minus people's come with a
    paired 95% interval and p."""
    conveyed = conveyed_values(fit.message_set, fit.messages)
    ref = np.array([p_red(a, o) for a, o in fit.states])
    certain = np.array([m in certain_messages(fit.message_set) for m in fit.messages])
    rows, reps = [], {}
    for name, dist, dist_b in [("people", fit.human, fit.human_boot)] + \
            [(m, fit.sources[m], fit.boot[m]) for m in fit.models]:
        value = dist @ conveyed
        reps[name] = {"slope": metrics.slope(ref, dist_b @ conveyed), "certain": dist_b[:, :, certain].sum(-1).mean(-1)}
        lo, hi = stats.percentile_interval(reps[name]["certain"])
        rows.append({"message_set": fit.message_set, "source": name, "slope": float(metrics.slope(ref, value)),
                     "slope_low": stats.percentile_interval(reps[name]["slope"])[0],
                     "slope_high": stats.percentile_interval(reps[name]["slope"])[1],
                     "extremity": float(np.abs(value - 0.5).mean()),
                     "certain_share": float(dist[:, certain].sum(-1).mean()),
                     "certain_low": float(lo), "certain_high": float(hi)})
    for row in rows[1:]:
        for key, short in (("slope", "slope"), ("certain", "certain_share")):
            d = reps[row["source"]][key] - reps["people"][key]
            lo, hi = stats.percentile_interval(d)
            row.update({f"{key}_vs_people": row[short] - rows[0][short], f"{key}_vs_low": float(lo),
                        f"{key}_vs_high": float(hi), f"{key}_vs_p": stats.bootstrap_p(d)})
    return pd.DataFrame(rows)


def conveyed_table(fit: Fit) -> pd.DataFrame:
    """Per state and source: the probability conveyed in words, and the Bayesian one."""
    conveyed = conveyed_values(fit.message_set, fit.messages)
    rows = []
    for name, dist in [("people", fit.human)] + [(m, fit.sources[m]) for m in fit.models]:
        for i, (a, o) in enumerate(fit.states):
            rows.append({"message_set": fit.message_set, "state": state_label(a, o), "uncertainty": level(a),
                         "source": name, "p_red": p_red(a, o), "conveyed": float(dist[i] @ conveyed)})
    return pd.DataFrame(rows)


def temperature_table(fit: Fit, trials: pd.DataFrame) -> pd.DataFrame:
    """The temperature T that makes people's choices most likely under a model's (paraphrase-
    averaged) distribution, p^(1/T) renormalized: T > 1 means the model's word choice is more
    peaked than people's mix; then the mean JSD at T = 1 and at the fitted T."""
    index = {s: i for i, s in enumerate(fit.states)}
    m_index = {m: j for j, m in enumerate(fit.messages)}
    keep = [(index[(a, o)], m_index[m]) for a, o, m in trials[["access", "observation", "message"]].itertuples(index=False)
            if (a, o) in index]
    state_i = np.array([k[0] for k in keep])
    answer = np.array([k[1] for k in keep])
    rows = []
    for name in fit.models:
        logp = np.log(fit.sources[name])
        t = metrics.fit_temperature(logp[state_i], answer)
        at_t = metrics.probs_at_temperature(logp, t)
        rows.append({"message_set": fit.message_set, "source": name, "fitted_T": t,
                     "jsd_T1": metrics.js_divergence(fit.sources[name], fit.human).mean(),
                     "jsd_fitted_T": metrics.js_divergence(at_t, fit.human).mean(),
                     "n_choices": len(answer)})
    return pd.DataFrame(rows)
