"""The calibration chapter's verdicts, in words computed from its tables."""
from __future__ import annotations

import pandas as pd

from rlshift.studies.calibration.analysis import READING_NAMES, across_tasks


def _tasks(frame: pd.DataFrame) -> str:
    return ", ".join(frame["task"]) or "none"


def _tuning_contrasts(contrasts: pd.DataFrame) -> list[str]:
    return [c for c in dict.fromkeys(contrasts["contrast"]) if c.startswith("tuning") or c.startswith("confounded")]


def _h1_reading(contrasts: pd.DataFrame, reading: str, alpha: float) -> list[str]:
    part = contrasts[(contrasts["reading"] == reading) & (contrasts["metric"] == "ece")]
    if part.empty:
        return []
    lines = []
    pooled = across_tasks(part).set_index("contrast")
    for name in _tuning_contrasts(part):
        one = part[part["contrast"] == name]
        worse = one[(one["p_holm"] < alpha) & (one["estimate"] > 0)]
        better = one[(one["p_holm"] < alpha) & (one["estimate"] < 0)]
        p = pooled.loc[name]
        if p["k"] >= 2 and p["ci_low"] > 0:
            call = "Supported"
        elif p["k"] >= 2 and p["ci_high"] < 0:
            call = "Not supported (the tuned model is better calibrated)"
        elif p["k"] >= 2:
            call = "Not supported (no difference detected)"
        else:
            call = "Not testable across tasks (one task)"
        confounded = " Format and tuning are confounded in this contrast." if name.startswith("confounded") else ""
        lines.append(
            f"- *{READING_NAMES[reading]}, {name}*: the tuned model's ECE is higher on {len(worse)} of {len(one)} "
            f"task(s) ({_tasks(worse)}) and lower on {len(better)} ({_tasks(better)}) (paired bootstrap, Holm "
            f"across tasks, alpha = {alpha}); across tasks (random-effects meta-analysis) the difference is "
            f"{p['estimate']:+.3f} [{p['ci_low']:+.3f}, {p['ci_high']:+.3f}] (I² = {p['i2']:.2f}). {call}.{confounded}")
    return lines


def verdicts(summary: pd.DataFrame, contrasts: pd.DataFrame, fits: pd.DataFrame, alpha: float = 0.05) -> str:
    """H1 and H1b per reading and format, decided per task (Holm) and across tasks (random
    effects); tasks where tuning costs accuracy and cells at chance are named, not dropped."""
    if contrasts.empty:
        return ("**H1, H1b.** Not testable on this run: base and tuned were not both scored on the same items.")
    lines = ["**H1 (the tuned model is worse calibrated than its base on the same items).** ECE over all options "
             "(equal-mass bins) for option probabilities, over the one answer for the other readings."]
    for reading in dict.fromkeys(contrasts["reading"]):
        lines += _h1_reading(contrasts, reading, alpha)
    acc = contrasts[(contrasts["reading"] == "options") & (contrasts["metric"] == "accuracy")]
    for name in _tuning_contrasts(acc):
        one = acc[acc["contrast"] == name]
        cost = one[(one["p_holm"] < alpha) & (one["estimate"] < 0)]
        gain = one[(one["p_holm"] < alpha) & (one["estimate"] > 0)]
        lines.append(f"Accuracy, {name}: tuning costs accuracy on {len(cost)} task(s) ({_tasks(cost)}) and raises it "
                     f"on {len(gain)} ({_tasks(gain)}) (Holm); these tasks stay in every table above.")
    options = summary[(summary["reading"] == "options") & summary["role"].isin(["base", "tuned"])]
    chance = options[~options["above_chance"]]
    if not chance.empty:
        cells = sorted({f"{r.task} ({r.role} · {r.format})" for r in chance.itertuples()})
        lines.append(f"At chance (accuracy's 95% interval reaches chance), where ECE mostly measures how far "
                     f"confidence sits from 1/k rather than calibration of knowledge: {', '.join(cells)}.")
    lines.append(_h1b(fits, alpha))
    return "\n\n".join(lines)


def _h1b(fits: pd.DataFrame, alpha: float) -> str:
    tuned = fits[fits["role"] == "tuned"]
    if tuned.empty:
        return "**H1b (a temperature fixes the tuned model's calibration).** Not testable on this run (no tuned model)."
    parts = []
    for fmt, one in tuned.groupby("format", sort=False):
        above = one[one["T_low"] > 1]
        helped = one[(one["gain_p_holm"] < alpha) & (one["gain"] > 0)]
        both = one[(one["T_low"] > 1) & (one["gain_p_holm"] < alpha) & (one["gain"] > 0)]
        pooled = across_tasks(one.rename(columns={"gain": "estimate", "gain_low": "ci_low", "gain_high": "ci_high"})
                              .assign(reading="options", metric="gain", contrast=fmt)).iloc[0]
        call = ("Supported" if pooled["k"] >= 2 and pooled["ci_low"] > 0 and one["fitted_T"].median() > 1
                else "Not supported")
        parts.append(
            f"- *{fmt} format*: the tuned model's fitted temperature (median {one['fitted_T'].median():.2f} over "
            f"{len(one)} task(s)) lies above 1 with its bootstrap CI on {len(above)} ({_tasks(above)}); the "
            f"cross-fitted temperature ({int(one['n_folds'].iloc[0])} folds) lowers held-out ECE significantly "
            f"(Holm) on {len(helped)} ({_tasks(helped)}), and does both on {len(both)}; across tasks the ECE gain is "
            f"{pooled['estimate']:+.3f} [{pooled['ci_low']:+.3f}, {pooled['ci_high']:+.3f}]. {call} "
            f"(needs T > 1 and a gain across tasks).")
    base = fits[fits["role"] == "base"]
    tail = (f" For comparison, the base model's median fitted temperature is {base['fitted_T'].median():.2f}."
            if not base.empty else "")
    return ("**H1b (a temperature above 1 fixes the tuned model's calibration; Kadavath et al. report T = 2.5).**\n"
            + "\n".join(parts) + tail)
