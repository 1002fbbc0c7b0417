"""The calibration chapter's verdicts, in words computed from its tables."""
from __future__ import annotations

import pandas as pd

from rlshift.studies.calibration.analysis import informative


def verdicts(summary: pd.DataFrame, comparison: pd.DataFrame, fits: pd.DataFrame, alpha: float = 0.05) -> str:
    """The hypotheses' verdicts, in words computed from the tables (markdown)."""
    summary = summary[summary["role"].isin(["base", "tuned"])]
    ok = summary.assign(informative=informative(summary)).pivot_table(
        index="task", columns="role", values="informative", aggfunc="first")
    both = [t for t in comparison["task"] if t in ok.index and bool(ok.loc[t].all())]
    at_chance = [t for t in comparison["task"] if t not in both]
    comp = comparison.set_index("task")
    worse = [t for t in both if comp.loc[t, "ece_p"] < alpha and comp.loc[t, "ece_diff"] > 0]
    better = [t for t in both if comp.loc[t, "ece_p"] < alpha and comp.loc[t, "ece_diff"] < 0]
    unclear = [t for t in both if t not in worse and t not in better]
    lines = ["**H1 (the tuned model is worse calibrated than its base).** "]
    if not both:
        lines[0] += ("Not testable on this run: on no task were both models' accuracies above "
                     "chance, so the reliability diagrams show noise, not calibration.")
    else:
        lines[0] += (f"Of {len(both)} task(s) where both models are above chance, the tuned model's "
                     f"ECE (all options, equal-mass bins) is significantly higher on {len(worse)} "
                     f"({', '.join(worse) or 'none'}), significantly lower on {len(better)} "
                     f"({', '.join(better) or 'none'}), and not distinguishable on {len(unclear)} "
                     f"(paired permutation test, alpha = {alpha}, no correction for multiple tasks). ")
        lines[0] += ("Supported on this run." if len(worse) > len(better) and len(worse) >= len(unclear)
                     else "Not supported on this run." if len(better) >= len(worse)
                     else "Mixed on this run.")
    if at_chance:
        lines.append(f"Uninformative (at least one model at chance): {', '.join(at_chance)}.")
    lines.append("These verdicts are about the pair that ran; where its two models differ in "
                 "family or size (as the embedded-families pair does), a difference is not RL's alone.")
    fits = fits[fits["task"].isin(both) & fits["role"].isin(["base", "tuned"])]
    if fits.empty:
        lines.append("**H1b (a temperature fixes calibration).** Not testable on this run (no task "
                     "with both models above chance; at chance the best temperature is infinite).")
        return "\n\n".join(lines)
    tuned_t = fits[fits["role"] == "tuned"]["fitted_T"]
    base_t = fits[fits["role"] == "base"]["fitted_T"]
    gain = (fits["ece_held_out_T1"] - fits["ece_held_out_fitted"])
    lines.append(
        f"**H1b (a temperature fixes calibration).** On the {len(both)} informative task(s), the "
        f"median fitted temperature is {base_t.median():.2f} for the base and "
        f"{tuned_t.median():.2f} for the tuned model (T > 1: the model was overconfident; "
        f"Kadavath et al. report T = 2.5 for their RLHF policy). On the held-out halves the "
        f"fitted temperature lowered ECE in {int((gain > 0).sum())} of {len(gain)} model-task "
        f"cells (median change {-gain.median():+.3f}). "
        + ("Supported on this run." if (tuned_t.median() > 1 and (gain > 0).mean() > 0.5)
           else "Not supported on this run."))
    return "\n\n".join(lines)


