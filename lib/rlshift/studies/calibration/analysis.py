"""The calibration chapter's tables: pure functions of the per-item tables (inputs.item_table,
p_true_table, verbalized_table).

Every comparison of base and tuned is a 2x2 of model x prompt format on the same items (the
tuning effect within each format, the format effect within each model, their interaction), with a
paired bootstrap over items; per-task p-values are Holm-corrected across tasks, and the verdict
across tasks is a random-effects meta-analysis of the per-task effects.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from rlshift import metrics, stats
from rlshift.studies.common import tuning_rows

READING_NAMES = {"options": "option probabilities", "p_true": "P(True) of its own answer",
                 "verbalized": "stated confidence"}


# ------------------------------------------------------------------ one long table of predictions

def predictions(items: pd.DataFrame, p_true: pd.DataFrame | None = None,
                verbalized: pd.DataFrame | None = None) -> pd.DataFrame:
    """role, format, task, reading, item_id, confidence, correct (+ answer and probs for the
    options reading); a verbalized item counts only where its reply was parsed."""
    keep = ["role", "format", "task", "item_id", "confidence", "correct"]
    frames = [items[keep + ["answer", "probs"]].assign(reading="options")]
    if p_true is not None and not p_true.empty:
        frames.append(p_true[keep].assign(reading="p_true"))
    if verbalized is not None and not verbalized.empty:
        frames.append(verbalized[verbalized["parsed"]][keep].assign(reading="verbalized"))
    out = pd.concat(frames, ignore_index=True)
    out["correct"] = out["correct"].astype(bool)
    return out


def _cell_array(group: pd.DataFrame) -> np.ndarray:
    """[n, 2 (+1 + k)]: confidence, correct (, answer, the option probabilities NaN-padded)."""
    head = np.column_stack([group["confidence"].to_numpy(float), group["correct"].to_numpy(float)])
    if "probs" not in group or group["probs"].isna().all():
        return head
    width = int(group["probs"].map(len).max())
    probs = np.full((len(group), width), np.nan)
    for i, p in enumerate(group["probs"]):
        probs[i, :len(p)] = p
    return np.column_stack([head, group["answer"].to_numpy(float), probs])


def _views(a: np.ndarray):
    """(conf, correct) the ECE reads: every option for the options reading (Kadavath et al.),
    the one stated or proposed answer otherwise."""
    if a.shape[1] > 2:
        probs = a[:, 3:]
        return metrics.calibration_views(probs, a[:, 2].astype(int))["all_options"]
    return a[:, 0], a[:, 1]


def _brier(a: np.ndarray) -> float:
    if a.shape[1] > 2:
        return metrics.brier(np.nan_to_num(a[:, 3:]), a[:, 2].astype(int))
    return float(np.mean((a[:, 0] - a[:, 1]) ** 2))


def metric_functions(n_bins: int) -> dict:
    """The metrics the 2x2 contrasts test, each a function of a cell array."""
    return {"accuracy": lambda a: float(a[:, 1].mean()),
            "ece": lambda a: metrics.ece(*_views(a), n_bins, "mass"),
            "brier": _brier,
            "auroc": lambda a: metrics.auroc(a[:, 0], a[:, 1])}


# ------------------------------------------------------------------ per cell

def summary(preds: pd.DataFrame, n_bins: int = 10, seed: int = 0, n_boot: int = 1000) -> pd.DataFrame:
    """Per role x format x task x reading: accuracy (Wilson CI) against chance, the ECE the
    reading is judged by (all options for option probabilities, top-1 otherwise; bootstrap CI),
    equal-mass and equal-width top-1 ECE, the debiased l2 calibration error, Brier with its
    reliability / resolution / uncertainty decomposition, AUROC of confidence for correctness,
    the area under the selective-accuracy curve and the mean confidence."""
    ece = metric_functions(n_bins)["ece"]
    rows = []
    for (role, fmt, task, reading), group in preds.groupby(["role", "format", "task", "reading"], sort=False):
        a = _cell_array(group)
        conf, correct = a[:, 0], a[:, 1]
        row = {"role": role, "format": fmt, "task": task, "reading": reading, "n": len(group),
               "accuracy": float(correct.mean())}
        row["acc_low"], row["acc_high"] = stats.wilson(int(correct.sum()), len(group))
        row["ece"] = ece(a)
        row["ece_low"], row["ece_high"] = stats.bootstrap_ci(lambda idx: ece(a[idx]), len(a), seed, n_resamples=n_boot)
        row.update({"ece_mass_top1": metrics.ece(conf, correct, n_bins, "mass"),
                    "ece_width_top1": metrics.ece(conf, correct, n_bins, "width"),
                    "l2ce_debiased_top1": metrics.l2_calibration_error_debiased(conf, correct, n_bins, "mass"),
                    "auroc": metrics.auroc(conf, correct),
                    "selective_auc": metrics.selective_auc(conf, correct),
                    "mean_confidence": float(conf.mean())})
        decomposition = metrics.brier_decomposition(conf, correct, n_bins, "mass")
        row.update({f"brier_top1_{k}" if k != "brier" else "brier_top1": v for k, v in decomposition.items()})
        if reading == "options":
            probs, answer = a[:, 3:], a[:, 2].astype(int)
            full = metrics.summarize(probs, answer, n_bins)
            row.update({k: full[k] for k in ("chance", "ece_mass_all", "ece_width_all", "rms_ce_mass_all",
                                             "brier", "nll")})
        rows.append(row)
    out = pd.DataFrame(rows)
    chance = out[out["reading"] == "options"].set_index(["task"])["chance"].groupby(level=0).first()
    out["chance"] = out["task"].map(chance)
    out["above_chance"] = out["acc_low"] > out["chance"]
    return out


# ------------------------------------------------------------------ the 2x2

def _cells(preds: pd.DataFrame, task: str, reading: str, later: str = "tuned") -> dict:
    """Per (role, format) cell of the base/later 2x2, the items every cell has, in one order."""
    part = preds[(preds["task"] == task) & (preds["reading"] == reading) & preds["role"].isin(["base", later])]
    groups = {k: g.set_index("item_id") for k, g in part.groupby(["role", "format"], sort=False)}
    if not groups:
        return {}
    common = sorted(set.intersection(*(set(g.index) for g in groups.values())))
    return {k: g.loc[common].reset_index() for k, g in groups.items()}


def _effects_available(cells: dict, later: str = "tuned"):
    """The factorial effects where all four cells ran; else the one contrast two cells allow."""
    keys = set(cells)
    if keys == {("base", "raw"), ("base", "chat"), (later, "raw"), (later, "chat")}:
        return lambda v: stats.factorial_effects(v, roles=("base", later))
    if len(keys) == 2 and {r for r, _ in keys} == {"base", later}:
        (fb,), (ft,) = [[f for r, f in keys if r == role] for role in ("base", later)]
        name = f"tuning | {fb}" if fb == ft else f"confounded ({later} {ft} - base {fb})"
        return lambda v: {name: v[(later, ft)] - v[("base", fb)]}
    return None


def contrasts(preds: pd.DataFrame, n_bins: int = 10, seed: int = 0, n_boot: int = 1000,
              later: str = "tuned") -> pd.DataFrame:
    """Per task x reading x metric: the 2x2 of format x tuning (base vs `later`: the tuned model, or
    the DPO stage beside it) with paired bootstrap CIs and p-values, and each p Holm-corrected
    across tasks (within reading x metric x contrast)."""
    fns = metric_functions(n_bins)
    rows = []
    for reading in preds["reading"].unique():
        for task in preds.loc[preds["reading"] == reading, "task"].unique():
            cells = _cells(preds, task, reading, later)
            effects = _effects_available(cells, later)
            if effects is None or len(next(iter(cells.values()))) < 2:
                continue
            arrays = {k: _cell_array(g) for k, g in cells.items()}
            for name, fn in fns.items():
                for row in stats.paired_contrasts(fn, arrays, effects, seed, n_boot):
                    rows.append({"task": task, "reading": reading, "metric": name, **row})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["p_holm"] = out.groupby(["reading", "metric", "contrast"])["p_value"].transform(stats.holm)
    return out


def across_tasks(table: pd.DataFrame, by=("reading", "metric", "contrast")) -> pd.DataFrame:
    """Random-effects meta-analysis of the per-task effects (stats.random_effects), per group."""
    rows = []
    for key, group in table.groupby(list(by), sort=False):
        rows.append(dict(zip(by, key), **stats.random_effects(group["estimate"], group["ci_low"], group["ci_high"])))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ figures' tables

def reliability(preds: pd.DataFrame, n_bins: int = 10, binning: str = "mass", reading: str = "options",
                view: str = "all_options") -> pd.DataFrame:
    """Reliability-diagram points per role x format x task, with `cell` = "role · format"."""
    frames = []
    for (role, fmt, task), group in preds[preds["reading"] == reading].groupby(["role", "format", "task"], sort=False):
        a = _cell_array(group)
        conf, correct = _views(a) if view == "all_options" else (a[:, 0], a[:, 1])
        table = metrics.reliability_table(conf, correct, n_bins, binning)
        frames.append(table.assign(role=role, format=fmt, task=task, cell=f"{role} · {fmt}"))
    return pd.concat(frames, ignore_index=True)


def selective(preds: pd.DataFrame, reading: str = "options") -> pd.DataFrame:
    frames = []
    for (role, fmt, task), group in preds[preds["reading"] == reading].groupby(["role", "format", "task"], sort=False):
        table = metrics.selective_accuracy(group["confidence"], group["correct"])
        frames.append(table.assign(role=role, format=fmt, task=task, cell=f"{role} · {fmt}"))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------ temperature

def _ece_all_options(items: pd.DataFrame, n_bins: int, temperature: float = 1.0) -> float:
    """ECE over all options (equal mass) of a per-item table's option log-probabilities at T."""
    logprobs, answer = metrics.item_arrays(items)
    probs = metrics.probs_at_temperature(logprobs, temperature)
    return metrics.ece(*metrics.calibration_views(probs, answer)["all_options"], n_bins, "mass")


def temperature_sweep(items: pd.DataFrame, temperatures, n_bins: int = 10) -> pd.DataFrame:
    rows = []
    for (role, fmt, task), group in items.groupby(["role", "format", "task"], sort=False):
        logprobs, answer = metrics.item_arrays(group)
        for t in temperatures:
            probs = metrics.probs_at_temperature(logprobs, t)
            conf, correct = metrics.calibration_views(probs, answer)["all_options"]
            rows.append({"role": role, "format": fmt, "task": task, "cell": f"{role} · {fmt}", "temperature": t,
                         "ece_mass_all": metrics.ece(conf, correct, n_bins, "mass"),
                         "nll": metrics.nll(np.nan_to_num(probs), answer)})
    return pd.DataFrame(rows)


def _folds(n: int, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    return np.array_split(rng.permutation(n), min(k, n))


def temperature_crossfit(items: pd.DataFrame, n_folds: int = 5, n_bins: int = 10, seed: int = 0,
                         n_boot: int = 1000, roles=("base", "tuned")) -> pd.DataFrame:
    """Per role x format x task: each item's probabilities under a temperature fitted (by
    likelihood) on the other folds, so no item calibrates itself; ECE (all options, equal mass)
    at T = 1 against the cross-fitted one, the gain with a paired bootstrap CI and p-value, and the
    temperature fitted on all items with a bootstrap CI (T > 1: the model was overconfident)."""
    rng = np.random.default_rng(seed)
    rows = []
    for (role, fmt, task), group in items[items["role"].isin(roles)].groupby(["role", "format", "task"], sort=False):
        logprobs, answer = metrics.item_arrays(group)
        n = len(answer)
        crossfit = np.full_like(logprobs, np.nan)
        fold_t = []
        for held in _folds(n, n_folds, rng):
            fit = np.setdiff1d(np.arange(n), held)
            t = metrics.fit_temperature(logprobs[fit], answer[fit])
            fold_t.append(t)
            crossfit[held] = metrics.probs_at_temperature(logprobs[held], t)
        at_one = metrics.probs_at_temperature(logprobs, 1.0)

        def ece_of(probs, idx):
            return metrics.ece(*metrics.calibration_views(probs[idx], answer[idx])["all_options"], n_bins, "mass")

        idx_all = np.arange(n)
        boot = np.empty(n_boot)
        boot_rng = np.random.default_rng(seed)
        for b in range(n_boot):
            idx = boot_rng.integers(0, n, n)
            boot[b] = ece_of(at_one, idx) - ece_of(crossfit, idx)
        t_all = metrics.fit_temperature(logprobs, answer)
        t_boot = [metrics.fit_temperature(logprobs[i], answer[i])
                  for i in (boot_rng.integers(0, n, n) for _ in range(min(n_boot, 200)))]
        ece_t1, ece_cf = ece_of(at_one, idx_all), ece_of(crossfit, idx_all)
        lo, hi = np.quantile(boot, [0.025, 0.975])
        t_lo, t_hi = np.quantile(t_boot, [0.025, 0.975])
        rows.append({"role": role, "format": fmt, "task": task, "n": n, "n_folds": len(fold_t),
                     "fitted_T": t_all, "T_low": float(t_lo), "T_high": float(t_hi),
                     "fold_T_min": min(fold_t), "fold_T_max": max(fold_t),
                     "ece_T1": ece_t1, "ece_crossfit": ece_cf, "gain": ece_t1 - ece_cf, "gain_low": float(lo), "gain_high": float(hi),
                     "gain_p": stats.bootstrap_p(boot)})
    out = pd.DataFrame(rows)
    if not out.empty:
        out["gain_p_holm"] = out.groupby(["role", "format"])["gain_p"].transform(stats.holm)
    return out


# ------------------------------------------------------------------ none of the above

def none_of_the_above(items: pd.DataFrame, n_bins: int = 10) -> pd.DataFrame:
    """Kadavath et al.'s variant against the plain lettered task on the same items, per role x
    format x dataset x shots: accuracy and ECE of both, accuracy where "None of the above" is
    the right answer and where it is not, and the mean probability it gets."""
    rows = []
    nota = items[items["task"].str.split(":").str[1] == "nota"]
    for (role, fmt, task), group in nota.groupby(["role", "format", "task"], sort=False):
        dataset, _, k = task.split(":")
        plain = items[(items["role"] == role) & (items["format"] == fmt) & (items["task"] == f"{dataset}:letter:{k}")]
        if plain.empty:
            continue
        group, plain = group.set_index("item_id"), plain.set_index("item_id")
        common = group.index.intersection(plain.index)
        group, plain = group.loc[common], plain.loc[common]
        is_nota = np.array([a == len(p) - 1 for a, p in zip(group["answer"], group["probs"])])
        row = {"role": role, "format": fmt, "dataset": dataset, "k_shot": int(k), "n": len(common),
               "n_nota_right": int(is_nota.sum()), "acc_letter": float(plain["correct"].mean()),
               "acc_nota": float(group["correct"].mean()),
               "acc_nota_where_right": float(group["correct"][is_nota].mean()) if is_nota.any() else np.nan,
               "acc_nota_elsewhere": float(group["correct"][~is_nota].mean()) if (~is_nota).any() else np.nan,
               "mean_p_nota": float(np.mean([p[-1] for p in group["probs"]]))}
        for name, frame in (("ece_letter", plain), ("ece_nota", group)):
            row[name] = _ece_all_options(frame.reset_index(), n_bins)
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ quantization

def quantization_effect(main: pd.DataFrame, others: dict[str, pd.DataFrame], n_bins: int = 10) -> pd.DataFrame:
    """Each other quantization setting against the main run, on the same items and format:
    accuracy and ECE (all options, equal mass) of both, argmax agreement, and the largest and
    median shift of an option's log-probability."""
    rows = []
    if "format" not in main:
        main = main.assign(format="raw")
    for quant, items in others.items():
        if "format" not in items:
            items = items.assign(format="raw")
        for (role, fmt, task), group in items.groupby(["role", "format", "task"], sort=False):
            ref = main[(main["role"] == role) & (main["format"] == fmt) & (main["task"] == task)].set_index("item_id")
            group = group.set_index("item_id")
            common = ref.index.intersection(group.index)
            group, ref = group.loc[common], ref.loc[common]
            shift = np.concatenate([np.abs(np.subtract(a, b)) for a, b in zip(group["logprobs"], ref["logprobs"])])
            row = {"quantization": quant, "role": role, "format": fmt, "task": task, "n": len(group),
                   "acc_main": ref["correct"].mean(), "acc": group["correct"].mean(),
                   "argmax_agreement": float((group["pred"] == ref["pred"]).mean()),
                   "max_abs_dlogp": float(shift.max()), "median_abs_dlogp": float(np.median(shift))}
            for name, frame in (("ece_main", ref), ("ece", group)):
                row[name] = _ece_all_options(frame.reset_index(), n_bins)
            rows.append(row)
    return pd.DataFrame(rows)


HEADLINE_METRICS = {"ece": "ECE (lower: better calibrated)", "accuracy": "accuracy",
                    "auroc": "AUROC of confidence for correctness"}


def headline(contrasts: pd.DataFrame, reading: str = "options", later: str = "tuned") -> pd.DataFrame:
    """The chapter's headline for the summary page: the later stage (the tuned model; the DPO stage
    beside it) against the base, format held fixed, on ECE, accuracy and AUROC, pooled over tasks
    (random effects, `across_tasks`), Holm across the rows."""
    part = contrasts[(contrasts["reading"] == reading) & contrasts["metric"].isin(list(HEADLINE_METRICS))]
    pooled = across_tasks(part[part["contrast"].str.startswith("tuning | ")])
    if pooled.empty:
        return pooled
    out = tuning_rows(pooled.rename(columns={"k": "n"}), later)
    out["p_holm"] = stats.holm(out["p_value"])
    out["measure"] = out["metric"].map(HEADLINE_METRICS)
    out["unit"] = out["metric"]
    return out.assign(where=f"{reading} reading, pooled over tasks (n = tasks)")
