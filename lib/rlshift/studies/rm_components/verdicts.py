"""The reward-model components chapter's verdicts, computed from its tables."""
from __future__ import annotations

import pandas as pd


def _ci(r, value="share", fmt="{:.2f}") -> str:
    if r["ci_low"] != r["ci_low"]:  # NaN: too few prompts for an interval
        return f"{fmt.format(r[value])} (no interval: {r.get('prompts', 'too few')} prompts)"
    return f"{fmt.format(r[value])} [{fmt.format(r['ci_low'])}, {fmt.format(r['ci_high'])}]"


def _against_chance(r) -> str:
    if r["ci_low"] != r["ci_low"]:
        return "too few prompts to test"
    return "above chance" if r["ci_low"] > 0.5 else "below chance" if r["ci_high"] < 0.5 else "at chance"


def people_punish(model: pd.DataFrame, alpha: float) -> list[str]:
    """Q1: which labelled defects lower people's generic preference (FineGrainedRLHF)."""
    if model.empty:
        return ["**Q1** (people's labels): not run (FineGrainedRLHF is not among the sources)."]
    lines = []
    for r in model.to_dict("records"):
        if r["term"] == "log_length_ratio":
            word = ("longer answers win" if r["significant"] and r["odds_ratio"] > 1 else
                    "shorter answers win" if r["significant"] else "no length effect shown")
            lines.append(f"length (log ratio): odds ratio {_ci(r, 'odds_ratio')} per unit, Holm p = "
                         f"{r['p_holm']:.3g}: {word}, other defects held fixed.")
            continue
        word = ("punished by the generic preference" if r["significant"] and r["odds_ratio"] < 1 else
                "*favoured* by the generic preference" if r["significant"] else "no effect on it shown")
        lines.append(f"{r['term']} ({r['with']} of {r['n']} comparisons): odds ratio {_ci(r, 'odds_ratio')}, Holm p = "
                     f"{r['p_holm']:.3g}: {word}.")
    punished = model[(model["significant"]) & (model["odds_ratio"] < 1) & (model["term"] != "log_length_ratio")]
    head = (f"**Q1** (people's labels, {int(model['questions'].iloc[0])} questions): the generic preference "
            + (f"coincides with the component-wise judgment for {', '.join(punished['term'])}" if len(punished) else
               "follows none of the labelled defects detectably") + f" (alpha {alpha}, Holm).")
    return [head] + [f"- {line}" for line in lines]


def task_dependence(coincidence: pd.DataFrame, alpha: float) -> list[str]:
    """Q2: do the measurable components coincide with the generic preference differently by task?"""
    if coincidence.empty:
        return ["**Q2** (components by task type): no pairs with a preference in this run."]
    per = coincidence.drop_duplicates("proxy").set_index("proxy")
    differs = [p for p, r in per.iterrows() if r["p_task_differs_holm"] < alpha]
    strong = coincidence[coincidence["significant"]]
    lines = [f"**Q2** (measurable components against people's generic preference, machine measurements): "
             + (f"the coincidence depends on the task type for {', '.join(differs)}" if differs else
                "no component's coincidence differs detectably between task types") + " (chi-square, Holm)."]
    for r in strong.to_dict("records"):
        side = "more" if r["share"] > 0.5 else "less"
        lines.append(f"- {r['task_type']}: the preferred response has {side} `{r['proxy']}` ({r['aspect']}) in "
                     f"{_ci(r)} of {r['n']} pairs (Holm p = {r['p_holm']:.3g}).")
    return lines


def machines(judge: pd.DataFrame, rewards: pd.DataFrame) -> list[str]:
    lines = []
    if not judge.empty:
        generic = judge[judge["question"] == "generic"]
        for r in generic.to_dict("records"):
            word = _against_chance(r)
            lines.append(f"The tuned model as a judge, generic question, {r['task_type']}: agrees with people on "
                         f"{_ci(r)} of {r['n']} pairs ({word}; the same answer in both orders on "
                         f"{r['consistent in both orders']:.0%}).")
    for r in rewards.to_dict("records"):
        word = _against_chance(r)
        lines.append(f"`{r['reward_model']}`, {r['task_type']}: prefers people's choice in {_ci(r)} of {r['n']} "
                     f"pairs ({word}).")
    return ["**Machine labels** (clearly not people's):"] + [f"- {x}" for x in lines] if lines else []


def annotators(kappa: pd.DataFrame, relevance: pd.DataFrame, generic: pd.DataFrame, sheets: list[str],
               n_rows: int) -> list[str]:
    """Q3-Q4 from people's sheets, or what is missing for them."""
    if kappa.empty and relevance.empty:
        return [f"**Q3-Q4** (aspect relevance by task type; generic vs aspect-wise preferences of annotators): not "
                f"answered yet. {n_rows} pairs are exported to {len(sheets)} sheets ({', '.join(sheets)}); "
                f"fill them (the guide above) and rerun."]
    lines = ["**Q3** (people's sheets):"]
    for r in kappa.to_dict("records"):
        lines.append(f"- agreement on `{r['column']}` ({r['items']} items): Cohen's kappa {r['cohen_kappa']:.2f} "
                     f"[{r['cohen_low']:.2f}, {r['cohen_high']:.2f}], Fleiss' {r['fleiss_kappa']:.2f}.")
    dep = relevance.drop_duplicates("aspect") if len(relevance) else relevance
    for r in dep.to_dict("records"):
        word = "depends on the task type" if r["depends_on_task"] else "no dependence on the task type shown"
        lines.append(f"- relevance of {r['aspect']}: {word} (chi-square, Holm p = {r['p_task_holm']:.3g}).")
    if len(generic):
        lines.append("**Q4** (generic vs aspect-wise preference, all task types):")
        for r in generic[generic["task_type"] == "all"].to_dict("records"):
            lines.append(f"- {r['aspect']}, generic from {r['generic from']}: coincide in {_ci(r, 'coincide')} of "
                         f"{r['n']}.")
    return lines


def verdicts(model, coincidence, judge, rewards, kappa, relevance, generic, sheets, n_rows, alpha) -> str:
    parts = [people_punish(model, alpha), task_dependence(coincidence, alpha), machines(judge, rewards),
             annotators(kappa, relevance, generic, sheets, n_rows)]
    return "\n\n".join("\n".join(p) for p in parts if p)
