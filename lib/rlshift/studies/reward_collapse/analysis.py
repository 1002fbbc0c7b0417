"""The reward-collapse chapter's tables: pure functions of the reward tables (one row per reward
model x response) and of what training recorded."""
from __future__ import annotations

import numpy as np
import pandas as pd

from rlshift import stats
from rlshift.studies.common import TRAINED_PREFIX
from rlshift.training.reward_model import TrainedRewardModel

CELL = ["reward_model", "utility", "task", "task_type", "format"]


def text_hash(text: str) -> str:
    """A prompt's identity across datasets: sha256 of its case-folded text with all whitespace
    collapsed (copies that differ in case or spacing count as the same prompt)."""
    import hashlib

    return hashlib.sha256(" ".join(text.casefold().split()).encode()).hexdigest()


def contamination(evaluation: dict[str, list[str]], training: dict[str, list[str] | None]) -> pd.DataFrame:
    """Per reward model x evaluation set: how many of the set's prompts appear (by `text_hash`)
    among the prompts of the model's training data; `training[model]` is None where that data is
    not available here (a hub model), and then nothing can be said."""
    rows = []
    for model, seen in training.items():
        known = None if seen is None else {text_hash(t) for t in seen}
        for name, prompts in evaluation.items():
            hashes = {text_hash(t) for t in prompts}
            found = None if known is None else len(hashes & known)
            rows.append({"reward_model": model, "evaluation_set": name, "prompts": len(hashes),
                         "in_training_data": found, "share": np.nan if found is None else found / max(len(hashes), 1),
                         "checked": known is not None})
    out = pd.DataFrame(rows)
    return out.astype({"in_training_data": "Int64"}) if len(out) else out


def training_curves(trained: dict[str, TrainedRewardModel]) -> pd.DataFrame:
    """Every trained model's training log (empty where none was trained)."""
    if not trained:
        return pd.DataFrame()
    return pd.concat([t.log.assign(reward_model=t.name) for t in trained.values()], ignore_index=True)


def heldout_table(trained: dict[str, TrainedRewardModel]) -> pd.DataFrame:
    return pd.concat([t.accuracy().assign(reward_model=t.name) for t in trained.values()], ignore_index=True)


def _cells(frame: pd.DataFrame, keys=CELL):
    return frame.groupby(keys, sort=False, dropna=False)


def describe(frame: pd.DataFrame) -> pd.DataFrame:
    """Descriptive statistics of the reward distribution per reward model x task x format."""
    from scipy import stats as sps

    rows = []
    for key, part in _cells(frame):
        x = part["reward"].to_numpy(float)
        rows.append(dict(zip(CELL, key), n=len(x), mean=x.mean(), sd=x.std(ddof=1), min=x.min(),
                         q25=np.quantile(x, 0.25), median=np.median(x), q75=np.quantile(x, 0.75), max=x.max(),
                         skew=sps.skew(x, bias=False) if len(x) > 2 else np.nan,
                         excess_kurtosis=sps.kurtosis(x, bias=False) if len(x) > 3 else np.nan,
                         bimodality_coef=stats.bimodality_coefficient(x)))
    return pd.DataFrame(rows)


def polarization(frame: pd.DataFrame, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Per reward model x task x format: Hartigan's dip test (H0: unimodal) and the 1- vs
    2-component Gaussian mixture by BIC. `polarized` = the dip test rejects unimodality;
    `bic_prefers_2` = BIC favours two components by more than 10 (Kass & Raftery's "very
    strong"). A mixture of two Gaussians also fits skewed unimodal data better than one, so the
    dip test decides and BIC is reported beside it."""
    rows = []
    for key, part in _cells(frame):
        x = part["reward"].to_numpy(float)
        dip, p = stats.dip_test(x)
        g = stats.gmm_bic(x, seed)
        rows.append(dict(zip(CELL, key), n=len(x), dip=dip, dip_p=p, **g,
                         bimodality_coef=stats.bimodality_coefficient(x),
                         polarized=bool(p < alpha) if p == p else False,
                         bic_prefers_2=bool(g["delta_bic"] > 10) if g["delta_bic"] == g["delta_bic"] else False))
    return pd.DataFrame(rows)


def _paired(part: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    good = part[part["good"]].set_index("group")["reward"]
    bad = part[~part["good"]].set_index("group")["reward"]
    common = good.index.intersection(bad.index)
    return good.loc[common].to_numpy(float), bad.loc[common].to_numpy(float)


def ground_truth(frame: pd.DataFrame, seed: int = 0, n_resamples: int = 1000) -> pd.DataFrame:
    """Do rewards match the ground truth? Per reward model x task x format: pairwise accuracy
    (the correct / preferred response of an item rewarded higher; Wilson 95% CI), AUC of reward
    for good vs bad responses across items (bootstrap 95% CI over items), the mean gap, and for
    BoolQ how often the affirmative answer (Yes / True / 1) is rewarded higher, against the
    share of items whose gold answer is affirmative (what a model that always prefers it scores)."""
    rows = []
    for key, part in _cells(frame):
        good, bad = _paired(part)
        n = len(good)
        hits = int((good > bad).sum())
        lo, hi = stats.wilson(hits, n)
        a_lo, a_hi = stats.bootstrap_ci(lambda idx: stats.auc(good[idx], bad[idx]), n, seed, n_resamples) \
            if n >= 5 else (np.nan, np.nan)
        row = dict(zip(CELL, key), n_pairs=n, accuracy=hits / n, acc_low=lo, acc_high=hi, ties=int((good == bad).sum()),
                   auc=stats.auc(good, bad), auc_low=a_lo, auc_high=a_hi, mean_gap=float(np.mean(good - bad)))
        if key[3] == "closed" and part["affirmative"].notna().any():
            aff = part[part["affirmative"] == True].set_index("group")["reward"]  # noqa: E712
            neg = part[part["affirmative"] == False].set_index("group")["reward"]  # noqa: E712
            common = aff.index.intersection(neg.index)
            row["prefers_affirmative"] = float((aff.loc[common] > neg.loc[common]).mean())
            row["gold_affirmative"] = float(part.drop_duplicates("group")["gold_yes"].astype(bool).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def shape_comparison(frame: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per reward model and BoolQ answer format: does the closed-ended reward distribution have
    the same shape as the open-ended one (all open-ended datasets pooled)? Two-sample
    Kolmogorov-Smirnov statistic on z-scores (each standardised by its own mean and sd, so only
    shape counts) with a permutation p-value (stats.shape_ks_test), and each side's dip. Reward
    collapse predicts the same shape."""
    rows = []
    for (model, utility), part in frame.groupby(["reward_model", "utility"], sort=False):
        opened = part[part["task_type"] == "open"]["reward"].to_numpy(float)
        if len(opened) < 4:
            continue
        dip_open, dip_open_p = stats.dip_test(opened)
        for fmt, closed in part[part["task_type"] == "closed"].groupby("format", sort=False):
            x = closed["reward"].to_numpy(float)
            if len(x) < 4 or np.ptp(x) == 0:
                continue
            ks_stat, ks_p = stats.shape_ks_test(x, opened, n_resamples=999)
            dip_closed, dip_closed_p = stats.dip_test(x)
            rows.append({"reward_model": model, "utility": utility, "format": fmt, "n_closed": len(x),
                         "n_open": len(opened), "dip_closed": dip_closed, "dip_closed_p": dip_closed_p,
                         "dip_open": dip_open, "dip_open_p": dip_open_p,
                         "ks_stat": ks_stat, "ks_p": ks_p, "shapes_differ": bool(ks_p < alpha)})
    return pd.DataFrame(rows)


def sample_summary(scored: pd.DataFrame, seed: int = 0, n_resamples: int = 1000) -> pd.DataFrame:
    """Per reward model x task: how the base model's answers were judged, the rewards of correct
    and incorrect ones, and the AUC of reward for 'judged correct' (bootstrap 95% CI), where both
    kinds exist (empty where the base model answered nothing)."""
    if scored.empty:
        return pd.DataFrame()
    rows = []
    for (model, task, task_type), part in scored.groupby(["reward_model", "task", "task_type"], sort=False):
        row = {"reward_model": model, "task": task, "task_type": task_type, "n": len(part),
               "mean_reward": part["reward"].mean()}
        if task_type == "closed":
            counts = part["outcome"].value_counts()
            good = part[part["outcome"] == "correct"]["reward"].to_numpy(float)
            bad = part[part["outcome"] == "incorrect"]["reward"].to_numpy(float)
            parsed = len(good) + len(bad)
            row.update(correct=int(counts.get("correct", 0)), incorrect=int(counts.get("incorrect", 0)),
                       unparsed=int(counts.get("unparsed", 0)),
                       base_accuracy=len(good) / parsed if parsed else np.nan,
                       reward_correct=good.mean() if len(good) else np.nan,
                       reward_incorrect=bad.mean() if len(bad) else np.nan)
            row.update(stats.auc_ci(good, bad, seed, n_resamples))
        rows.append(row)
    return pd.DataFrame(rows)


def annotation_agreement(scored: pd.DataFrame, sheet: pd.DataFrame, seed: int = 0,
                         n_resamples: int = 1000) -> pd.DataFrame:
    """Per reward model: how many free-form (not closed-ended) answers people labelled, mean reward of 'good' and
    'bad' ones, and the AUC of reward for 'good' (bootstrap 95% CI) where both labels occur
    at least twice."""
    if scored.empty:
        return pd.DataFrame()
    opened = scored[scored["task_type"] != "closed"]
    labels = sheet.set_index("item_id")["label"] if len(sheet) else pd.Series(dtype=str)
    rows = []
    for model, part in opened.groupby("reward_model", sort=False):
        lab = part["group"].map(labels)
        good = part[lab == "good"]["reward"].to_numpy(float)
        bad = part[lab == "bad"]["reward"].to_numpy(float)
        row = {"reward_model": model, "answers": len(part), "annotated": int(lab.notna().sum()),
               "good": len(good), "bad": len(bad), "reward_good": good.mean() if len(good) else np.nan,
               "reward_bad": bad.mean() if len(bad) else np.nan}
        row.update(stats.auc_ci(good, bad, seed, n_resamples))
        rows.append(row)
    return pd.DataFrame(rows)


def training_tables(training: pd.DataFrame, alpha: float = 0.05, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Polarization and ground truth of the rewards on the training pairs (empty tables where no
    model was trained here)."""
    if training.empty:
        return pd.DataFrame(), pd.DataFrame()
    return polarization(training, alpha, seed), ground_truth(training, seed)


# ------------------------------------------------------------------ within one prompt (Song et al.'s object)

WITHIN = ["reward_model", "utility", "sampler", "task", "task_type"]
MIN_DISTINCT = 3  # fewer distinct answers to a prompt: the set of answers, not the reward model, sets the shape


def within_prompt_z(scored: pd.DataFrame) -> pd.DataFrame:
    """The sampled answers' rewards standardised within their prompt (reward model x sampler x
    prompt): only each prompt's shape is left, per-prompt offsets and scales removed (NaN where a
    prompt's rewards are all equal)."""
    keys = WITHIN + ["prompt_id"]
    grouped = scored.groupby(keys, sort=False)["reward"]
    sd = grouped.transform(lambda r: r.std(ddof=1))
    return scored.assign(z=(scored["reward"] - grouped.transform("mean")) / sd.where(sd > 0))


def within_prompt(scored: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per reward model x sampler x prompt: the shape of the rewards of that prompt's sampled
    answers, which is what Song et al.'s theory is about. `polarized` = Hartigan's dip test
    rejects unimodality at `alpha`; `testable` = at least MIN_DISTINCT distinct answers. For
    BoolQ, the share of answers judged correct and the mean reward gap correct - incorrect
    where the prompt has both."""
    rows = []
    for key, part in scored.groupby(WITHIN + ["prompt_id"], sort=False):
        x = part["reward"].to_numpy(float)
        distinct = part["text"].nunique()  # one answer sampled twice has one reward (up to float noise)
        testable = distinct >= MIN_DISTINCT and np.ptp(x) > 0
        dip, p = stats.dip_test(x) if testable else (np.nan, np.nan)
        row = dict(zip(WITHIN + ["prompt_id"], key), n=len(x), distinct_answers=distinct, sd=x.std(ddof=1) if len(x) > 1 else np.nan, dip=dip, dip_p=p,
                   bimodality_coef=stats.bimodality_coefficient(x) if testable else np.nan,
                   testable=testable, polarized=bool(testable and p < alpha))
        if key[4] == "closed":
            right, wrong = part[part["outcome"] == "correct"]["reward"], part[part["outcome"] == "incorrect"]["reward"]
            row["share_correct"] = len(right) / max(len(right) + len(wrong), 1)
            row["gap_correct"] = right.mean() - wrong.mean() if len(right) and len(wrong) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def polarised_shares(within: pd.DataFrame) -> pd.DataFrame:
    """Per reward model x sampler x task type: how many testable prompts have polarised rewards
    (share, Wilson 95% interval) and how many prompts were not testable."""
    rows = []
    for key, part in within.groupby(["reward_model", "utility", "sampler", "task_type"], sort=False):
        ok = part[part["testable"]]
        hits = int(ok["polarized"].sum())
        lo, hi = stats.wilson(hits, len(ok)) if len(ok) else (np.nan, np.nan)
        rows.append(dict(zip(["reward_model", "utility", "sampler", "task_type"], key), prompts=len(part),
                         testable=len(ok), polarised=hits, share=hits / len(ok) if len(ok) else np.nan,
                         share_low=lo, share_high=hi, median_dip=ok["dip"].median() if len(ok) else np.nan))
    return pd.DataFrame(rows)


def share_difference_test(within: pd.DataFrame, n_resamples: int = 9999, seed: int = 0) -> pd.DataFrame:
    """Per reward model x sampler: share of polarised prompts, closed minus open (testable prompts;
    objective-preference ones left out), with a permutation p-value that reassigns the task-type
    labels across prompts (the prompt is the unit: its answers stay together). Reward collapse
    predicts no difference; the prompt-aware remedy predicts closed > open."""
    from scipy import stats as sps

    rows = []
    for key, part in within[within["testable"]].groupby(["reward_model", "utility", "sampler"], sort=False):
        closed = part[part["task_type"] == "closed"]["polarized"].to_numpy(float)
        opened = part[part["task_type"] == "open"]["polarized"].to_numpy(float)
        row = dict(zip(["reward_model", "utility", "sampler"], key), n_closed=len(closed), n_open=len(opened),
                   share_closed=closed.mean() if len(closed) else np.nan,
                   share_open=opened.mean() if len(opened) else np.nan, difference=np.nan, p=np.nan)
        if len(closed) >= 2 and len(opened) >= 2:
            row["difference"] = closed.mean() - opened.mean()
            if np.ptp(np.concatenate([closed, opened])) > 0:
                test = sps.permutation_test((closed, opened), lambda a, b: a.mean() - b.mean(),
                                            permutation_type="independent", n_resamples=n_resamples,
                                            alternative="two-sided", random_state=seed)
                row["p"] = float(test.pvalue)
            else:
                row["p"] = 1.0  # every prompt alike: no permutation changes the difference
        rows.append(row)
    return pd.DataFrame(rows)


# Pairs of trained utilities that differ in exactly one factor.
ONE_FACTOR = (("standard", "bounded_log_sigmoid", "the bound on rewards (unbounded -> sigmoid)"),
              ("bounded_log_sigmoid", "prompt_aware", "the utility (log sigmoid -> Song et al.'s prompt-aware)"))


def one_factor_comparison(shapes: pd.DataFrame, share_tests: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """For each pair of trained utilities one factor apart: the pooled shape readings (answer
    formats whose closed-ended rewards are polarised, whose closed and open shapes differ) and the
    within-prompt difference in polarised shares (closed - open, per sampler), side by side. Only
    the models trained here (the implicit reward shares the standard utility, not the rest)."""
    rows = []
    for a, b, factor in ONE_FACTOR:
        row = {"factor changed": factor, "from": a, "to": b}
        for side, utility in (("from", a), ("to", b)):
            name = TRAINED_PREFIX + utility
            part = shapes[shapes["reward_model"] == name] if len(shapes) else shapes
            row[f"closed polarised ({side})"] = (f"{int((part['dip_closed_p'] < alpha).sum())} of {len(part)}"
                                                 if len(part) else "n/a")
            row[f"shapes differ ({side})"] = f"{int(part['shapes_differ'].sum())} of {len(part)}" if len(part) else "n/a"
            tests = share_tests[share_tests["reward_model"] == name] if len(share_tests) else share_tests
            row[f"within: closed - open ({side})"] = ("; ".join(f"{r.sampler} {r.difference:+.2f} (p {r.p:.3f})"
                                                                for r in tests.itertuples() if r.difference == r.difference)
                                                      or "n/a")
        rows.append(row)
    return pd.DataFrame(rows)


def accuracy_board(truth: pd.DataFrame) -> pd.DataFrame:
    """Pairwise accuracy per reward model (rows) and evaluation set (columns; BoolQ averaged over
    its answer formats), with reward-bench's summary: the unweighted mean over sets, and the
    Wilson 95% interval of each set's accuracy in brackets."""
    if truth.empty:
        return pd.DataFrame()
    rows = []
    for model, part in truth.groupby("reward_model", sort=False):
        row = {"reward model": model}
        means = []
        for task, cells in part.groupby("task", sort=False):
            hits, n = int(round((cells["accuracy"] * cells["n_pairs"]).sum())), int(cells["n_pairs"].sum())
            lo, hi = stats.wilson(hits, n)
            row[task] = f"{hits / n:.2f} [{lo:.2f}, {hi:.2f}]"
            means.append(hits / n)
        row["mean over sets"] = round(float(np.mean(means)), 3)
        rows.append(row)
    return pd.DataFrame(rows)


def headline(truth: pd.DataFrame) -> pd.DataFrame:
    """The chapter's headline for the summary page: each reward model's pairwise accuracy on each
    evaluation set against chance (0.5; Wilson interval, exact binomial test, Holm across rows).
    The DPO stage's implicit reward is the tuned policy read as a reward model."""
    from scipy.stats import binomtest

    out = truth.assign(estimate=truth["accuracy"] - 0.5, ci_low=truth["acc_low"] - 0.5,
                       ci_high=truth["acc_high"] - 0.5, n=truth["n_pairs"])
    out["p_value"] = [binomtest(round(a * n), n).pvalue if n else np.nan for a, n in zip(out["accuracy"], out["n"])]
    out["p_holm"] = stats.holm(out["p_value"])
    return out.assign(measure="reward ranks the better response first, minus chance", unit="accuracy - 0.5",
                      contrast=out["reward_model"] + " vs chance", where=out["task"] + " (" + out["task_type"] + ")",
                      format=out["format"].fillna(""))
