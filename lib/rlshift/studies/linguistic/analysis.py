"""The linguistic chapter's tables: accuracy per task and stage with CIs, per-item paired
contrasts (exact McNemar, Wilcoxon for CoQA's F1) with Holm across tasks, per-domain effects
pooled over tasks (random effects), a mixed-effects logistic regression of correctness on stage x
domain with item and category random effects, where the probability mass goes, few-shot curves,
and the free answers mapped onto the labels. Pure functions of the item rows."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from rlshift import metrics, results, stats
from rlshift.studies.linguistic.templates import TASKS

ZERO = "0-shot"


def contrast_pairs(roles) -> list[tuple[str, str, str]]:
    """(later, earlier, label): each stage against the base, and the tuned model and the DPO stage
    against SFT (what preference tuning adds on top of SFT) where both were read."""
    out = [(r, "base", f"{r} - base") for r in ("sft", "dpo", "tuned") if r in roles and "base" in roles]
    out += [(r, "sft", f"{r} - sft") for r in ("dpo", "tuned") if r in roles and "sft" in roles]
    return out


def accuracy(scores: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Zero-shot accuracy (CoQA: mean F1) per task and stage, with a Wilson interval."""
    zero = scores[scores["condition"] == ZERO]
    rows = []
    for (task, domain, role, fmt), g in zero.groupby(["task", "domain", "role", "format"], sort=False):
        n, hits = len(g), float(g["correct"].sum())
        lo, hi = stats.wilson(int(round(hits)), n, alpha)
        rows.append({"task": task, "domain": domain, "role": role, "format": fmt, "n": n,
                     "accuracy": hits / n, "ci_low": lo, "ci_high": hi,
                     "chance": float((1.0 / g["n_options"]).mean()) if task != "coqa" else np.nan,
                     "per_token_mean": float(g["correct_mean"].mean()) if "correct_mean" in g else np.nan})
    return pd.DataFrame(rows)


def by_category(scores: pd.DataFrame) -> pd.DataFrame:
    """Zero-shot accuracy per task, category (BLiMP paradigm, SyntaxGym suite, ...) and stage."""
    zero = scores[scores["condition"] == ZERO]
    return (zero.groupby(["task", "field", "category", "role"], as_index=False)
            .agg(accuracy=("correct", "mean"), n=("correct", "size")))


def _paired(scores: pd.DataFrame, later: str, earlier: str, fmt: str, value: str = "correct") -> pd.DataFrame:
    zero = scores[(scores["condition"] == ZERO) & (scores["format"] == fmt) & scores[value].notna()]
    wide = zero.pivot_table(index=["task", "domain", "item"], columns="role", values=value, aggfunc="first")
    return wide[[earlier, later]].dropna().reset_index()


def contrasts(scores: pd.DataFrame, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05,
              value: str = "correct") -> pd.DataFrame:
    """Per task and stage contrast, over the same items: the accuracy difference with a paired
    bootstrap CI, its standard error (floored at 1/n: a task whose items all agree is a precise
    zero, not a task without information), the exact McNemar p (Wilcoxon signed-rank for CoQA's
    F1), Holm across the tasks of each contrast. `value`: another per-item column (the mass on the
    answer words, the entropy) gets the same paired reading (Wilcoxon where it is not 0/1)."""
    from scipy.stats import wilcoxon

    rows = []
    for fmt in scores["format"].unique():
        for later, earlier, label in contrast_pairs(set(scores["role"])):
            wide = _paired(scores, later, earlier, fmt, value)
            for (task, domain), g in wide.groupby(["task", "domain"], sort=False):
                a, b = g[later].to_numpy(float), g[earlier].to_numpy(float)
                d = a - b
                lo, hi = stats.bootstrap_ci(lambda idx: float(d[idx].mean()), len(d), seed, n_boot, alpha)
                binary = set(np.unique(np.concatenate([a, b]))) <= {0.0, 1.0}
                if binary:
                    test = stats.mcnemar_test(a, b)
                    p, test_name = test["p_value"], "McNemar (exact)"
                else:
                    p = float(wilcoxon(a, b).pvalue) if np.any(d != 0) else 1.0
                    test_name = "Wilcoxon signed-rank"
                se = max(float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0, 1.0 / len(d))
                rows.append({"format": fmt, "contrast": label, "task": task, "domain": domain, "n": len(d),
                             "difference": float(d.mean()), "ci_low": lo, "ci_high": hi, "se": se, "p_value": p,
                             "test": test_name, "later_better": int((d > 0).sum()),
                             "earlier_better": int((d < 0).sum())})
    out = pd.DataFrame(rows)
    if not out.empty:
        out["p_holm"] = np.nan
        for _, idx in out.groupby(["format", "contrast"]).groups.items():
            out.loc[idx, "p_holm"] = stats.holm(out.loc[idx, "p_value"])
    return out


def domain_groups(tasks) -> dict[str, list[str]]:
    """The plan's hypotheses' groups: syntax; semantics without the conversational benchmarks;
    the conversational ones; pragmatics."""
    groups = {"syntax": [], "semantics (non-conversational)": [], "semantics (conversational)": [], "pragmatics": []}
    for t in tasks:
        spec = TASKS[t]
        key = spec.domain if spec.domain != "semantics" else (
            "semantics (conversational)" if spec.conversational else "semantics (non-conversational)")
        groups[key].append(t)
    return groups


def domain_effects(contrast_table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Each group's effect pooled over its tasks by random effects (a task is one study, its variance
    the square of its standard error), with Holm across the groups of each contrast."""
    rows = []
    if contrast_table.empty:
        return pd.DataFrame(columns=["format", "contrast", "group", "tasks", "k", "estimate", "ci_low", "ci_high",
                                     "p_value", "tau2", "p_holm"])
    groups = domain_groups(contrast_table["task"].unique())
    for (fmt, label), part in contrast_table.groupby(["format", "contrast"], sort=False):
        for group, tasks in groups.items():
            sub = part[part["task"].isin(tasks)]
            if sub.empty:
                continue
            if len(sub) == 1:
                r = sub.iloc[0]
                pooled = {"k": 1, "estimate": r["difference"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                          "p_value": r["p_value"], "tau2": np.nan}
            else:
                half = 1.959964 * sub["se"]
                pooled = stats.random_effects(sub["difference"], sub["difference"] - half, sub["difference"] + half)
            rows.append({"format": fmt, "contrast": label, "group": group, "tasks": ", ".join(sub["task"]),
                         **{k: pooled[k] for k in ("k", "estimate", "ci_low", "ci_high", "p_value", "tau2")}})
    out = pd.DataFrame(rows)
    out["p_holm"] = np.nan
    for _, idx in out.groupby(["format", "contrast"]).groups.items():
        out.loc[idx, "p_holm"] = stats.holm(out.loc[idx, "p_value"])
    return out


def mixed_model(scores: pd.DataFrame, fmt: str | None = None) -> pd.DataFrame:
    """Zero-shot correctness ~ stage x domain, with random intercepts for items and categories
    (statsmodels' binomial mixed GLM, variational Bayes): the fixed effects on the log-odds scale
    with the variational posterior's 95% intervals. Those understate the spread (about twofold on
    constructed data); the Laplace fit (`fit_map`) does not converge with ~1000 item effects. So the
    model shows the direction and relative size of stage x domain; the tests are the paired ones.
    Binary tasks only (CoQA's F1 is not a 0/1 outcome)."""
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    zero = scores[(scores["condition"] == ZERO) & (scores["task"] != "coqa")]
    if fmt is not None:
        zero = zero[zero["format"] == fmt]
    zero = zero.assign(unit=zero["task"] + ":" + zero["item"].astype(str),
                       cat=zero["task"] + ":" + zero["category"].astype(str), y=zero["correct"].astype(float))
    if zero["role"].nunique() < 2 or len(zero) < 20:
        return pd.DataFrame(columns=["term", "estimate", "sd", "ci_low", "ci_high"])
    formula = "y ~ C(role, Treatment('base')) * C(domain)"
    model = BinomialBayesMixedGLM.from_formula(formula, {"item": "0 + C(unit)", "category": "0 + C(cat)"}, zero)
    fit = model.fit_vb()
    mean, sd = np.asarray(fit.fe_mean), np.asarray(fit.fe_sd)
    term = [re.sub(r"C\((\w+)(, Treatment\('base'\))?\)\[T\.([^\]]+)\]", r"\1=\3", n) for n in model.exog_names]
    return pd.DataFrame({"term": term, "estimate": mean, "sd": sd, "ci_low": mean - 1.96 * sd,
                         "ci_high": mean + 1.96 * sd})


def mass(scores: pd.DataFrame) -> pd.DataFrame:
    """Where the probability goes at the answer position (label tasks, zero-shot): the mass on the
    answer words, the entropy of the whole next-token distribution (nats), per task and stage."""
    zero = scores[(scores["condition"] == ZERO) & scores["option_mass"].notna()] if "option_mass" in scores \
        else scores.iloc[0:0]
    return (zero.groupby(["task", "domain", "role", "format"], as_index=False, sort=False)
            .agg(option_mass=("option_mass", "mean"), entropy=("entropy", "mean"), n=("option_mass", "size")))


def gained_tokens(scores: pd.DataFrame, later: str = "tuned", earlier: str = "base", top: int = 10) -> pd.DataFrame:
    """Which tokens the later stage puts first at the answer position more often than the earlier
    one does (label tasks, zero-shot): each token's share of items as the top token, per stage."""
    zero = scores[(scores["condition"] == ZERO) & scores.get("top_token", pd.Series(dtype=object)).notna()]
    share = (zero.groupby(["role", "top_token"]).size() / zero.groupby("role").size()).unstack(0).fillna(0.0)
    if later not in share or earlier not in share:
        return pd.DataFrame(columns=["top_token", earlier, later, "gain"])
    share["gain"] = share[later] - share[earlier]
    out = share.sort_values("gain", ascending=False).head(top).reset_index()
    out["top_token"] = out["top_token"].map(repr)  # whitespace and newlines made visible
    return out[["top_token", earlier, later, "gain"]]


def shot_curves(scores: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per task, stage, k and composition, over items and draws (the few-shot tasks)."""
    shot_tasks = scores.loc[scores["k"] > 0, "task"].unique()
    part = scores[scores["task"].isin(shot_tasks)]
    zero = part[part["k"] == 0]
    rows = [zero.assign(composition=c) for c in part.loc[part["k"] > 0, "composition"].unique()]  # k = 0 on each curve
    both = pd.concat(rows + [part[part["k"] > 0]], ignore_index=True) if rows else part
    return (both.groupby(["task", "role", "format", "composition", "k"], as_index=False)
            .agg(accuracy=("correct", "mean"), n=("correct", "size")))


# ------------------------------------------------------------------ free answers

def map_reply(reply: str, options: list[str]) -> int | None:
    """Rules: the reply's first word is one option (label words: 'yes', 'true', ...) and it names no
    other, else the one option the reply names as a whole word, else (longer options) the option with the best token
    F1 of at least 0.5, unique; None where nothing maps."""
    words = [o.strip().lower() for o in options]
    first = re.findall(r"[a-z]+", str(reply).lower())[:1]
    named = [i for i, w in enumerate(words) if re.search(rf"\b{re.escape(w)}\b", str(reply).lower())]
    if first and first[0] in words and all(len(w.split()) == 1 for w in words):
        return words.index(first[0]) if len(named) == 1 else None  # "yes and no" names both: unmappable
    if len(named) == 1:
        return named[0]
    f1 = [metrics.token_f1(reply, [w]) for w in words]
    best = int(np.argmax(f1))
    if f1[best] >= 0.5 and sorted(f1)[-2:].count(f1[best]) == 1:
        return best
    return None


def free_answers(free: pd.DataFrame, classified: pd.DataFrame, prep) -> pd.DataFrame:
    """Every free answer with its mapped option (rules), whether that is right, and the tuned
    model's reading of it (label tasks); CoQA's answers with F1 and exact match."""
    rows = []
    tasks = {t.name: t for t in prep.tasks}
    model = classified.set_index(["role", "task", "item_id"])["model_word"].to_dict() if len(classified) else {}
    for r in free.itertuples():
        task = tasks[r.task]
        item = prep.item(r.task, r.item_id)
        rec = {"role": r.role, "format": r.format, "task": r.task, "domain": r.domain, "item_id": r.item_id,
               "answer_text": r.text}
        if task.kind == "generation":
            rec.update(f1=metrics.token_f1(r.text, item["answers"]), em=metrics.exact_match(r.text, item["answers"]))
        else:
            options = ([task.words[c] for c in item["choices"]] if task.kind == "label" else list(item["choices"]))
            mapped = map_reply(r.text, options)
            gold = int(item[task.answer])
            word = model.get((r.role, r.task, r.item_id))
            rec.update(mapped=mapped, unmappable=mapped is None, correct=float(mapped == gold),
                       model_mapped=None if word is None else [o.strip() for o in options].index(word))
        rows.append(rec)
    return pd.DataFrame(rows)


def free_summary(answers: pd.DataFrame) -> pd.DataFrame:
    """Per task and stage: how many free answers map onto an option, how many of those are right,
    and how often the rules and the tuned model's reading agree (where both map)."""
    choice = answers[answers["task"] != "coqa"] if "mapped" in answers else answers.iloc[0:0]
    if choice.empty:
        return pd.DataFrame(columns=["task", "role", "n", "mapped", "unmappable", "accuracy_mapped",
                                     "accuracy_all", "rules_vs_model"])
    rows = []
    choice = choice.assign(unmappable=choice["unmappable"].astype(bool))
    for (task, role), g in choice.groupby(["task", "role"], sort=False):
        mapped = g[~g["unmappable"]]
        both = g[g["mapped"].notna() & g["model_mapped"].notna()]
        rows.append({"task": task, "role": role, "n": len(g), "mapped": len(mapped),
                     "unmappable": int(g["unmappable"].sum()),
                     "accuracy_mapped": float(mapped["correct"].mean()) if len(mapped) else np.nan,
                     "accuracy_all": float(g["correct"].mean()),
                     "rules_vs_model": float((both["mapped"] == both["model_mapped"]).mean()) if len(both) else np.nan})
    return pd.DataFrame(rows)


DECLINES = re.compile(r"\b(i don'?t know|i'?m not sure|not sure|i'?m sorry|i cannot|i can'?t)\b", re.I)


def coqa_summary(answers: pd.DataFrame) -> pd.DataFrame:
    """CoQA per stage: mean F1 and exact match, the answers' length, and how many decline ("I don't
    know", "I'm sorry", ...): a drop in F1 can be a decline or a wrong answer."""
    part = answers[answers["task"] == "coqa"] if "f1" in answers else answers.iloc[0:0]
    if part.empty:
        return pd.DataFrame(columns=["role", "n", "f1", "em", "words", "declines"])
    part = part.assign(words=part["answer_text"].str.split().str.len(),
                       declines=part["answer_text"].str.contains(DECLINES))
    return (part.groupby("role", as_index=False, sort=False)
            .agg(n=("f1", "size"), f1=("f1", "mean"), em=("em", "mean"), words=("words", "mean"),
                 declines=("declines", "mean")))


def coqa_rows(answers: pd.DataFrame, prep) -> pd.DataFrame:
    """CoQA's free answers as item rows (correct = token F1), so they join the contrasts."""
    if "f1" not in answers or answers["f1"].isna().all():
        return pd.DataFrame()
    part = answers[answers["task"] == "coqa"]
    items = prep.items["coqa"].set_index("item_id")
    return pd.DataFrame({"request": part["item_id"], "task": "coqa", "domain": "semantics",
                         "category": items.loc[part["item_id"], "category"].to_numpy(), "field": "semantics",
                         "item": part["item_id"], "answer": 0, "n_options": np.nan, "condition": ZERO, "k": 0,
                         "composition": "none", "draw": 0, "correct": part["f1"].to_numpy(float),
                         "em": part["em"].to_numpy(float), "role": part["role"], "format": part["format"]})


def headline(effects: pd.DataFrame) -> pd.DataFrame:
    """Each stage contrast per hypothesis group, pooled over its tasks."""
    if effects.empty:
        return results.headline(pd.DataFrame())
    return results.headline(pd.DataFrame({
        "measure": "zero-shot accuracy, pooled over tasks", "where": effects["group"], "contrast": effects["contrast"],
        "format": effects["format"], "estimate": effects["estimate"], "ci_low": effects["ci_low"],
        "ci_high": effects["ci_high"], "p_holm": effects["p_holm"], "n": effects["k"], "unit": "accuracy"}))


def inspection(answers: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """What people read in the free answers, against the rules: per annotator, the share of their
    labels the rules match; between two annotators, Cohen's kappa on the answers both labelled."""
    from sklearn.metrics import cohen_kappa_score

    if labels.empty:
        return pd.DataFrame(columns=["who", "n", "agreement", "kappa"])
    rules = {f"{r.role}|{r.task}|{r.item_id}": ("unmappable" if r.unmappable else str(int(r.mapped)))
             for r in answers[answers["task"] != "coqa"].itertuples()}
    rows = []
    for annotator, g in labels.groupby("annotator"):
        match = [rules.get(i) == lab for i, lab in zip(g["sheet_id"], g["label"])]
        rows.append({"who": f"{annotator} vs rules", "n": len(g), "agreement": float(np.mean(match)), "kappa": np.nan})
    wide = labels.pivot_table(index="sheet_id", columns="annotator", values="label", aggfunc="first")
    names = list(wide.columns)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = wide[[a, b]].dropna()
            if len(both):
                rows.append({"who": f"{a} vs {b}", "n": len(both), "agreement": float((both[a] == both[b]).mean()),
                             "kappa": float(cohen_kappa_score(both[a], both[b])) if both.stack().nunique() > 1 else np.nan})
    return pd.DataFrame(rows)
