"""The tuned-pair chapter's findings, in words computed from its tables (each a function with a
branch per outcome, so every sentence the chapter prints can be tested on a constructed table)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from rlshift.studies.tuned_pair.reward_kl import trend

ALPHA = 0.05


def _pct(x: float) -> str:
    return f"{x:.1%}"


def dpo_preference(implicit: pd.DataFrame) -> str:
    """Did DPO's implicit reward learn the held-out preference (chat format, HH-RLHF rows)?"""
    dpo = implicit[(implicit["policy"] == "dpo") & (implicit["reference"] == "sft")].iloc[0]
    head = (f"**Did DPO learn the held-out preference?** Its implicit reward ranks the chosen reply first on "
            f"{_pct(dpo['accuracy'])} of {int(dpo['n'])} held-out HH-RLHF pairs (95% CI {_pct(dpo['acc_low'])} to "
            f"{_pct(dpo['acc_high'])}); held-out DPO loss {dpo['dpo_loss']:.3f} vs log 2 = {np.log(2):.3f} at the "
            f"start. ")
    if dpo["acc_low"] > 0.5:
        return head + "Above chance: the preference generalised beyond the training prompts."
    if dpo["acc_high"] < 0.5:
        return head + "Below chance: on held-out prompts the implicit reward prefers the rejected reply."
    return head + ("Not distinguishable from chance: on held-out prompts the preference did not generalise at "
                   "this scale.")


def stage_by_stage(like: pd.DataFrame, contrasts: pd.DataFrame, alpha: float = ALPHA) -> str:
    """Each role's likelihood preference in each format, and each stage's effect within a format."""
    summed = like[like["reading"] == "sum"]
    parts = []
    for fmt, part in summed.groupby("format", sort=False):
        parts.append(f"in the {fmt} format " + ", ".join(f"{r.role} {_pct(r.prefers_chosen)}"
                                                          for r in part.itertuples()))
    text = ("**Stage by stage.** The share of held-out pairs whose chosen reply the role finds more likely: "
            + "; ".join(parts) + ".")
    moved = []
    for stage in [s for s in dict.fromkeys(contrasts["stage"]) if s in ("SFT", "DPO", "RL")]:
        rows = contrasts[(contrasts["stage"] == stage) & contrasts["contrast"].str.startswith("tuning |")]
        for r in rows.itertuples():
            fmt = r.contrast.split("| ")[1]
            verdict = ("a change" if r.p_holm < alpha else "no change distinguishable from none")
            moved.append(f"{stage} in the {fmt} format {r.estimate:+.1%} (95% CI {r.ci_low:+.1%} to "
                         f"{r.ci_high:+.1%}, Holm p = {r.p_holm:.3f}: {verdict})")
    if moved:
        text += " Each stage's effect within one format (the 2x2): " + "; ".join(moved) + "."
    return text


def distance(kl: pd.DataFrame, tests: pd.DataFrame, alpha: float = ALPHA) -> str:
    """How far each stage moved, and whether SFT moved further than DPO (paired over prompts)."""
    k = kl.set_index("contrast")
    sft, dpo, total = (k.loc[c] for c in ("SFT | chat", "DPO | chat", "SFT + DPO | chat"))
    text = (f"**How far each stage moved.** On one pool of {int(sft['n_replies'])} replies to {int(sft['n_prompts'])} "
            f"held-out prompts, read by every role in the chat template, the token-level KL summed over a reply "
            f"(nats) is: SFT from the base {sft['kl_pool']:.2f} (95% CI {sft['pool_low']:.2f} to "
            f"{sft['pool_high']:.2f}), DPO from SFT {dpo['kl_pool']:.2f} ({dpo['pool_low']:.2f} to "
            f"{dpo['pool_high']:.2f}), SFT + DPO from the base {total['kl_pool']:.2f}. ")
    main = tests.set_index("comparison").loc["SFT | chat > DPO | chat (pool)"]
    result = (f"SFT minus DPO, paired by prompt: {main['difference']:+.2f} (95% CI {main['ci_low']:+.2f} to "
              f"{main['ci_high']:+.2f}; one-sided Holm p = {main['p_holm']:.3f}). ")
    if main["p_holm"] < alpha and main["difference"] > 0:
        text += result + "Most of the distance from the base is the SFT stage's."
    elif main["ci_high"] < 0:
        text += result + "DPO moved further from SFT than SFT moved from the base."
    else:
        text += result + (f"With {int(main['n_prompts'])} prompts the two stages' distances are not "
                          f"distinguishable: this run does not show which stage moved further.")
    own = tests[tests["comparison"] == "SFT | chat > DPO | chat (own replies)"]
    if len(own) and not np.isnan(own["difference"].iloc[0]):
        o = own.iloc[0]
        agree = np.sign(o["difference"]) == np.sign(main["difference"])
        text += (f" On each policy's own replies (the KL itself) the difference is {o['difference']:+.2f} "
                 f"(Holm p = {o['p_holm']:.3f}), " + ("the same direction." if agree else "the other direction."))
    return text


def format_part(fmt: pd.DataFrame) -> str:
    """How much of SFT's KL from the base is the format: where both read the base's own
    transcript instead of the template (chat_specific), and where only the base does (format_share)."""
    r = fmt.set_index("stage").loc["SFT"]
    text = (f"**How much of it is the format.** SFT's KL from the base, both reading the chat template: "
            f"{r['kl_chat']:.2f} nats per reply; both reading HH's own transcript: {r['kl_raw']:.2f}; SFT in the "
            f"template vs the base in its transcript (each as used): {r['kl_stage_chat_base_raw']:.2f}. ")
    ci = f"{r['chat_specific']:.0%} (95% CI {r['chat_specific_low']:.0%} to {r['chat_specific_high']:.0%})"
    if r["chat_specific_low"] > 0:
        text += f"So {ci} of the KL measured in the chat template is specific to that format: the tuning and the "
        text += "template it taught interact, and the tuning alone, read in the base's own format, moved less. "
    elif r["chat_specific_high"] < 0:
        text += f"The tuning moved the base's own format further than the template ({ci} chat-specific share). "
    else:
        text += f"The share specific to the chat template, {ci}, is not distinguishable from none. "
    ci = f"{r['format_share']:.0%} (95% CI {r['format_share_low']:.0%} to {r['format_share_high']:.0%})"
    if r["format_share_low"] > 0:
        return text + (f"Letting the base read its own format brings it closer to SFT by {ci}: that part is the "
                       f"base's unfamiliarity with the template, not the tuning.")
    if r["format_share_high"] < 0:
        grows = (f"{-r['format_share']:.0%} (95% CI {-r['format_share_high']:.0%} to "
                 f"{-r['format_share_low']:.0%})")
        return text + (f"Letting the base read its own format does not bring it closer to SFT (the KL grows by "
                       f"{grows}): the KL is not the base's unfamiliarity with the template.")
    return text + f"Letting the base read its own format changes the KL by {ci}, not distinguishable from none."


def judge_state(acc: pd.DataFrame | None) -> str:
    """'none', 'chance' (interval includes 50%), 'inverted' (below) or 'informative' (above)."""
    if acc is None or not len(acc):
        return "none"
    row = acc.iloc[0]
    if row["low"] > 0.5:
        return "informative"
    return "inverted" if row["high"] < 0.5 else "chance"


def judged(acc: pd.DataFrame | None, rates: pd.DataFrame | None, judge: str) -> str:
    """The win rates against the chosen reply, read through the judge's own accuracy."""
    state = judge_state(acc)
    if state == "none":
        return "**Win rate.** No judge was run (judge = 'none')."
    a = acc.iloc[0]
    head = (f"**Win rate against the chosen reply**, judged by `{judge}`, whose own accuracy on {int(a['n'])} "
            f"held-out HH-RLHF pairs is {_pct(a['rate'])} (95% CI {_pct(a['low'])} to {_pct(a['high'])}). ")
    listed = ", ".join(f"{r.role} {_pct(r.rate)} ({_pct(r.low)} to {_pct(r.high)})" for r in rates.itertuples())
    if state == "chance":
        return head + (f"The judge is at chance on the preference it would judge, so its win rates ({listed}) are "
                       f"uninformative: they say nothing about which stage replies better.")
    if state == "inverted":
        return head + (f"The judge prefers the rejected reply more often than the chosen one, so its win rates "
                       f"({listed}) are uninformative.")
    beats = [r.role for r in rates.itertuples() if r.low > 0.5]
    loses = [r.role for r in rates.itertuples() if r.high < 0.5]
    text = head + f"The judge is better than chance, so its win rates can be read: {listed}. "
    text += (f"Above the chosen reply: {', '.join(beats)}. " if beats else "No role beats the chosen reply. ")
    text += (f"Below it: {', '.join(loses)}." if loses else "No role is below it.")
    return text


def verdicts(implicit: pd.DataFrame, likelihood: pd.DataFrame, contrasts: pd.DataFrame, kl: pd.DataFrame,
             tests: pd.DataFrame, fmt: pd.DataFrame, judge_accuracy: pd.DataFrame | None,
             rates: pd.DataFrame | None, judge: str, alpha: float = ALPHA) -> str:
    """The chapter's findings, in words computed from the tables (markdown)."""
    return "\n\n".join([dpo_preference(implicit), stage_by_stage(likelihood, contrasts, alpha),
                        distance(kl, tests, alpha), format_part(fmt), judged(judge_accuracy, rates, judge)])


def endings(lengths: pd.DataFrame) -> str:
    """Do the roles' replies end before the token limit, as often as HH's own replies would fit
    in it (reply_lengths: the last row the chosen replies of the same prompts)?"""
    chosen = lengths[lengths["role"] == "chosen (HH)"]
    roles = lengths[lengths["role"] != "chosen (HH)"]
    parts = [f"{r.role} {_pct(r.ended)} (95% CI {_pct(r.ended_low)} to {_pct(r.ended_high)})"
             for r in roles.itertuples()]
    text = ("**Do replies end?** The share of sampled replies that ended before the token limit: "
            + "; ".join(parts) + ".")
    if chosen.empty:
        return text
    fit = float(chosen["ended"].iloc[0])
    short = [r.role for r in roles.itertuples() if r.ended_high < fit]
    text += f" HH's preferred replies to the same prompts would fit the limit {_pct(fit)} of the time. "
    if short:
        whose = "its" if len(short) == 1 else "their"
        return text + (f"{', '.join(short)} ended less often than that: more of {whose} replies are cut off "
                       f"unfinished, which every reading of replies inherits.")
    return text + "No role ended distinguishably less often than that."


def limits(pair, retrained: bool, records: dict) -> str:
    """The pair's caveat from its catalogue record, and what training recorded."""
    sizes = ", ".join(f"{stage.upper()} on {r['data']['n']} {r['data']['dataset']} "
                      f"{'prompts (its own replies)' if stage == 'rl' else 'examples'} for "
                      f"{r['epochs']} epoch(s) ({r['steps']} steps), {r['wall_seconds'] / 60:.0f} min on {r['device']} "
                      f"({r['threads']} threads)" for stage, r in records.items())
    text = f"**Limits.** Training: {sizes}. "
    if pair is None:
        return text + "These adapters were retrained here; the catalogue holds no record of them."
    return text + (f"From the pair's record (`{pair.name}`, {pair.tuning})" + (", retrained here" if retrained else "")
                   + f": {pair.caveat}")


_STATE = {"informative": "above chance on held-out HH pairs", "chance": "at chance on held-out HH pairs",
          "inverted": "below chance on held-out HH pairs", "none": "its accuracy not measured"}


def _gain(row) -> str:
    return (f"{row['gain_sd']:+.2f} SD (95% CI {row['ci_low']:+.2f} to {row['ci_high']:+.2f}, Holm p = "
            f"{row['p_holm']:.3f})")


def rl_stage(trajectory: pd.DataFrame, frontier: pd.DataFrame, gains: pd.DataFrame, optimised: str,
             held_out: dict[str, str], alpha: float = ALPHA) -> str:
    """What the RL stage did: its training trajectory, its distance from SFT and its reward on
    held-out prompts, and whether the optimised reward model's gain is shared by the held-out
    readings (`held_out`: reading -> judge_state of its own held-out accuracy)."""
    if trajectory.empty or "RL" not in set(gains.get("stage", [])):
        return "**The RL stage.** Not run here (include_rl is false, or the pair was retrained)."
    k = max(1, len(trajectory) // 4)  # a quarter of the run at each end: one step's 16 replies are noisy
    first, last = trajectory.head(k), trajectory.tail(k)
    text = (f"**The RL stage.** Over its {len(trajectory)} steps the optimised reward model's mean reward of the "
            f"step's own replies went from {first['reward'].mean():+.2f} (first {k} steps) to "
            f"{last['reward'].mean():+.2f} (last {k}), while the KL from SFT went to "
            f"{last['kl'].mean():.3f} nats per token ({last['kl_per_reply'].mean():.2f} per reply; training log). ")
    t = trend(trajectory)
    rose = ("rose" if t["low"] > 0 else "fell" if t["high"] < 0 else "shows no trend distinguishable from none")
    text += (f"A line through the {t['steps']} steps' rewards: {t['slope']:+.4f} per step (95% CI {t['low']:+.4f} "
             f"to {t['high']:+.4f}): the optimised reward {rose} during training. ")
    f = frontier[frontier["reading"] == optimised].set_index("stage")
    parts = [f"{s} {f.loc[s, 'kl']:.2f} nats (95% CI {f.loc[s, 'kl_low']:.2f} to {f.loc[s, 'kl_high']:.2f})"
             for s in ("DPO", "RL") if s in f.index]
    text += (f"On {int(f['n_prompts'].max())} held-out prompts, the KL from SFT estimated on each stage's own "
             f"replies: " + ", ".join(parts) + ". ")
    g = gains.set_index(["stage", "reading"])
    for stage in [s for s in ("RL", "DPO") if (s, optimised) in g.index]:
        opt = g.loc[(stage, optimised)]
        text += f"\n\n*{stage} minus SFT* by `{optimised}`, the reward model RL optimised: {_gain(opt)}. "
        if not (opt["p_holm"] < alpha and opt["gain_sd"] > 0):
            text += ("Not a gain distinguishable from none on held-out prompts, so there is no gain for a held-out "
                     "judge to confirm or deny.")
            continue
        read = [(name, state, g.loc[(stage, name)]) for name, state in held_out.items() if (stage, name) in g.index]
        informative = [(n, r) for n, s, r in read if s == "informative"]
        text += " ".join(f"By `{n}` ({_STATE[s]}): {_gain(r)}." for n, s, r in read) + " "
        if not informative:
            text += ("No held-out reading is better than chance at HH's preferences here, so a real gain cannot be "
                     "told apart from reward hacking at this size.")
        elif any(r["p_holm"] < alpha and r["gain_sd"] > 0 for _, r in informative):
            text += "An informative held-out reading shares the gain: no sign of reward hacking at this size."
        elif any(r["ci_high"] < 0 for _, r in informative):
            text += ("An informative held-out reading rates these replies *worse* than SFT's while the optimised "
                     "reward model rates them better: reward hacking.")
        else:
            text += ("The informative held-out readings do not share the gain (no change distinguishable from none): "
                     "the pattern reward hacking predicts, though with this many prompts a smaller real gain is not "
                     "ruled out.")
    return text
