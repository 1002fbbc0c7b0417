"""The reward-model components chapter's analyses: which defects people's generic preferences
punish (FineGrainedRLHF's real labels), which measurable components coincide with the generic
preference by task type, how the machine judges agree with people, and, once people have
filled the sheets, their agreement, aspect relevance by task type and whether their generic
preference follows their aspect-wise ones."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from rlshift import stats
from rlshift.studies.rm_components.aspects import ASPECTS, FG_DEFECTS, FG_ERRORS, FG_MISSING, PROXIES
from rlshift.studies.rm_components.inputs import PREFERENCE


MIN_PROMPTS = 5  # fewer prompts: a share without an interval or a test (resampling 2 prompts says nothing)


def cluster_share(hits, clusters, seed: int, n_boot: int) -> dict:
    """A share of 0/1 outcomes with a bootstrap 95% interval that resamples clusters (the pairs of
    one prompt are not independent) and a two-sided bootstrap p-value against one half."""
    hits, clusters = np.asarray(hits, float), np.asarray(clusters)
    codes, index = np.unique(clusters, return_inverse=True)
    if len(codes) < MIN_PROMPTS:
        return {"share": float(hits.mean()), "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
                "n": int(len(hits)), "prompts": int(len(codes))}
    sums, counts = np.bincount(index, hits, len(codes)), np.bincount(index, minlength=len(codes)).astype(float)
    weights = stats.resample_weights(np.random.default_rng(seed), len(codes), n_boot)
    boot = (weights @ sums) / np.maximum(weights @ counts, 1e-12)
    low, high = stats.percentile_interval(boot)
    return {"share": float(hits.mean()), "ci_low": float(low), "ci_high": float(high),
            "p_value": stats.bootstrap_p(boot - 0.5), "n": int(len(hits)), "prompts": int(len(codes))}


# ------------------------------------------------------------------ people's labels (FineGrainedRLHF)

def fg_defects(labels: pd.DataFrame) -> pd.DataFrame:
    """Per question, whether people marked each aspect's defect on prediction 1 (0/1), and its length."""
    out = pd.DataFrame({"item_id": labels["item_id"]})
    for defect in FG_DEFECTS:
        kinds = [k for k, v in {**FG_ERRORS, **FG_MISSING}.items() if v == defect]
        out[defect] = (labels[[f"n_{k}" for k in kinds]].sum(axis=1) > 0).astype(int)
    out["words_1"] = labels["prediction_1"].str.split().str.len()
    return out


def defect_rates(defects: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for defect in FG_DEFECTS:
        hits, n = int(defects[defect].sum()), len(defects)
        rows.append({"defect": defect, "share of answers": hits / n, "ci_low": stats.wilson(hits, n)[0],
                     "ci_high": stats.wilson(hits, n)[1], "n": n})
    return pd.DataFrame(rows)


def fg_comparisons(labels: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """People's comparisons of prediction 1 (whose defects they labelled) with predictions 2-4:
    whether prediction 1 won, its defects, and the log ratio of the two lengths."""
    defects = fg_defects(labels).set_index("item_id")
    fg = pairs[(pairs["source"] == "finegrained_rlhf") & pairs["pair_id"].str.contains(r"-1v\d$")].copy()
    first_is_a = ~fg["swapped"].astype(bool)
    one_won = np.where(first_is_a, fg["human_pref"] == "a", fg["human_pref"] == "b")
    one = np.where(first_is_a, fg["response_a"], fg["response_b"])
    other = np.where(first_is_a, fg["response_b"], fg["response_a"])
    words = lambda texts: np.array([max(len(t.split()), 1) for t in texts], float)  # noqa: E731
    out = pd.DataFrame({"item_id": fg["item_id"].to_numpy(), "pair_id": fg["pair_id"].to_numpy(),
                        "one_won": one_won.astype(int), "log_length_ratio": np.log(words(one) / words(other))})
    return out.join(defects[list(FG_DEFECTS)], on="item_id")


def preference_model(comparisons: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Logistic regression of 'prediction 1 won' on its labelled defects and the log length ratio,
    with standard errors clustered by question (statsmodels GLM); odds ratios with 95% intervals,
    Holm across the terms."""
    import statsmodels.api as sm

    terms = [d for d in FG_DEFECTS if comparisons[d].nunique() > 1] + ["log_length_ratio"]
    X = sm.add_constant(comparisons[terms].astype(float))
    groups = pd.factorize(comparisons["item_id"])[0]
    fit = sm.GLM(comparisons["one_won"].astype(float), X, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": groups})
    ci = fit.conf_int(alpha=0.05)
    out = pd.DataFrame({"term": terms, "odds_ratio": np.exp(fit.params[terms]).to_numpy(),
                        "ci_low": np.exp(ci.loc[terms, 0]).to_numpy(), "ci_high": np.exp(ci.loc[terms, 1]).to_numpy(),
                        "p_value": fit.pvalues[terms].to_numpy(),
                        "with": [int(comparisons[t].sum()) if t != "log_length_ratio" else len(comparisons)
                                 for t in terms]})
    out["p_holm"] = stats.holm(out["p_value"])
    out["n"], out["questions"] = len(comparisons), comparisons["item_id"].nunique()
    out["significant"] = out["p_holm"] < alpha
    return out


def win_rates_by_defect(comparisons: pd.DataFrame) -> pd.DataFrame:
    """How often prediction 1 won, with and without each labelled defect (descriptive)."""
    rows = []
    for d in FG_DEFECTS:
        for present, part in comparisons.groupby(d):
            won, n = int(part["one_won"].sum()), len(part)
            lo, hi = stats.wilson(won, n)
            rows.append({"defect": d, "present": bool(present), "prediction 1 won": won / n, "ci_low": lo,
                         "ci_high": hi, "n": n})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ machine readings against people's preference

def proxy_coincidence(pairs: pd.DataFrame, proxy: pd.DataFrame, seed: int, n_boot: int, alpha: float) -> pd.DataFrame:
    """Per task type and proxy: the share of people's preferences that went to the response with
    more of it (pairs where the two differ), a prompt-clustered 95% interval, a test against one
    half (Holm across the table), and whether the share differs between task types (a chi-square
    test per proxy, Holm across proxies)."""
    data = pairs[pairs["human_pref"].isin(["a", "b"])].merge(proxy, on="pair_id")
    rows = []
    for name in PROXIES:
        diff = data[f"{name}_a"] - data[f"{name}_b"]
        usable = data[diff.notna() & (diff != 0)]
        more_won = np.where(usable["human_pref"] == "a", diff[usable.index] > 0, diff[usable.index] < 0)
        for task, idx in usable.groupby("task_type").indices.items():
            if len(idx) >= 2:
                rows.append({"task_type": task, "proxy": name, "aspect": PROXIES[name],
                             **cluster_share(more_won[idx], usable["item_id"].to_numpy()[idx], seed, n_boot)})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["p_holm"] = stats.holm(out["p_value"])
    out["significant"] = out["p_holm"] < alpha
    by_task = {}
    for name, part in out.groupby("proxy"):
        table = np.array([[round(s * n), n - round(s * n)] for s, n in zip(part["share"], part["n"])])
        by_task[name] = chi2_contingency(table)[1] if len(part) > 1 and (table.sum(axis=0) > 0).all() else np.nan
    p_task = pd.Series(by_task)
    out["p_task_differs"] = out["proxy"].map(p_task)
    out["p_task_differs_holm"] = out["proxy"].map(pd.Series(stats.holm(p_task.to_numpy()), index=p_task.index))
    return out


def judge_agreement(readings: pd.DataFrame, pairs: pd.DataFrame, seed: int, n_boot: int) -> pd.DataFrame:
    """Per question the tuned model was asked (an aspect, or the generic one) and task type: how
    often its preference (P(A) averaged over both orders) matches people's generic preference,
    and how often it names the same response in both orders (consistency; 0.5 is a model that
    always says one letter)."""
    if readings.empty:
        return pd.DataFrame()
    both = readings.pivot_table(index=["pair_id", "aspect"], columns="swap", values="p_a").dropna()
    both = both.reset_index().merge(pairs[["pair_id", "item_id", "task_type", "human_pref"]], on="pair_id")
    both["p_a"] = (both[False] + both[True]) / 2
    both["consistent"] = (both[False] > 0.5) == (both[True] > 0.5)
    rated = both[both["human_pref"].isin(["a", "b"])]
    rows = []
    for (aspect, task), part in rated.groupby(["aspect", "task_type"]):
        agree = (part["p_a"] > 0.5) == (part["human_pref"] == "a")
        rows.append({"question": aspect, "task_type": task, **cluster_share(agree, part["item_id"], seed, n_boot),
                     "consistent in both orders": float(part["consistent"].mean())})
    return pd.DataFrame(rows)


def reward_agreement(rewards: pd.DataFrame, pairs: pd.DataFrame, seed: int, n_boot: int) -> pd.DataFrame:
    """Per reward model and task type: how often it rewards people's preferred response higher."""
    data = rewards.merge(pairs[["pair_id", "item_id", "task_type", "human_pref"]], on="pair_id")
    data = data[data["human_pref"].isin(["a", "b"])]
    rows = []
    for (name, task), part in data.groupby(["reward_model", "task_type"]):
        agree = (part["r_a"] > part["r_b"]) == (part["human_pref"] == "a")
        rows.append({"reward_model": name, "task_type": task, **cluster_share(agree, part["item_id"], seed, n_boot)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ people's sheets

def kappas(labels: pd.DataFrame, seed: int, n_boot: int) -> pd.DataFrame:
    """Per sheet column: Cohen's kappa (mean over annotator pairs, scikit-learn) and Fleiss' kappa
    (statsmodels) on the items every annotator labelled, with bootstrap 95% intervals over items."""
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    rows = []
    for column, part in labels.groupby("column"):
        wide = part.pivot_table(index="pair_id", columns="annotator", values="label", aggfunc="first").dropna()
        if wide.shape[1] < 2 or len(wide) < 2:
            continue
        values = wide.to_numpy()
        categories = sorted(set(values.ravel()))

        def cohen(idx):
            pairs_ = itertools.combinations(range(values.shape[1]), 2)
            return float(np.nanmean([cohen_kappa_score(values[idx, i], values[idx, j], labels=categories)
                                     for i, j in pairs_]))

        def fleiss(idx):
            return float(fleiss_kappa(aggregate_raters(values[idx])[0]))

        row = {"column": column, "items": len(wide), "annotators": wide.shape[1],
               "raw agreement": float(np.mean([len(set(r)) == 1 for r in values]))}
        for name, fn in (("cohen", cohen), ("fleiss", fleiss)):
            with np.errstate(all="ignore"):
                row[f"{name}_kappa"] = fn(np.arange(len(wide)))
                row[f"{name}_low"], row[f"{name}_high"] = stats.bootstrap_ci(fn, len(wide), seed, n_boot)
        rows.append(row)
    return pd.DataFrame(rows)


def relevance_by_task(labels: pd.DataFrame, pairs: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per aspect and task type the share of judgments 'relevant' (all annotators), and per
    aspect a chi-square test of relevance against task type (Holm across aspects)."""
    rel = labels[labels["column"].str.startswith("rel_")].merge(pairs[["pair_id", "task_type"]], on="pair_id")
    if rel.empty:
        return pd.DataFrame()
    rel["aspect"] = rel["column"].str.removeprefix("rel_")
    rel["relevant"] = rel["label"] == "relevant"
    out = rel.groupby(["aspect", "task_type"])["relevant"].agg(["mean", "size"]).reset_index()
    p = {}
    for aspect, part in rel.groupby("aspect"):
        table = pd.crosstab(part["task_type"], part["relevant"]).to_numpy()
        p[aspect] = chi2_contingency(table)[1] if table.shape[0] > 1 and table.shape[1] > 1 else np.nan
    p = pd.Series(p)
    out["p_task"] = out["aspect"].map(p)
    out["p_task_holm"] = out["aspect"].map(pd.Series(stats.holm(p.to_numpy()), index=p.index))
    out["depends_on_task"] = out["p_task_holm"] < alpha
    return out.rename(columns={"mean": "share relevant", "size": "judgments"})


def generic_vs_aspects(labels: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per aspect (and task type): where an annotator found the aspect relevant and preferred a
    response on it, how often a generic preference names the same response, from the same
    annotator and from another one (the plan: someone else gives the generic ranking)."""
    wide = labels.pivot_table(index=["annotator", "pair_id"], columns="column", values="label",
                              aggfunc="first").reset_index()
    wide = wide.merge(pairs[["pair_id", "task_type"]], on="pair_id")
    rows = []
    for aspect in ASPECTS:
        if f"pref_{aspect}" not in wide or "generic" not in wide:
            continue
        mine = wide[(wide.get(f"rel_{aspect}") == "relevant") & wide[f"pref_{aspect}"].isin(["a", "b"])]
        for who in ("same annotator", "another annotator"):
            if who == "same annotator":
                both = mine[mine["generic"].isin(PREFERENCE)][["pair_id", "task_type", f"pref_{aspect}", "generic"]]
            else:
                others = wide[wide["generic"].isin(PREFERENCE)][["annotator", "pair_id", "generic"]]
                both = mine[["annotator", "pair_id", "task_type", f"pref_{aspect}"]].merge(
                    others, on="pair_id", suffixes=("", "_other"))
                both = both[both["annotator"] != both["annotator_other"]]
            for task, part in list(both.groupby("task_type")) + [("all", both)]:
                if len(part):
                    same = int((part[f"pref_{aspect}"] == part["generic"]).sum())
                    lo, hi = stats.wilson(same, len(part))
                    rows.append({"aspect": aspect, "generic from": who, "task_type": task,
                                 "coincide": same / len(part), "ci_low": lo, "ci_high": hi, "n": len(part)})
    return pd.DataFrame(rows)
