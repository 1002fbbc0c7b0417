"""The calibration chapter's tables: pure functions of the item table."""
from __future__ import annotations

import numpy as np
import pandas as pd

from rlshift import metrics, stats


def _probs(items: pd.DataFrame, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    logprobs, answer = metrics.item_arrays(items)
    return metrics.probs_at_temperature(logprobs, temperature), answer


def summary(items: pd.DataFrame, n_bins: int = 10, seed: int = 0) -> pd.DataFrame:
    """Per role x task: the calibration report, a Wilson CI on accuracy and a bootstrap CI on
    ECE (all options, equal mass)."""
    rows = []
    for (role, task), group in items.groupby(["role", "task"], sort=False):
        probs, answer = _probs(group)
        row = {"role": role, "task": task, "model": group["model"].iloc[0]}
        row.update(metrics.summarize(probs, answer, n_bins))
        row["acc_low"], row["acc_high"] = stats.wilson(int(group["correct"].sum()), len(group))

        def ece_at(idx, probs=probs, answer=answer):
            conf, correct = metrics.calibration_views(probs[idx], answer[idx])["all_options"]
            return metrics.ece(conf, correct, n_bins, "mass")

        row["ece_low"], row["ece_high"] = stats.bootstrap_ci(ece_at, len(group), seed, n_resamples=1000)
        row["mean_option_mass"] = float(group["option_mass"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def _paired(items: pd.DataFrame, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    group = items[items["task"] == task]
    base = group[group["role"] == "base"].set_index("item_id")
    tuned = group[group["role"] == "tuned"].set_index("item_id")
    common = base.index.intersection(tuned.index)
    return base.loc[common].reset_index(), tuned.loc[common].reset_index()


def compare(items: pd.DataFrame, n_bins: int = 10, seed: int = 0, n_resamples: int = 1000) -> pd.DataFrame:
    """Tuned minus base on the same items, per task: accuracy (McNemar) and ECE and Brier
    (paired bootstrap CI, paired permutation p-value)."""
    rows = []
    for task in items["task"].unique():
        base, tuned = _paired(items, task)
        if base.empty:
            continue
        pb, ans = _probs(base)
        pt, _ = _probs(tuned)
        width = max(pb.shape[1], pt.shape[1])
        pad = lambda m: np.pad(m, ((0, 0), (0, width - m.shape[1])), constant_values=np.nan)
        table_t = np.column_stack([pad(pt), ans])
        table_b = np.column_stack([pad(pb), ans])

        def ece_metric(pool, idx):
            conf, correct = metrics.calibration_views(pool[idx, :-1], pool[idx, -1].astype(int))["all_options"]
            return metrics.ece(conf, correct, n_bins, "mass")

        def brier_metric(pool, idx):
            return metrics.brier(np.nan_to_num(pool[idx, :-1]), pool[idx, -1].astype(int))

        mc = stats.mcnemar_test(tuned["correct"], base["correct"])
        row = {"task": task, "n": len(base),
               "acc_base": base["correct"].mean(), "acc_tuned": tuned["correct"].mean(),
               "acc_diff": tuned["correct"].mean() - base["correct"].mean(), "acc_p_mcnemar": mc["p_value"]}
        for name, fn in (("ece", ece_metric), ("brier", brier_metric)):
            res = stats.paired_difference(fn, table_t, table_b, seed=seed, n_resamples=n_resamples)
            row.update({f"{name}_diff": res["difference"], f"{name}_low": res["ci_low"],
                        f"{name}_high": res["ci_high"], f"{name}_p": res["p_value"]})
        rows.append(row)
    return pd.DataFrame(rows)


def reliability(items: pd.DataFrame, n_bins: int = 10, binning: str = "mass",
                view: str = "all_options", temperature: float = 1.0) -> pd.DataFrame:
    """Reliability-diagram points per role x task."""
    frames = []
    for (role, task), group in items.groupby(["role", "task"], sort=False):
        probs, answer = _probs(group, temperature)
        conf, correct = metrics.calibration_views(probs, answer)[view]
        table = metrics.reliability_table(conf, correct, n_bins, binning)
        frames.append(table.assign(role=role, task=task, model=group["model"].iloc[0]))
    return pd.concat(frames, ignore_index=True)


def selective(items: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for (role, task), group in items.groupby(["role", "task"], sort=False):
        table = metrics.selective_accuracy(group["confidence"], group["correct"])
        frames.append(table.assign(role=role, task=task))
    return pd.concat(frames, ignore_index=True)


def temperature_sweep(items: pd.DataFrame, temperatures, n_bins: int = 10) -> pd.DataFrame:
    rows = []
    for (role, task), group in items.groupby(["role", "task"], sort=False):
        logprobs, answer = metrics.item_arrays(group)
        for t in temperatures:
            probs = metrics.probs_at_temperature(logprobs, t)
            conf, correct = metrics.calibration_views(probs, answer)["all_options"]
            rows.append({"role": role, "task": task, "temperature": t,
                         "ece_mass_all": metrics.ece(conf, correct, n_bins, "mass"),
                         "nll": metrics.nll(np.nan_to_num(probs), answer)})
    return pd.DataFrame(rows)


def temperature_fit(items: pd.DataFrame, n_bins: int = 10, seed: int = 0) -> pd.DataFrame:
    """Fit one temperature on a random half of each task's items (NLL), apply it to the other
    half, and report ECE there before and after (Kadavath et al. report T = 2.5 for RLHF)."""
    rows = []
    rng = np.random.default_rng(seed)
    for (role, task), group in items.groupby(["role", "task"], sort=False):
        logprobs, answer = metrics.item_arrays(group)
        order = rng.permutation(len(group))
        fit, held = order[: len(order) // 2], order[len(order) // 2:]
        t = metrics.fit_temperature(logprobs[fit], answer[fit])
        before = metrics.calibration_views(metrics.probs_at_temperature(logprobs[held], 1.0), answer[held])["all_options"]
        after = metrics.calibration_views(metrics.probs_at_temperature(logprobs[held], t), answer[held])["all_options"]
        rows.append({"role": role, "task": task, "fitted_T": t, "n_fit": len(fit), "n_held_out": len(held),
                     "ece_held_out_T1": metrics.ece(*before, n_bins, "mass"),
                     "ece_held_out_fitted": metrics.ece(*after, n_bins, "mass")})
    return pd.DataFrame(rows)


def informative(summary: pd.DataFrame) -> pd.Series:
    """A task result says something about calibration only where accuracy's 95% interval
    lies above chance; at chance a reliability diagram is mostly noise."""
    return summary["acc_low"] > summary["chance"]


def quantization_effect(main: pd.DataFrame, others: dict[str, pd.DataFrame], n_bins: int = 10) -> pd.DataFrame:
    """Each other quantization setting against the main run, on the same items: accuracy and
    ECE (all options, equal mass) of both, argmax agreement, and the largest and median shift
    of an option's log-probability."""
    rows = []
    for quant, items in others.items():
        for (role, task), group in items.groupby(["role", "task"], sort=False):
            ref = main[(main["role"] == role) & (main["task"] == task)].set_index("item_id")
            group = group.set_index("item_id")
            common = ref.index.intersection(group.index)
            group, ref = group.loc[common], ref.loc[common]
            shift = np.concatenate([np.abs(np.subtract(a, b)) for a, b in zip(group["logprobs"], ref["logprobs"])])
            row = {"quantization": quant, "role": role, "task": task, "n": len(group),
                   "acc_main": ref["correct"].mean(), "acc": group["correct"].mean(),
                   "argmax_agreement": float((group["pred"] == ref["pred"]).mean()),
                   "max_abs_dlogp": float(shift.max()), "median_abs_dlogp": float(np.median(shift))}
            for name, frame in (("ece_main", ref), ("ece", group)):
                probs, answer = _probs(frame.reset_index())
                conf, correct = metrics.calibration_views(probs, answer)["all_options"]
                row[name] = metrics.ece(conf, correct, n_bins, "mass")
            rows.append(row)
    return pd.DataFrame(rows)
