"""The 2x2 of tuning x prompt format, and the paraphrases as a random effect.

Every base-vs-tuned comparison is reported as the effects of a 2x2 (role: base, tuned; format:
raw text, chat template -- the base reads the tuned model's template): the tuning effect within
each format, the format effect within each model, their interaction, and the confounded contrast
(tuned chat - base raw) a one-format-per-model design reports. `stats.factorial_contrasts`
resamples one kind of unit jointly in the four cells; here the units are the *paraphrases*: the
chapter's bootstrap resamples participants and paraphrases, people's data are the same in all
four cells (they cancel to first order in a contrast), so the model side -- the paraphrases -- is
what the contrasts resample. For the speaker's JSD the interval from the two-way bootstrap
(participants and paraphrases, `Fit.boot`) is given beside it as a check. Holm's correction runs
within each metric's five tests (confounded excluded).

The paraphrase random effect: each paraphrase's JSD to people per state and cell, in a linear
mixed model (statsmodels MixedLM, REML) with tuning, format and their interaction and the state
as fixed effects, a random intercept per paraphrase and a paraphrase x cell variance component.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import pandas as pd

from rlshift import metrics, stats
from rlshift.studies.common import tuning_rows
from rlshift.studies.uncertainty_expressions.analysis import Fit, conveyed_values
from rlshift.studies.uncertainty_expressions.inputs import FORMATS, ROLES, cell, certain_messages, p_red
from rlshift.studies.uncertainty_expressions.listener import NUMBERS, Listener

MIN_UNITS = 5  # fewer paraphrases than this: contrasts are estimated, not tested
TESTED = ("tuning | raw", "tuning | chat", "format | base", "format | tuned", "interaction")


def has_2x2(models) -> bool:
    return all(cell(r, f) in models for r in ROLES for f in FORMATS)


def speaker_metrics(fit: Fit) -> dict[str, Callable[[np.ndarray], float]]:
    """Metrics of a [paraphrases, states, messages] array (its paraphrase mean is the
    distribution): JSD to people, entropy, share of the messages that leave no doubt, slope of
    the conveyed probability on the Bayesian one."""
    human, conveyed = fit.human, conveyed_values(fit.message_set, fit.messages)
    certain = np.array([m in certain_messages(fit.message_set) for m in fit.messages])
    ref = np.array([p_red(a, o) for a, o in fit.states])
    return {"JSD to people": lambda a: float(metrics.js_divergence(a.mean(0), human).mean()),
            "entropy (bits)": lambda a: float(metrics.entropy_bits(a.mean(0)).mean()),
            "certain share": lambda a: float(a.mean(0)[:, certain].sum(-1).mean()),
            "words slope": lambda a: float(metrics.slope(ref, a.mean(0) @ conveyed))}


def listener_metrics(fit: Listener) -> dict[str, Callable[[np.ndarray], float]]:
    human = fit.human
    out = {"JSD to people": lambda a: float(metrics.js_divergence(a.mean(0), human).mean()),
           "mean number": lambda a: float((a.mean(0) @ NUMBERS).mean())}
    if fit.task == "critical":
        certain = np.array([m in certain_messages(fit.message_set) for m in fit.keys])
        if certain.any() and not certain.all():
            out["access gap (certain - hedged)"] = lambda a: float(
                (a.mean(0) @ NUMBERS)[certain].mean() - (a.mean(0) @ NUMBERS)[~certain].mean())
    return out


def _two_way(fit: Fit) -> dict[str, tuple[float, float]]:
    """Intervals of the speaker-JSD contrasts from the two-way bootstrap (Fit.boot)."""
    jsd = {(r, f): metrics.js_divergence(fit.boot[cell(r, f)], fit.human_boot).mean(-1)
           for r in ROLES for f in FORMATS}
    diffs = stats.factorial_effects(jsd, ROLES, FORMATS)
    return {k: tuple(map(float, stats.percentile_interval(v))) for k, v in diffs.items()}


def factorial(fit: Fit | Listener, analysis: str, seed: int = 0, n_resamples: int = 1000) -> pd.DataFrame:
    """The 2x2 contrasts of each metric of one analysis (units: paraphrases), Holm-adjusted
    within the metric; empty where the four cells were not all scored."""
    if not has_2x2(fit.models):
        return pd.DataFrame()
    fns = speaker_metrics(fit) if isinstance(fit, Fit) else listener_metrics(fit)
    cells = {(r, f): fit.per_paraphrase[cell(r, f)] for r in ROLES for f in FORMATS}
    n = len(fit.paraphrases)
    frames = []
    for name, fn in fns.items():
        rows = pd.DataFrame(stats.factorial_contrasts(fn, cells, ROLES, FORMATS, seed=seed,
                                                      n_resamples=n_resamples if n >= MIN_UNITS else 2))
        if n < MIN_UNITS:
            rows[["ci_low", "ci_high", "p_value"]] = np.nan
        tested = rows["contrast"].isin(TESTED)
        rows["p_holm"] = np.nan
        rows.loc[tested, "p_holm"] = stats.holm(rows.loc[tested, "p_value"].to_numpy())
        if isinstance(fit, Fit) and name == "JSD to people":
            two = _two_way(fit)
            rows["ci2_low"] = rows["contrast"].map(lambda c: two[c][0])
            rows["ci2_high"] = rows["contrast"].map(lambda c: two[c][1])
        frames.append(rows.assign(analysis=analysis, message_set=fit.message_set,
                                  reading=fit.reading, metric=name))
    out = pd.concat(frames, ignore_index=True)
    lead = ["analysis", "message_set", "reading", "metric", "contrast"]
    return out[lead + [c for c in out.columns if c not in lead]]


def cell_means(fit: Fit | Listener) -> pd.DataFrame:
    """Each metric in each of the four cells (the numbers the contrasts are made of)."""
    fns = speaker_metrics(fit) if isinstance(fit, Fit) else listener_metrics(fit)
    rows = [{"message_set": fit.message_set, "metric": name, "source": src, "value": fn(fit.per_paraphrase[src])}
            for name, fn in fns.items() for src in fit.models]
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ paraphrases as a random effect

def paraphrase_frame(fit: Fit) -> pd.DataFrame:
    """One row per cell x paraphrase x state: that paraphrase's JSD to people."""
    rows = []
    for name in fit.models:
        role, fmt = name.split(" ")
        jsd = metrics.js_divergence(fit.per_paraphrase[name], fit.human[None])  # [paraphrases, states]
        for p, para in enumerate(fit.paraphrases):
            for s, (a, o) in enumerate(fit.states):
                rows.append({"message_set": fit.message_set, "cell": name, "tuned": int(role == "tuned"),
                             "chat": int(fmt == "chat"), "paraphrase": para, "state": f"{a}-{o}", "jsd": jsd[p, s]})
    return pd.DataFrame(rows)


def mixed_model(fit: Fit) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`fit_mixed` on the fit's per-paraphrase JSDs; empty frames without the 2x2 or with
    fewer than 3 paraphrases."""
    if not has_2x2(fit.models) or len(fit.paraphrases) < 3:
        return pd.DataFrame(), pd.DataFrame()
    return fit_mixed(paraphrase_frame(fit), fit.message_set, fit.reading)


def fit_mixed(frame: pd.DataFrame, message_set: str, reading: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fixed effects, variance components) of jsd ~ tuned * chat + C(state), random intercept
    per paraphrase plus a paraphrase x cell component (MixedLM, REML). Treatment coding: `tuned`
    is the tuning effect in raw text, `chat` the format effect on the base, `tuned:chat` the
    interaction."""
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    formula = "jsd ~ tuned * chat" + (" + C(state)" if frame["state"].nunique() > 1 else "")
    model = smf.mixedlm(formula, frame, groups="paraphrase", re_formula="1", vc_formula={"cell": "0 + C(cell)"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = model.fit(reml=True, method=["lbfgs", "powell"])
    converged = bool(result.converged)  # (statsmodels warns on retries and boundaries; the estimates say which)
    ci = result.conf_int()
    names = {"tuned": "tuning | raw", "chat": "format | base", "tuned:chat": "interaction"}
    fixed = pd.DataFrame([{"message_set": message_set, "reading": reading, "term": term,
                           "effect": label, "estimate": float(result.fe_params[term]),
                           "se": float(result.bse_fe[term]), "ci_low": float(ci.loc[term, 0]),
                           "ci_high": float(ci.loc[term, 1]), "p_value": float(result.pvalues[term])}
                          for term, label in names.items()])
    var_para, var_cell, resid = float(result.cov_re.iloc[0, 0]), float(result.vcomp[0]), float(result.scale)
    total = var_para + var_cell + resid
    boundary = min(var_para, var_cell) <= 1e-6 * total  # a component estimated at 0
    variance = pd.DataFrame([{"message_set": message_set, "reading": reading, "component": c,
                              "variance": v, "sd": float(np.sqrt(max(v, 0.0))), "share": v / total if total else np.nan,
                              "n_paraphrases": frame["paraphrase"].nunique(), "converged": converged,
                              "boundary": boundary}
                             for c, v in (("paraphrase", var_para), ("paraphrase x cell", var_cell),
                                          ("residual", resid))])
    return fixed, variance


def headline(factorial_table: pd.DataFrame, reading: str) -> pd.DataFrame:
    """The chapter's headline for the summary page: the tuned model against the base, format held
    fixed, on the speaker's distance to people's choices (production, JSD; lower: closer)."""
    if factorial_table.empty:
        return factorial_table
    part = factorial_table[(factorial_table["analysis"] == "production") & (factorial_table["reading"] == reading)
                           & (factorial_table["metric"] == "JSD to people")]
    return tuning_rows(part).assign(measure="JSD to people's message choices (lower: closer)", unit="JSD",
                                    where=lambda t: t["message_set"] + " messages (n = paraphrases)")
