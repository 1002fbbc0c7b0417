"""The collapse chapter's analyses, each over one setting's tables: do training and test inputs
match; is output quality lower on the out-of-distribution part (and more so after RL than before:
a difference in differences, since out-of-distribution inputs may be harder for every model); do
outputs carry the same footprint whatever the input (output shift between the parts, against the
inputs' own shift and the reference model's); how much of each input property carries into the
output; do test outputs look like training outputs."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from rlshift import footprints as fp
from rlshift import metrics, stats
from rlshift.studies.data_collapse.reading import PARTS, by_ids

TRANSFERRED = ("n_words", "sentence_length", "sentiment_vader", "sentiment_model")
LATER = ("tuned", "dpo")  # the preference-tuned roles each contrasted with the reference: the main one first


def reference_role(roles: Sequence[str]) -> str:
    """What the tuned model is contrasted with: the stage before RL (SFT) where run, else the base."""
    return "sft" if "sft" in roles else "base"


def later_roles(roles: Sequence[str]) -> list[str]:
    """The preference-tuned roles that were run (the tuned model, and the DPO stage beside it)."""
    return [r for r in LATER if r in roles]


def input_match(train: fp.Footprint | None, inputs: fp.Footprint, parts: pd.DataFrame, heldout_ids: Sequence[str],
                n_boot: int, seed: int, top_k: int) -> pd.DataFrame:
    """Footprint distances per aspect: training vs held-out inputs of the same distribution, and
    training vs each part (without a training pool: the two parts against each other); Holm
    within each comparison."""
    pairs = []
    if train is not None:
        if len(heldout_ids):
            pairs.append(("training vs held-out", train, by_ids(inputs, heldout_ids)))
        pairs += [(f"training vs {p}", train, by_ids(inputs, parts.loc[parts["part"] == p, "item_id"])) for p in PARTS]
    else:
        pairs.append((f"{PARTS[0]} vs {PARTS[1]}", *(by_ids(inputs, parts.loc[parts["part"] == p, "item_id"])
                                                    for p in PARTS)))
    frames = []
    for name, a, b in pairs:
        table = fp.compare(a, b, n_boot=n_boot, seed=seed, top_k=top_k)
        frames.append(table.assign(comparison=name, p_holm=stats.holm(table["p_perm"])))
    return pd.concat(frames, ignore_index=True)


def per_output_quality(outputs: pd.DataFrame, rewards: pd.DataFrame, judge: str, out_table: pd.DataFrame,
                       references: pd.Series | None) -> pd.DataFrame:
    """One row per output: reward (the judge's), the reward with length regressed out (over all
    outputs of the setting), and ROUGE-L F1 to the human reference where there is one."""
    got = rewards[rewards["reward_model"] == judge].set_index(["item_id", "role"])["reward"]
    frame = outputs[["item_id", "role", "part"]].copy()
    frame["reward"] = got.loc[list(zip(frame["item_id"], frame["role"]))].to_numpy()
    words = np.log1p(out_table.set_index("text_id").loc[frame["item_id"] + ":" + frame["role"], "n_words"].to_numpy())
    design = np.column_stack([np.ones(len(words)), words])
    beta, *_ = np.linalg.lstsq(design, frame["reward"].to_numpy(), rcond=None)
    frame["reward_length_adjusted"] = frame["reward"] - design @ beta + frame["reward"].mean()
    if references is not None:
        frame["rouge_l"] = [metrics.rouge_l_f1(t, references[i]) for t, i in zip(outputs["text"], outputs["item_id"])]
    return frame


def quality_contrasts(quality: pd.DataFrame, n_boot: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cells (role x part: mean and 95% CI) and contrasts: each role's in - out gap, and the tuned
    model's gap minus the reference model's (items resampled within parts, the same for every role);
    Holm over the difference-in-differences rows."""
    metrics_ = [m for m in ("reward", "reward_length_adjusted", "rouge_l") if m in quality]
    roles = list(dict.fromkeys(quality["role"]))
    ref = reference_role(roles)
    rng = np.random.default_rng(seed)
    ids = {p: sorted(quality.loc[quality["part"] == p, "item_id"].unique()) for p in PARTS}
    weights = {p: stats.resample_weights(rng, len(ids[p]), n_boot) / len(ids[p]) for p in PARTS}
    cells, contrasts = [], []
    for metric in metrics_:
        wide = quality.pivot_table(index="item_id", columns="role", values=metric)
        boot, point = {}, {}
        for role in roles:
            for p in PARTS:
                values = wide.loc[ids[p], role].to_numpy()
                point[role, p], boot[role, p] = float(np.mean(values)), weights[p] @ values
                low, high = np.quantile(boot[role, p], [0.025, 0.975])
                cells.append({"metric": metric, "role": role, "part": p, "mean": point[role, p], "low": low,
                              "high": high, "n": len(values)})
        gaps = {r: (point[r, PARTS[0]] - point[r, PARTS[1]], boot[r, PARTS[0]] - boot[r, PARTS[1]]) for r in roles}
        rows = [(f"{r}: in - out", *gaps[r]) for r in roles]
        rows += [(f"{later} gap - {other} gap", gaps[later][0] - gaps[other][0], gaps[later][1] - gaps[other][1])
                 for later in later_roles(roles) for other in dict.fromkeys([ref, "base"]) if other in roles]
        for name, value, draws in rows:
            low, high = np.quantile(draws, [0.025, 0.975])
            contrasts.append({"metric": metric, "contrast": name, "estimate": value, "low": low, "high": high,
                              "p": stats.bootstrap_p(draws)})
    contrasts = pd.DataFrame(contrasts)
    did = contrasts["contrast"].str.contains("gap -")
    contrasts["p_holm"] = np.nan  # Holm over each tuned role's difference-in-differences rows
    later = contrasts["contrast"].str.split(" ").str[0]
    contrasts.loc[did, "p_holm"] = contrasts[did].groupby(later[did])["p"].transform(stats.holm)
    return pd.DataFrame(cells), contrasts


def output_shift(inputs: fp.Footprint, outputs: fp.Footprint, parts: pd.DataFrame, roles: Sequence[str],
                 n_boot: int, seed: int, top_k: int) -> pd.DataFrame:
    """Per aspect: the distance between the in- and out-of-distribution parts' inputs, and between
    each role's outputs on them (excess over the permutation null; p one-sided)."""
    ids = {p: parts.loc[parts["part"] == p, "item_id"].tolist() for p in PARTS}
    frames = [fp.compare(*(by_ids(inputs, ids[p]) for p in PARTS), n_boot=n_boot, seed=seed, top_k=top_k)
              .assign(texts="inputs")]
    for role in roles:
        frames.append(fp.compare(*(by_ids(outputs, [f"{i}:{role}" for i in ids[p]]) for p in PARTS), n_boot=n_boot,
                                 seed=seed, top_k=top_k).assign(texts=f"{role} outputs"))
    table = pd.concat(frames, ignore_index=True)
    table["p_holm"] = table.groupby("texts")["p_perm"].transform(lambda p: stats.holm(p))
    return table


def shift_contrast(outputs: fp.Footprint, parts: pd.DataFrame, shift: pd.DataFrame, roles: Sequence[str],
                   n_boot: int, seed: int, top_k: int) -> pd.DataFrame:
    """Per aspect: each tuned role's output shift (excess JS, in vs out) minus the reference
    model's, with a paired bootstrap interval (the same resampled items for both models; each
    model's null floor held at its value on the data); Holm within each contrast. Below zero: the
    tuned model's outputs change less with the input than the reference's, a collapse onto one footprint."""
    ref = reference_role(roles)
    ids = {p: parts.loc[parts["part"] == p, "item_id"].tolist() for p in PARTS}
    rng = np.random.default_rng(seed + 7)
    weights = {p: stats.resample_weights(rng, len(ids[p]), n_boot) for p in PARTS}
    rows = []
    for later in later_roles(roles):
        for aspect in shift["aspect"].unique():
            draws, point = {}, {}
            counters = {(r, p): by_ids(outputs, [f"{i}:{r}" for i in ids[p]]).counts[aspect] for r in (later, ref)
                        for p in PARTS}
            vocab = fp.vocabulary([c for cs in counters.values() for c in cs], top_k)
            for role in (later, ref):
                m = {p: fp.count_matrix(counters[role, p], vocab) for p in PARTS}
                null = float(shift.loc[(shift["texts"] == f"{role} outputs") & (shift["aspect"] == aspect),
                                       "null_mean"].iloc[0])
                point[role] = fp.js_distance(m[PARTS[0]].sum(0), m[PARTS[1]].sum(0)) - null
                draws[role] = fp.js_rows(weights[PARTS[0]] @ m[PARTS[0]], weights[PARTS[1]] @ m[PARTS[1]]) - null
            diff = draws[later] - draws[ref]
            estimate = point[later] - point[ref]
            low, high = fp.basic_interval(estimate, diff)
            rows.append({"aspect": aspect, "contrast": f"{later} - {ref}", "estimate": estimate, "low": low,
                         "high": high, "p": stats.bootstrap_p(2 * estimate - diff)})  # reflected like the interval
    table = pd.DataFrame(rows, columns=["aspect", "contrast", "estimate", "low", "high", "p"])
    table["p_holm"] = table.groupby("contrast")["p"].transform(stats.holm)
    return table


def transfer(inputs: fp.Footprint, outputs: fp.Footprint, parts: pd.DataFrame, roles: Sequence[str], n_boot: int,
             seed: int) -> pd.DataFrame:
    """How much of each input property carries into the output: Spearman's rho between an input's
    value and its output's, per role (bootstrap CI over items), and each tuned role - reference."""
    from scipy.stats import spearmanr

    ids = parts["item_id"].tolist()
    x = inputs.table.set_index("text_id").loc[ids]
    rng = np.random.default_rng(seed + 11)
    draws = rng.integers(0, len(ids), size=(n_boot, len(ids)))
    ref, rows = reference_role(roles), []
    for prop in TRANSFERRED:
        by_role = {}
        for role in roles:
            y = outputs.table.set_index("text_id").loc[[f"{i}:{role}" for i in ids], prop].to_numpy()
            a = x[prop].to_numpy()
            ok = np.isfinite(a) & np.isfinite(y)
            rho = spearmanr(a[ok], y[ok]).statistic if ok.sum() > 2 else np.nan
            boot = np.array([spearmanr(a[d][ok[d]], y[d][ok[d]]).statistic for d in draws])
            by_role[role] = boot
            low, high = np.nanquantile(boot, [0.025, 0.975])
            rows.append({"property": prop, "row": role, "rho": rho, "low": low, "high": high, "p": np.nan})
        rho = {r["row"]: r["rho"] for r in rows if r["property"] == prop}
        for later in later_roles(roles) if ref in by_role else []:
            diff = by_role[later] - by_role[ref]
            low, high = np.nanquantile(diff, [0.025, 0.975])
            rows.append({"property": prop, "row": f"{later} - {ref}", "rho": rho[later] - rho[ref], "low": low,
                         "high": high, "p": stats.bootstrap_p(diff)})
    table = pd.DataFrame(rows)
    contrast = table["row"].str.contains(" - ")
    table["p_holm"] = np.nan  # Holm within each contrast, over the properties
    table.loc[contrast, "p_holm"] = table[contrast].groupby("row")["p"].transform(stats.holm)
    return table


def inputs_vs_outputs(inputs: fp.Footprint, outputs: fp.Footprint, parts: pd.DataFrame, roles: Sequence[str],
                      n_boot: int, seed: int, top_k: int) -> pd.DataFrame:
    """Each role's outputs against the inputs they answer (the tested inputs of both parts): how
    far a model's texts sit from what it reads, aspect by aspect."""
    ids = parts["item_id"].tolist()
    frames = [fp.compare(by_ids(inputs, ids), by_ids(outputs, [f"{i}:{role}" for i in ids]), n_boot=n_boot, seed=seed,
                         top_k=top_k).assign(role=role) for role in roles]
    return pd.concat(frames, ignore_index=True)


def sentiment_agreement(foot: fp.Footprint) -> float:
    """Spearman's rho between VADER's and the model's sentiment over a footprint's texts: do the
    two opinions agree?"""
    from scipy.stats import spearmanr

    table = foot.table[["sentiment_vader", "sentiment_model"]].dropna()
    return float(spearmanr(table["sentiment_vader"], table["sentiment_model"]).statistic) if len(table) > 2 else np.nan


def train_vs_test_outputs(outputs: fp.Footprint, train_ids: Sequence[str], parts: pd.DataFrame, roles: Sequence[str],
                          n_boot: int, seed: int, top_k: int) -> pd.DataFrame:
    """Each role's outputs on training inputs against its outputs on each test part."""
    frames = []
    for role in roles:
        train = by_ids(outputs, [f"{i}:{role}" for i in train_ids])
        for p in PARTS:
            test = by_ids(outputs, [f"{i}:{role}" for i in parts.loc[parts["part"] == p, "item_id"]])
            frames.append(fp.compare(train, test, n_boot=n_boot, seed=seed, top_k=top_k)
                          .assign(role=role, comparison=f"training outputs vs {p} outputs"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def shares(foot: fp.Footprint, aspect: str, groups: dict[str, Sequence[str]], top_k: int = 12) -> pd.DataFrame:
    """Long table (group, unit, share) of one aspect's distribution per group of texts."""
    rows = []
    for name, ids in groups.items():
        dist = fp.distribution(by_ids(foot, ids).counts[aspect])
        rows += [{"group": name, "unit": u, "share": s} for u, s in dist.items()]
    table = pd.DataFrame(rows)
    top = table.groupby("unit")["share"].sum().nlargest(top_k).index
    return table[table["unit"].isin(top)]


# ------------------------------------------------------------------ people's ratings

def agreement(ratings: pd.DataFrame) -> pd.DataFrame:
    """Between each two annotators, on the outputs both rated: exact agreement and Cohen's kappa
    with quadratic weights (ratings are ordinal)."""
    from sklearn.metrics import cohen_kappa_score

    if ratings.empty:
        return pd.DataFrame(columns=["annotators", "n", "agreement", "kappa_quadratic"])
    wide = ratings.pivot_table(index=["setting", "item_id", "role"], columns="annotator", values="rating")
    rows, names = [], list(wide.columns)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = wide[[a, b]].dropna()
            if len(both):
                kappa = cohen_kappa_score(both[a], both[b], weights="quadratic") if both.stack().nunique() > 1 else np.nan
                rows.append({"annotators": f"{a} vs {b}", "n": len(both), "agreement": float((both[a] == both[b]).mean()),
                             "kappa_quadratic": float(kappa)})
    return pd.DataFrame(rows, columns=["annotators", "n", "agreement", "kappa_quadratic"])


def reward_vs_people(quality: pd.DataFrame, ratings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Where people rated: per role, the mean rating in each part, Spearman's rho between reward
    and rating, and the outputs the reward model ranks in its top quarter that people rate 1-2
    (reward hacking's signature); and the rated outputs themselves (quality + mean rating)."""
    from scipy.stats import spearmanr

    columns = ["role", "n", "rating in", "rating out", "rho reward-rating", "high reward, rated poor"]
    if ratings.empty:
        return pd.DataFrame(columns=columns), pd.DataFrame()
    mean = ratings.groupby(["item_id", "role"], as_index=False)["rating"].mean()
    rated = quality.merge(mean, on=["item_id", "role"])
    top = quality["reward"].quantile(0.75)
    rows = []
    for role, g in rated.groupby("role", sort=False):
        rows.append({"role": role, "n": len(g),
                     "rating in": g.loc[g["part"] == PARTS[0], "rating"].mean(),
                     "rating out": g.loc[g["part"] == PARTS[1], "rating"].mean(),
                     "rho reward-rating": spearmanr(g["reward"], g["rating"]).statistic if len(g) > 2 else np.nan,
                     "high reward, rated poor": int(((g["reward"] >= top) & (g["rating"] <= 2)).sum())})
    return pd.DataFrame(rows, columns=columns), rated


def headline(runs: list) -> pd.DataFrame:
    """For the summary page: per setting, the tuned model's in - out quality gap minus the
    reference model's (the difference in differences) on each quality reading."""
    rows = []
    for run in runs:
        ref = reference_role(run.roles)
        table = run.tables["quality_contrasts"]
        n = int(run.parts["part"].value_counts().min())
        for r in table[table["contrast"] == f"tuned gap - {ref} gap"].to_dict("records"):
            rows.append({"measure": f"in - out gap of {r['metric']}", "where": f"{run.setting}: in vs out of "
                         f"distribution", "contrast": f"tuned - {ref}",
                         "format": "chat" if run.setting == "dialogues" else "raw", "estimate": r["estimate"],
                         "ci_low": r["low"], "ci_high": r["high"], "p_holm": r["p_holm"], "n": n,
                         "unit": "ROUGE-L F1" if r["metric"] == "rouge_l" else "reward"})
    return pd.DataFrame(rows, columns=["measure", "where", "contrast", "format", "estimate", "ci_low", "ci_high",
                                       "p_holm", "n", "unit"])
