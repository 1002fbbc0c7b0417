"""The "I don't know" chapter's verdicts, computed from its tables."""
from __future__ import annotations

import pandas as pd

MAIN = "all should-abstain vs should-answer"


def _ci(row, value="auroc", low="ci_low", high="ci_high", fmt="{:.2f}") -> str:
    return f"{fmt.format(row[value])} [{fmt.format(row[low])}, {fmt.format(row[high])}]"


def knows_when(disc: pd.DataFrame) -> list[str]:
    lines = []
    for r in disc[disc["contrast"] == MAIN].to_dict("records"):
        word = ("tells them apart" if r["ci_low"] > 0.5 else
                "abstains *more* where it should answer" if r["ci_high"] < 0.5 else "does not tell them apart")
        lines.append(f"`{r['role']}` ({r['format']}): AUROC {_ci(r)} over {r['n_abstain']} + {r['n_answer']} "
                     f"questions: it {word}.")
    return lines


def tuning_changes(contrasts: pd.DataFrame, alpha: float) -> list[str]:
    lines = []
    for r in contrasts.to_dict("records"):
        verdict = "changed" if r["p_holm"] < alpha else "no change shown"
        lines.append(f"{r['contrast']} ({r['format']}), {r['measure']}: {r['difference']:+.3f} "
                     f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}], Holm p = {r['p_holm']:.3g}: {verdict}.")
    return lines


def calibrated(cal: pd.DataFrame) -> list[str]:
    lines = []
    for r in cal.to_dict("records"):
        word = ("abstains more where it is wrong" if r["ci_low"] > 0.5 else
                "abstains more where it is right" if r["ci_high"] < 0.5 else "no relation shown")
        lines.append(f"`{r['role']}` ({r['format']}): AUROC {_ci(r, 'auroc_abstain_where_wrong')} on {r['n']} "
                     f"questions it gets {r['accuracy (right > wrong)']:.0%} right: {word}.")
    return lines


def rewarded(view: pd.DataFrame | None, accuracy: dict | None = None) -> list[str]:
    """`accuracy`: each trained reward model's accuracy on its own held-out preference pairs."""
    if view is None or view.empty:
        return ["No reward model was run (reward_models = [])."]
    lines = []
    for model, part in view.groupby("reward_model", sort=False):
        for r in part.to_dict("records"):
            lines.append(f"`{model}`, {r['reading']}: {_ci(r, 'share', fmt='{:.0%}')} of {r['n']} questions "
                         f"(mean margin {r['mean_margin']:+.2f} [{r['margin_low']:+.2f}, {r['margin_high']:+.2f}]).")
        evasion = part[part["reading"].str.startswith("evasion")]
        if len(evasion):
            e = evasion.iloc[0]
            word = ("prefers \"I don't know\" to the right answer on most answerable questions: rewarding it "
                    "would teach evasion" if e["ci_low"] > 0.5 else
                    "prefers the right answer to \"I don't know\" on most answerable questions" if e["ci_high"] < 0.5
                    else "is split between \"I don't know\" and the right answer")
            lines.append(f"So `{model}` {word}.")
        acc = (accuracy or {}).get(model)
        if acc is not None:
            lines.append(f"(`{model}`'s own accuracy on its held-out preference pairs is {acc:.0%}: "
                         + ("near or below chance, so its preferences here are weak evidence.)" if acc < 0.6
                            else "read its preferences with that in mind.)"))
    return lines


def verdicts(disc: pd.DataFrame, contrasts: pd.DataFrame, cal: pd.DataFrame, view: pd.DataFrame | None,
             alpha: float, accuracy: dict | None = None) -> str:
    sections = [("Do the stages know when to say \"I don't know\"?", knows_when(disc)),
                ("What did tuning change? (each stage against the base, same questions)", tuning_changes(contrasts, alpha)),
                ("Do they abstain where they would be wrong?", calibrated(cal)),
                ("What do the reward models reward?", rewarded(view, accuracy))]
    out = []
    for title, lines in sections:
        out.append(f"**{title}**")
        out += [f"- {line}" for line in lines] or ["- Not computed in this run (too few questions)."]
    return "\n".join(out)
