"""The reward-collapse chapter's verdicts, in words computed from its tables."""
from __future__ import annotations

import pandas as pd


# The utilities Song et al. predict collapse for: log sigmoid, bounded or not (a hub model's and
# the DPO stage's implicit reward are trained with it too).
COLLAPSE_UTILITIES = ("standard", "bounded_log_sigmoid", "external")


def _fmt_p(p: float) -> str:
    """'p = 0.123', 'p < 0.001' or 'p n/a'."""
    return "p n/a" if p != p else ("p < 0.001" if p < 0.001 else f"p = {p:.3f}")


def contamination_summary(table: pd.DataFrame) -> str:
    """One sentence per reward model from the contamination table."""
    out = []
    for model, part in table.groupby("reward_model", sort=False):
        if not part["checked"].all():
            out.append(f"`{model}`: not checked (its training data is not available here).")
            continue
        hit = part[part["in_training_data"] > 0]
        out.append(f"`{model}`: " + ("no evaluation prompt is among its training prompts." if hit.empty else
                   "; ".join(f"{int(r.in_training_data)} of {r.prompts} {r.evaluation_set} prompts are among its "
                             f"training prompts" for r in hit.itertuples())
                   + " (their rows measure fit, not generalisation)."))
    return " ".join(out) if out else "No reward model to check."


def _h1_verdict(n_polar_closed: int, n_polar_open: int, truth: pd.DataFrame) -> str:
    """Exactly one verdict for one reward model: not testable where it is at chance on every
    cell (its rewards then describe noise), else from where its rewards are polarised, with
    the cells at chance named."""
    at_chance = truth[(truth["acc_low"] <= 0.5) & (truth["acc_high"] >= 0.5)]
    if len(truth) and len(at_chance) == len(truth):
        return (f"Not testable on this run: its pairwise accuracy is indistinguishable from chance on all "
                f"{len(truth)} cells, so the shape of its rewards shows how they vary across prompts, not a "
                f"judgement of the answers.")
    if not n_polar_closed and not n_polar_open:
        verdict = ("Supported on this run: no distribution is detectably polarised (with n per cell as in the "
                   "table, the test's power is limited).")
    elif n_polar_closed and not n_polar_open:
        verdict = "Not supported on this run: closed-ended rewards are polarised where open-ended ones are not."
    else:
        verdict = "Not supported as stated: rewards are multimodal on open-ended prompts too."
    if len(at_chance):
        verdict += (f" Caveat: on {len(at_chance)} of {len(truth)} cells its pairwise accuracy is indistinguishable "
                    f"from chance; there its rewards do not judge the answers.")
    return verdict


def _h1(polar: pd.DataFrame, truth: pd.DataFrame, shapes: pd.DataFrame) -> str:
    standard = polar[polar["utility"].isin(COLLAPSE_UTILITIES)]
    h1 = ["**H1 (reward collapse: with the standard utility, rewards are unimodal on closed- and "
          "open-ended prompts alike).** "]
    for model, part in standard.groupby("reward_model", sort=False):
        closed, opened = part[part["task_type"] == "closed"], part[part["task_type"] == "open"]
        objective = part[part["task_type"] == "objective-preference"]
        pol_c = closed[closed["polarized"]]
        pol_o = opened[opened["polarized"]]
        pol_j = objective[objective["polarized"]]
        desc = (f"`{model}`: the dip test rejects unimodality on {len(pol_c)} of {len(closed)} closed-ended "
                f"(BoolQ) cells{' (' + ', '.join(pol_c['format']) + ')' if len(pol_c) else ''} and on {len(pol_o)} "
                f"of {len(opened)} open-ended ones{' (' + ', '.join(pol_o['task']) + ')' if len(pol_o) else ''}; "
                f"BIC prefers two Gaussian components on {int(closed['bic_prefers_2'].sum())} closed and "
                f"{int(opened['bic_prefers_2'].sum())} open cells. ")
        if len(objective):  # between the two: free-form replies, one objectively better
            desc += (f"On objective-preference cells (free-form, one reply objectively better; not counted for "
                     f"either side) it rejects unimodality on {len(pol_j)} of {len(objective)}"
                     f"{' (' + ', '.join(pol_j['task']) + ')' if len(pol_j) else ''}. ")
        same = shapes[shapes["reward_model"] == model] if len(shapes) else shapes
        if len(same):
            desc += (f"The closed- and open-ended shapes differ (KS on z-scores, permutation p) in {int(same['shapes_differ'].sum())} "
                     f"of {len(same)} answer formats. ")
        desc += _h1_verdict(len(pol_c), len(pol_o), truth[truth["reward_model"] == model])
        h1.append(desc)
    if standard.empty:
        h1.append("Not testable on this run: no reward model trained with the standard utility was analysed.")
    return " ".join(h1)


def _within(tests: pd.DataFrame, truth: pd.DataFrame, alpha: float) -> str:
    """H1 where Song et al. state it: the rewards of many answers to one prompt."""
    out = ["**H1 within prompts (the shape of the rewards of many sampled answers to one prompt, the "
           "distribution the theory is about).** "]
    if tests is None or not len(tests):
        return out[0] + "Not testable on this run: no prompt was answered many times (`within_prompts` = 0)."
    for r in tests.itertuples():
        head = (f"`{r.reward_model}` on the {r.sampler} model's answers: polarised rewards on "
                f"{_share(r.share_closed, r.n_closed)} closed-ended and {_share(r.share_open, r.n_open)} open-ended "
                f"prompts")
        if r.difference != r.difference:
            out.append(head + "; not testable (at least two testable prompts of each type are needed). ")
            continue
        head += f" (difference {r.difference:+.2f}, permutation {_fmt_p(r.p)}): "
        if r.p < alpha:
            verdict = ("not supported: closed-ended prompts are polarised more often than open-ended ones."
                       if r.difference > 0 else "not supported as stated: open-ended prompts are polarised more often.")
        elif r.share_closed == 0 and r.share_open == 0:
            verdict = "consistent with collapse: no prompt's rewards are detectably polarised."
        else:
            verdict = "consistent with collapse: the shares do not detectably differ."
        part = truth[truth["reward_model"] == r.reward_model] if len(truth) else truth
        if len(part) and ((part["acc_low"] <= 0.5) & (part["acc_high"] >= 0.5)).all():
            verdict += (" But its pairwise accuracy is indistinguishable from chance on every cell: its rewards do "
                        "not judge the answers, so their shape is not evidence about a trained reward's optimum.")
        out.append(head + verdict + " ")
    out.append(f"The dip test on {int(tests[['n_closed', 'n_open']].to_numpy().max())} prompts or fewer per type, each "
               f"with a few answers, has little power: 'not polarised' means 'not detectably polarised'.")
    return "".join(out)


def _share(share: float, n: int) -> str:
    return f"{round(share * n)} of {n}" if share == share else f"0 of {n}"


def _h2(truth: pd.DataFrame) -> str:
    h2 = ["**H2 (rewards match the ground truth: correct and preferred responses get higher rewards).** "]
    for model, part in truth.groupby("reward_model", sort=False):
        above = part[part["acc_low"] > 0.5]
        below = part[part["acc_high"] < 0.5]
        cells = [f"{r.task}{'·' + r.format if r.task_type == 'closed' else ''} {r.accuracy:.2f} "
                 f"[{r.acc_low:.2f}, {r.acc_high:.2f}]" for r in part.itertuples()]
        h2.append(f"`{model}`: pairwise accuracy above chance on {len(above)} of {len(part)} cells, below chance on "
                  f"{len(below)} ({'; '.join(cells)}). ")
        closed = part[part["task_type"] == "closed"]
        if len(closed) and "prefers_affirmative" in closed:
            h2.append(f"On BoolQ it rewards the affirmative answer higher on {closed['prefers_affirmative'].mean():.0%} "
                      f"of items (gold answer affirmative: {closed['gold_affirmative'].mean():.0%}). ")
    return "".join(h2)


def _h3(shapes: pd.DataFrame, alpha: float) -> str:
    h3 = ["**H3 (Song et al.'s remedy: with the prompt-aware utility, closed-ended rewards are polarised "
          "while open-ended ones stay continuous, so the two shapes differ).** "]
    aware = shapes[shapes["utility"] == "prompt_aware"]
    if aware.empty:
        h3.append("Not testable on this run: no prompt-aware reward model was trained.")
    else:
        for model, part in aware.groupby("reward_model", sort=False):
            polarised = part[part["dip_closed_p"] < alpha]
            open_uni = bool((part["dip_open_p"] >= alpha).all())
            differ = part[part["shapes_differ"]]
            h3.append(f"`{model}`: closed-ended rewards polarised (dip test) in {len(polarised)} of {len(part)} answer "
                      f"formats; open-ended rewards {'unimodal' if open_uni else 'multimodal'} "
                      f"(dip {_fmt_p(part['dip_open_p'].iloc[0])}); shapes differ (KS on z-scores, permutation p) in "
                      f"{len(differ)} of {len(part)}. ")
            supported = len(polarised) > len(part) / 2 and open_uni and len(differ) > len(part) / 2
            h3.append("Supported on this run. " if supported else "Not supported on this run. ")
        base = shapes[shapes["utility"] != "prompt_aware"]
        for model, part in base.groupby("reward_model", sort=False):
            h3.append(f"For comparison, `{model}`: shapes differ in {int(part['shapes_differ'].sum())} of {len(part)} "
                      f"formats, closed-ended polarised in {int((part['dip_closed_p'] < alpha).sum())}. ")
    return "".join(h3)


def _training(training: pd.DataFrame, training_truth: pd.DataFrame | None) -> str:
    tv = ["**On the training prompts** (the optimum Song et al. analyse): "]
    for model, part in training.groupby("reward_model", sort=False):
        cells = [f"{r.task} ({r.task_type}) {'polarised' if r.polarized else 'unimodal'}, dip {_fmt_p(r.dip_p)}"
                 for r in part.itertuples()]
        tv.append(f"`{model}`: {'; '.join(cells)}. ")
    if training_truth is not None and len(training_truth):
        fits = [f"`{r.reward_model}` {r.task} {r.accuracy:.2f}" for r in training_truth.itertuples()]
        tv.append(f"How well each model fits its training pairs (pairwise accuracy): {', '.join(fits)}; where a "
                  f"model does not fit a dataset, it is not in the regime the theory describes.")
    return "".join(tv)


def _h4(truth: pd.DataFrame, samples: pd.DataFrame, annotated: pd.DataFrame, alpha: float) -> str:
    h4 = ["**H4 (the base model's own answers: rewards separate its correct from its incorrect BoolQ "
          "answers, and agree with people's labels of its open-ended answers).** "]
    closed = samples[samples["task_type"] == "closed"] if len(samples) else samples
    if closed is None or not len(closed):
        h4.append("Not testable on this run: the base model answered no BoolQ items.")
    else:
        for r in closed.itertuples():
            if r.auc != r.auc:
                h4.append(f"`{r.reward_model}`: not testable ({int(r.correct)} correct, {int(r.incorrect)} incorrect, "
                          f"{int(r.unparsed)} unparsed answers; both kinds are needed at least twice). ")
            else:
                significant = r.auc_p < alpha
                verdict = ("separates them" if significant and r.auc > 0.5 else "ranks them the wrong way"
                           if significant and r.auc < 0.5 else "does not detectably separate them")
                h4.append(f"`{r.reward_model}`: AUC {r.auc:.2f} [{r.auc_low:.2f}, {r.auc_high:.2f}] over "
                          f"{int(r.correct)} correct and {int(r.incorrect)} incorrect answers (Mann-Whitney "
                          f"{_fmt_p(r.auc_p)}): it {verdict}. ")
                bias = truth[(truth["reward_model"] == r.reward_model) & (truth["task_type"] == "closed")]
                if len(bias) and "prefers_affirmative" in bias and abs(bias["prefers_affirmative"].mean() - 0.5) > 0.15:
                    h4.append(f"Its BoolQ rewards favour the affirmative answer on {bias['prefers_affirmative'].mean():.0%} "
                              f"of items, so a separation may follow the answer's polarity rather than its "
                              f"correctness. ")
    if annotated is None or not len(annotated) or int(annotated["annotated"].max()) == 0:
        h4.append("No open-ended answer is annotated yet: fill in the exported sheet and run again.")
    else:
        for r in annotated.itertuples():
            h4.append(f"`{r.reward_model}` on {r.annotated} annotated answers: "
                      + (f"AUC {r.auc:.2f} [{r.auc_low:.2f}, {r.auc_high:.2f}], Mann-Whitney {_fmt_p(r.auc_p)}. "
                         if r.auc == r.auc else "too few of each label for an AUC. "))
    return "".join(h4)


def verdicts(polar: pd.DataFrame, truth: pd.DataFrame, shapes: pd.DataFrame, samples: pd.DataFrame,
             annotated: pd.DataFrame, alpha: float = 0.05, training: pd.DataFrame | None = None,
             training_truth: pd.DataFrame | None = None, within: pd.DataFrame | None = None) -> str:
    """The hypotheses' verdicts, in words computed from the tables (markdown). `within`: the
    within-prompt share test (analysis.share_difference_test)."""
    lines = [_h1(polar, truth, shapes), _within(within, truth, alpha), _h2(truth), _h3(shapes, alpha)]
    if training is not None and len(training):
        lines.append(_training(training, training_truth))
    lines.append(_h4(truth, samples, annotated, alpha))
    lines.append("No correction for multiple tests; each cell's n is in the tables above. The verdicts are "
                 "about these reward models on these samples.")
    return "\n\n".join(lines)
