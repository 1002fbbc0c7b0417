"""The collapse chapter's verdicts, each computed from its tables with the test named.

H0: training and held-out inputs of the training distribution share a footprint (permutation
tests per aspect, Holm). H1: the tuned model does worse on the out-of-distribution part than on
the in-distribution one, beyond the reference model's own gap (difference in differences). H2:
the tuned model's outputs carry the same footprint whatever the input: its output shift between
the parts is smaller than the reference model's (paired bootstrap, Holm over aspects). H3: its
outputs on test inputs look like its outputs on training inputs (described per aspect). H4:
reward hacking, where people's ratings and the reward disagree."""
from __future__ import annotations

import pandas as pd

from rlshift import stats
from rlshift.studies.data_collapse.analysis import reference_role
from rlshift.studies.data_collapse.reading import PARTS

PRIMARY = {"summaries": "rouge_l", "dialogues": "reward"}  # ROUGE-L: the reward models here never saw summaries


def _aspects(rows: pd.DataFrame) -> str:
    return ", ".join(rows["aspect"]) or "none"


def inputs_match(match: pd.DataFrame, alpha: float) -> str:
    held = match[match["comparison"] == "training vs held-out"]
    if held.empty:
        return ("**H0** (training and test inputs share a footprint): not decided here. The policy's training inputs "
                "are not published (InstructGPT's PPO prompts); with `tldr_source='hub'` CarperAI's train split is "
                "the training pool.")
    differ = held[held["p_holm"] < alpha]
    verdict = "Supported" if differ.empty else "Not supported"
    far = match[match["comparison"] == f"training vs {PARTS[1]}"].set_index("aspect")["excess"]
    near = match[match["comparison"] == f"training vs {PARTS[0]}"].set_index("aspect")["excess"]
    return (f"**H0** (training and held-out inputs share a footprint): {verdict}. Held-out inputs differ from the "
            f"training inputs on {len(differ)} of {len(held)} aspects (permutation tests, Holm, alpha {alpha}): "
            f"{_aspects(differ)}. The split worked as meant where the out-of-distribution part is farther from the "
            f"training pool than the in-distribution part: on {int((far > near.reindex(far.index)).sum())} of "
            f"{len(far)} aspects (excess JS).")


def judge_reading(judge: str, accuracy: tuple[float, float, float] | None) -> tuple[str, str]:
    """How the judge is named in a verdict, and a warning where its held-out accuracy does not
    exceed chance (its rewards then say little about quality)."""
    if accuracy is None:
        return f"the reward of {judge} (held-out accuracy not measured here)", ""
    acc, low, high = accuracy
    warning = (f" The judge is not better than chance on its held-out pairs ({acc:.2f} [{low:.2f}, {high:.2f}]): "
               f"read this verdict on people's ratings instead." if low <= 0.5 else "")
    return f"the reward of {judge} (held-out accuracy {acc:.2f} [{low:.2f}, {high:.2f}])", warning


def quality_gap(setting: str, contrasts: pd.DataFrame, roles: list[str], judge: str,
                judge_accuracy: tuple[float, float, float] | None, alpha: float) -> str:
    metric = PRIMARY[setting] if PRIMARY[setting] in set(contrasts["metric"]) else "reward"
    ref = reference_role(roles)
    table = contrasts[contrasts["metric"] == metric].set_index("contrast")
    did, own = table.loc[f"tuned gap - {ref} gap"], table.loc["tuned: in - out"]
    if did["p_holm"] < alpha:
        verdict = "Supported" if did["estimate"] > 0 else "Contradicted"
    else:
        verdict = "Not decided"
    reading, warning = judge_reading(judge, judge_accuracy)
    if metric == "rouge_l":
        reading, warning = "ROUGE-L F1 to the human TL;DR", ""
    return (f"**H1** (worse out of distribution, beyond the {ref} model): {verdict}, on {reading}. The tuned model's "
            f"in - out gap is {own['estimate']:+.3f} [{own['low']:+.3f}, {own['high']:+.3f}]; its gap minus the "
            f"{ref} model's is {did['estimate']:+.3f} [{did['low']:+.3f}, {did['high']:+.3f}] (Holm p "
            f"{did['p_holm']:.3f}). A gap every model shares says the out-of-distribution inputs are harder, not that "
            f"RL overfitted.{warning}")


def same_footprint(contrast: pd.DataFrame, shift: pd.DataFrame, roles: list[str], alpha: float) -> str:
    ref = reference_role(roles)
    contrast = contrast[contrast["contrast"] == f"tuned - {ref}"]  # the main contrast (DPO's rows are beside it)
    less = contrast[(contrast["p_holm"] < alpha) & (contrast["estimate"] < 0)]
    more = contrast[(contrast["p_holm"] < alpha) & (contrast["estimate"] > 0)]
    verdict = ("Supported" if len(less) and not len(more) else "Contradicted" if len(more) and not len(less)
               else "Mixed" if len(less) else "Not decided")
    differ = {texts: shift[(shift["texts"] == texts) & (shift["p_holm"] < alpha)]
              for texts in ["inputs"] + [f"{r} outputs" for r in roles]}
    outputs = "; ".join(f"the {r} model's outputs on {len(differ[f'{r} outputs'])} ({_aspects(differ[f'{r} outputs'])})"
                        for r in roles)
    return (f"**H2** (the tuned model's outputs keep one footprint whatever the input): {verdict}. Its output shift "
            f"between the parts is smaller than the {ref} model's on {len(less)} of {len(contrast)} aspects "
            f"({_aspects(less)}) and larger on {len(more)} ({_aspects(more)}) (paired bootstrap, Holm). The parts' "
            f"inputs differ on {len(differ['inputs'])} aspects ({_aspects(differ['inputs'])}); {outputs} "
            f"(permutation tests, Holm).")


def training_outputs(table: pd.DataFrame, roles: list[str], alpha: float) -> str:
    if table.empty:
        return ("**H3** (test outputs carry the training outputs' footprint): not decided here: no outputs on training "
                "inputs in this setting.")
    far = table[table["comparison"] == f"training outputs vs {PARTS[1]} outputs"].copy()
    far["p_holm"] = far.groupby("role")["p_perm"].transform(stats.holm)
    counts = {r: int((far.loc[far["role"] == r, "p_holm"] < alpha).sum()) for r in roles}
    ref = reference_role(roles)
    return (f"**H3** (outputs on out-of-distribution inputs look like outputs on training inputs), described, not "
            f"tested for equality: the tuned model's differ on {counts.get('tuned', 0)} of {far['aspect'].nunique()} "
            f"aspects, the {ref} model's on {counts.get(ref, 0)} (permutation tests, Holm). Fewer differing aspects "
            f"for the tuned model would fit a collapse onto the training outputs' footprint.")


def hacking(people: pd.DataFrame, agreement: pd.DataFrame, sheets: list[str]) -> str:
    if people.empty:
        return (f"**H4** (reward hacking: high reward, poor output): not decided: no ratings yet. Fill the sheets "
                f"({', '.join(sheets[:2])}{', ...' if len(sheets) > 2 else ''}) with 1-5 and rerun.")
    rows = "; ".join(f"{r['role']}: rho {r['rho reward-rating']:+.2f}, {r['high reward, rated poor']} of {r['n']} "
                     f"high-reward outputs rated 1-2" for r in people.to_dict("records"))
    kappa = (f" Agreement: {agreement.iloc[0]['annotators']} weighted kappa {agreement.iloc[0]['kappa_quadratic']:.2f}"
             f" on {agreement.iloc[0]['n']} outputs." if len(agreement) else " One annotator: agreement not measured.")
    return f"**H4** (reward hacking), from people's ratings: {rows}.{kappa}"


def verdicts(runs: list, people: dict, agreement: pd.DataFrame, sheets: list[str], judge_accuracy: dict,
             alpha: float) -> str:
    """judge_accuracy: reward model -> (held-out accuracy, low, high), or None where not measured."""
    blocks = []
    for run in runs:
        t = run.tables
        lines = [f"#### {run.setting}",
                 inputs_match(t["match"], alpha),
                 quality_gap(run.setting, t["quality_contrasts"], run.roles, run.judge, judge_accuracy.get(run.judge), alpha),
                 same_footprint(t["shift_contrast"], t["shift"], run.roles, alpha),
                 training_outputs(t["train_vs_test"], run.roles, alpha),
                 hacking(people.get(run.setting, pd.DataFrame()), agreement, sheets)]
        blocks.append("\n\n".join(lines))
    return "\n\n".join(blocks)
