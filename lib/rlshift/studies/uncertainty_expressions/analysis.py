"""The chapter's analysis, pure functions of the message distributions and people's data:
production fits (people vs each model and two baselines, with paired resamples of participants
and paraphrases), their tables, overconfidence in words, and the listener's side."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rlshift import metrics, stats
from rlshift.data.people import N_BALLS, human_interpretation, human_meanings, participant_tensor
from rlshift.errors import InputError
from rlshift.studies.uncertainty_expressions.inputs import (CERTAIN, LEVELS, MESSAGES, NORMS, ROLES, distributions,
                                                           level, meaning_key, p_red, state_label)


def proportions(counts: np.ndarray) -> np.ndarray:
    """Counts to proportions along the last axis (a row with no count stays NaN)."""
    total = counts.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts / total


# ------------------------------------------------------------------ production: fit to people

@dataclass
class Fit:
    """People's and the models' message distributions over the same states, observed and
    resampled: `sources` maps a name (base, tuned, and the baselines 'uniform' and
    'state_blind', which predicts people's overall mix of messages in every state) to its
    [states, messages] distribution; `boot` to [n_boot, states, messages]."""
    message_set: str
    states: list[tuple[int, int]]
    messages: tuple[str, ...]
    human: np.ndarray
    human_boot: np.ndarray
    sources: dict[str, np.ndarray]
    boot: dict[str, np.ndarray]
    per_paraphrase: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    n_participants: int = 0


def model_array(dist: pd.DataFrame, role: str, message_set: str, states, paraphrases) -> np.ndarray:
    """[paraphrases, states, messages] production probabilities of one model."""
    part = dist[(dist["role"] == role) & (dist["task"] == "production") & (dist["message_set"] == message_set)]
    table = part.set_index(["paraphrase", "access", "observation", "message"])["prob"]
    index = pd.MultiIndex.from_tuples([(p, a, o, m) for p in paraphrases for a, o in states
                                       for m in MESSAGES[message_set]])
    missing = index.difference(table.index)
    if len(missing):
        raise InputError(f"{role}: no scores for {len(missing)} cells, e.g. {missing[0]} "
                         f"(run score_roles with these paraphrases and states).")
    return table.reindex(index).to_numpy().reshape(len(paraphrases), len(states), len(MESSAGES[message_set]))


def production_fit(dist: pd.DataFrame, message_set: str, states, paraphrases, trials: pd.DataFrame,
                   n_boot: int = 1000, seed: int = 0, roles=ROLES) -> Fit:
    """People's and each model's distributions over `states`, with `n_boot` paired resamples:
    participants (who gave one choice per state) and paraphrases are drawn with replacement,
    the same draws for every source; a model's distribution is its mean over paraphrases."""
    messages = MESSAGES[message_set]
    rng = np.random.default_rng(seed)
    tensor = participant_tensor(trials, states, messages)
    tensor = tensor[tensor.sum((1, 2)) > 0]  # participants who answered in these states
    w_people = stats.resample_weights(rng, len(tensor), n_boot)
    w_para = stats.resample_weights(rng, len(paraphrases), n_boot)
    counts = tensor.sum(0)
    counts_boot = np.einsum("bn,nsm->bsm", w_people, tensor)
    sources, boot, per_para = {}, {}, {}
    for role in roles:
        arr = model_array(dist, role, message_set, states, paraphrases)
        sources[role] = arr.mean(0)
        boot[role] = np.einsum("bp,psm->bsm", w_para, arr) / len(paraphrases)
        per_para[role] = dict(zip(paraphrases, arr))
    flat = np.full(len(messages), 1.0 / len(messages))
    sources["uniform"] = np.tile(flat, (len(states), 1))
    boot["uniform"] = np.broadcast_to(sources["uniform"], counts_boot.shape)
    sources["state_blind"] = np.tile(proportions(counts.sum(0)), (len(states), 1))
    boot["state_blind"] = np.repeat(proportions(counts_boot.sum(1))[:, None, :], len(states), axis=1)
    return Fit(message_set, list(states), messages, proportions(counts), proportions(counts_boot),
               sources, boot, per_para, len(tensor))


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
        rows.append({"message_set": fit.message_set, "source": name, "jsd": jsd, "jsd_low": jl,
                     "jsd_high": jh, "r": r, "r_low": rl, "r_high": rh})
    floor = metrics.js_divergence(fit.human_boot, fit.human).mean(-1)
    rows.append({"message_set": fit.message_set, "source": "people_resampled", "jsd": float(floor.mean()),
                 "jsd_low": stats.percentile_interval(floor)[0], "jsd_high": stats.percentile_interval(floor)[1],
                 "r": np.nan, "r_low": np.nan, "r_high": np.nan})
    out = pd.DataFrame(rows)
    out[["jsd_low", "jsd_high", "r_low", "r_high"]] = out[["jsd_low", "jsd_high", "r_low", "r_high"]].astype(float)
    return out


def per_state(fit: Fit, roles=ROLES) -> pd.DataFrame:
    """Per state and model: JSD to people (95% interval), the correlation across messages,
    the entropy of the message distribution (bits) and the favourite message; people's too."""
    rows = []
    for i, (a, o) in enumerate(fit.states):
        base = {"message_set": fit.message_set, "state": state_label(a, o), "access": a,
                "observation": o, "uncertainty": level(a), "p_red": p_red(a, o)}
        rows.append(dict(base, source="people", entropy=metrics.entropy_bits(fit.human[i]),
                         top=fit.messages[int(np.argmax(fit.human[i]))]))
        for role in roles:
            jsd_b = metrics.js_divergence(fit.boot[role][:, i], fit.human_boot[:, i])
            lo, hi = stats.percentile_interval(jsd_b)
            rows.append(dict(base, source=role, jsd=metrics.js_divergence(fit.sources[role][i], fit.human[i]),
                             jsd_low=float(lo), jsd_high=float(hi),
                             r=float(metrics.row_pearson(fit.sources[role][i], fit.human[i])),
                             entropy=metrics.entropy_bits(fit.sources[role][i]),
                             top=fit.messages[int(np.argmax(fit.sources[role][i]))]))
    return pd.DataFrame(rows)


def compare(fit: Fit, a: str = "tuned", b: str = "base", seed: int = 0, n_resamples: int = 2000) -> dict:
    """Which model is closer to people: JSD(a) - JSD(b), mean over states. Two tests: the
    paired bootstrap over participants and paraphrases (interval and p), and a paired
    permutation test over states (stats.paired_difference: swaps a's and b's JSD state by
    state), with its bootstrap interval over states."""
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


def by_level(fit: Fit, roles=ROLES) -> pd.DataFrame:
    """Per higher-order uncertainty level: each model's mean JSD to people, and every source's
    mean entropy (people included), with 95% intervals; and for each model the change from
    'none' to 'high'."""
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
        for role in roles:
            j = metrics.js_divergence(fit.boot[role][:, mask], fit.human_boot[:, mask]).mean(-1)
            e = metrics.entropy_bits(fit.boot[role][:, mask]).mean(-1)
            rows.append({"message_set": fit.message_set, "uncertainty": lv, "source": role,
                         "n_states": int(mask.sum()),
                         "jsd": metrics.js_divergence(fit.sources[role][mask], fit.human[mask]).mean(),
                         "jsd_low": stats.percentile_interval(j)[0], "jsd_high": stats.percentile_interval(j)[1],
                         "entropy": metrics.entropy_bits(fit.sources[role][mask]).mean(),
                         "entropy_low": stats.percentile_interval(e)[0], "entropy_high": stats.percentile_interval(e)[1]})
    return pd.DataFrame(rows)


def level_change(fit: Fit, roles=ROLES, hi: str = "high", lo: str = "none") -> pd.DataFrame:
    """Per model: mean JSD under high minus under no higher-order uncertainty (95% interval)."""
    levels = np.array([level(a) for a, _ in fit.states])
    if not ((levels == hi).any() and (levels == lo).any()):
        return pd.DataFrame(columns=["message_set", "source", "difference", "low", "high", "p_boot"])
    rows = []
    for role in roles:
        j = metrics.js_divergence(fit.boot[role], fit.human_boot)
        d_b = j[:, levels == hi].mean(-1) - j[:, levels == lo].mean(-1)
        j0 = metrics.js_divergence(fit.sources[role], fit.human)
        low, high = stats.percentile_interval(d_b)
        rows.append({"message_set": fit.message_set, "source": role,
                     "difference": float(j0[levels == hi].mean() - j0[levels == lo].mean()),
                     "low": float(low), "high": float(high), "p_boot": stats.bootstrap_p(d_b)})
    return pd.DataFrame(rows)


def paraphrase_table(fit: Fit) -> pd.DataFrame:
    """Mean JSD and pooled correlation per model and single paraphrase (prompt robustness)."""
    rows = []
    for role, arrays in fit.per_paraphrase.items():
        for name, arr in arrays.items():
            rows.append({"message_set": fit.message_set, "source": role, "variant": f"paraphrase {name}",
                         "jsd": metrics.js_divergence(arr, fit.human).mean(),
                         "r": float(metrics.pearson_pooled(arr, fit.human))})
    return pd.DataFrame(rows)


def norm_table(records: pd.DataFrame, message_set: str, states, paraphrases, trials, roles=ROLES) -> pd.DataFrame:
    """Mean JSD and pooled correlation per model under each length normalization."""
    rows = []
    human = proportions(participant_tensor(trials, states, MESSAGES[message_set]).sum(0))
    for norm in NORMS:
        dist = distributions(records[records["task"] == "production"], norm)
        for role in roles:
            arr = model_array(dist, role, message_set, states, paraphrases).mean(0)
            rows.append({"message_set": message_set, "source": role, "variant": f"norm {norm}",
                         "jsd": metrics.js_divergence(arr, human).mean(), "r": float(metrics.pearson_pooled(arr, human))})
    return pd.DataFrame(rows)


def proportions_table(fit: Fit, roles=ROLES) -> pd.DataFrame:
    """Long table for the paper-style figure: state x message x source -> proportion."""
    rows = []
    for name, dist in [("people", fit.human)] + [(r, fit.sources[r]) for r in roles]:
        for i, (a, o) in enumerate(fit.states):
            for j, m in enumerate(fit.messages):
                rows.append({"message_set": fit.message_set, "state": state_label(a, o), "access": a,
                             "observation": o, "uncertainty": level(a), "message": m,
                             "source": name, "proportion": float(dist[i, j])})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ overconfidence in words

def words_table(fit: Fit, roles=ROLES) -> pd.DataFrame:
    """How strong a probability each source's words convey. A message conveys the share of red
    balls people inferred from it (interpretation experiments); per state, a source conveys the
    expectation over its message distribution. Against the Bayesian probability of red
    (`p_red`), the OLS slope across states says how far words follow the evidence (slope above
    people's: words swing further than people's). Also the mean distance of the conveyed
    probability from 1/2, and for the simple set the probability of 'certainly'/'certainly
    not' (no state of the design makes the next ball's colour certain). Each model's slope and
    certain share minus people's come with a paired 95% interval and p."""
    meaning = human_meanings(fit.message_set).set_index("message")["conveyed"]
    conveyed = np.array([meaning[meaning_key(m)] for m in fit.messages])
    ref = np.array([p_red(a, o) for a, o in fit.states])
    certain = np.array([m in CERTAIN for m in fit.messages]) if fit.message_set == "simple" else None
    rows, reps = [], {}
    for name, dist, dist_b in [("people", fit.human, fit.human_boot)] + \
            [(r, fit.sources[r], fit.boot[r]) for r in roles]:
        value = dist @ conveyed
        reps[name] = {"slope": metrics.slope(ref, dist_b @ conveyed)}
        row = {"message_set": fit.message_set, "source": name, "slope": float(metrics.slope(ref, value)),
               "slope_low": stats.percentile_interval(reps[name]["slope"])[0],
               "slope_high": stats.percentile_interval(reps[name]["slope"])[1],
               "extremity": float(np.abs(value - 0.5).mean()), "certain_share": np.nan}
        if certain is not None:
            reps[name]["certain"] = dist_b[:, :, certain].sum(-1).mean(-1)
            row["certain_share"] = float(dist[:, certain].sum(-1).mean())
            row["certain_low"], row["certain_high"] = map(float, stats.percentile_interval(reps[name]["certain"]))
        rows.append(row)
    for row in rows[1:]:
        for key, short in (("slope", "slope"), ("certain", "certain_share")):
            if key not in reps["people"]:
                continue
            d = reps[row["source"]][key] - reps["people"][key]
            lo, hi = stats.percentile_interval(d)
            row.update({f"{key}_vs_people": row[short] - rows[0][short], f"{key}_vs_low": float(lo),
                        f"{key}_vs_high": float(hi), f"{key}_vs_p": stats.bootstrap_p(d)})
    return pd.DataFrame(rows)


def conveyed_table(fit: Fit, roles=ROLES) -> pd.DataFrame:
    """Per state and source: the probability conveyed in words, and the Bayesian one."""
    meaning = human_meanings(fit.message_set).set_index("message")["conveyed"]
    conveyed = np.array([meaning[meaning_key(m)] for m in fit.messages])
    rows = []
    for name, dist in [("people", fit.human)] + [(r, fit.sources[r]) for r in roles]:
        for i, (a, o) in enumerate(fit.states):
            rows.append({"message_set": fit.message_set, "state": state_label(a, o), "uncertainty": level(a),
                         "source": name, "p_red": p_red(a, o), "conveyed": float(dist[i] @ conveyed)})
    return pd.DataFrame(rows)


def temperature_table(fit: Fit, trials: pd.DataFrame, roles=ROLES) -> pd.DataFrame:
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
    for role in roles:
        logp = np.log(fit.sources[role])
        t = metrics.fit_temperature(logp[state_i], answer)
        at_t = metrics.probs_at_temperature(logp, t)
        rows.append({"message_set": fit.message_set, "source": role, "fitted_T": t,
                     "jsd_T1": metrics.js_divergence(fit.sources[role], fit.human).mean(),
                     "jsd_fitted_T": metrics.js_divergence(at_t, fit.human).mean(),
                     "n_choices": len(answer)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ interpretation

@dataclass
class Interpretation:
    message_set: str
    messages: list[str]
    human: np.ndarray  # [messages, 11]
    human_boot: np.ndarray
    sources: dict[str, np.ndarray]
    boot: dict[str, np.ndarray]


def interpretation_fit(dist: pd.DataFrame, message_set: str, paraphrases, n_boot: int = 1000,
                       seed: int = 0, roles=ROLES) -> Interpretation:
    """People's slider answers (red balls in the urn, 0..10) per message against each model's
    normalized distribution over '0'..'10'. People answered each message once, so resampling
    answers within a message resamples participants; paraphrases are resampled as above."""
    table = human_interpretation(message_set)
    messages = list(dict.fromkeys(table["message"]))
    counts = table.pivot(index="message", columns="n_red", values="count").loc[messages].to_numpy(float)
    rng = np.random.default_rng(seed)
    human_boot = np.stack([rng.multinomial(int(c.sum()), c / c.sum(), size=n_boot) for c in counts], axis=1)
    w_para = stats.resample_weights(rng, len(paraphrases), n_boot)
    sources, boot = {}, {}
    part = dist[dist["task"] == "interpretation"]
    for role in roles:
        here = part[(part["role"] == role) & (part["message_set"] == message_set)]
        tab = here.set_index(["paraphrase", "heard", "n_red"])["prob"]
        index = pd.MultiIndex.from_tuples([(p, m, n) for p in paraphrases for m in messages for n in range(N_BALLS + 1)])
        if len(index.difference(tab.index)):
            raise InputError(f"{role}: interpretation scores missing for {message_set} (run score_roles "
                             f"with interpretation=True and these paraphrases).")
        arr = tab.reindex(index).to_numpy().reshape(len(paraphrases), len(messages), N_BALLS + 1)
        sources[role] = arr.mean(0)
        boot[role] = np.einsum("bp,pmk->bmk", w_para, arr) / len(paraphrases)
    return Interpretation(message_set, messages, proportions(counts), proportions(human_boot.astype(float)),
                          sources, boot)


def interpretation_summary(fit: Interpretation, roles=ROLES) -> pd.DataFrame:
    """Per model: mean JSD to people's answers over messages, and the correlation across
    messages of the mean number of red balls inferred (model vs people), with 95% intervals."""
    reds = np.arange(N_BALLS + 1)
    rows = []
    h_mean, h_mean_b = fit.human @ reds, fit.human_boot @ reds
    for role in roles:
        j_b = metrics.js_divergence(fit.boot[role], fit.human_boot).mean(-1)
        m, m_b = fit.sources[role] @ reds, fit.boot[role] @ reds
        r_b = metrics.row_pearson(m_b, h_mean_b)
        rows.append({"message_set": fit.message_set, "source": role,
                     "jsd": metrics.js_divergence(fit.sources[role], fit.human).mean(),
                     "jsd_low": stats.percentile_interval(j_b)[0], "jsd_high": stats.percentile_interval(j_b)[1],
                     "r_mean_red": float(np.corrcoef(m, h_mean)[0, 1]),
                     "r_low": stats.percentile_interval(r_b)[0], "r_high": stats.percentile_interval(r_b)[1],
                     "spread_mean_red": float(m.max() - m.min()),
                     "people_spread_mean_red": float(h_mean.max() - h_mean.min())})
    return pd.DataFrame(rows)


def interpretation_compare(fit: Interpretation, a: str = "tuned", b: str = "base") -> dict:
    """JSD(a) - JSD(b) to people's answers, mean over messages, paired bootstrap."""
    diff = (metrics.js_divergence(fit.boot[a], fit.human_boot)
            - metrics.js_divergence(fit.boot[b], fit.human_boot)).mean(-1)
    lo, hi = stats.percentile_interval(diff)
    point = (metrics.js_divergence(fit.sources[a], fit.human)
             - metrics.js_divergence(fit.sources[b], fit.human)).mean()
    return {"message_set": fit.message_set, "a": a, "b": b, "difference": float(point),
            "low": float(lo), "high": float(hi), "p_boot": stats.bootstrap_p(diff)}


def interpretation_long(fit: Interpretation, roles=ROLES) -> pd.DataFrame:
    rows = []
    for name, dist in [("people", fit.human)] + [(r, fit.sources[r]) for r in roles]:
        for i, m in enumerate(fit.messages):
            for n in range(N_BALLS + 1):
                rows.append({"message_set": fit.message_set, "message": m, "n_red": n,
                             "source": name, "proportion": float(dist[i, n])})
    return pd.DataFrame(rows)
