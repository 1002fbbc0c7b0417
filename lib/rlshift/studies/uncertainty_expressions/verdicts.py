"""The chapter's verdicts, in words computed from its tables."""
from __future__ import annotations

import pandas as pd

from rlshift.studies.uncertainty_expressions.inputs import LEVELS, ROLES


def _fmt(x, lo, hi, digits=3) -> str:
    return f"{x:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _sig(low: float, high: float) -> int:
    """+1 if an interval lies above 0, -1 if below, 0 if it covers 0."""
    return 1 if low > 0 else -1 if high < 0 else 0


def verdicts(overall_t: pd.DataFrame, comparisons: list[dict], levels_t: pd.DataFrame,
             changes_t: pd.DataFrame, words_t: pd.DataFrame, temps_t: pd.DataFrame,
             interp_t: pd.DataFrame | None = None, interp_cmp: list[dict] | None = None,
             alpha: float = 0.05) -> str:
    """The hypotheses' verdicts in words, computed from the tables (markdown)."""
    lines, h1 = [], []
    for mset, table in overall_t.groupby("message_set", sort=False):
        t = table.set_index("source")
        blind, floor = t.loc["state_blind"], t.loc["people_resampled"]
        for role in ROLES:
            row = t.loc[role]
            tracks = row["r_low"] > 0
            beats = row["jsd_high"] < blind["jsd_low"]
            word = ("matches people within sampling noise" if tracks and beats and row["jsd_low"] <= floor["jsd_high"]
                    else "tracks people" if tracks and beats
                    else "follows the states, but less well than ignoring them" if tracks
                    else "does not track people")
            h1.append(f"{mset}, {role}: JSD {_fmt(row['jsd'], row['jsd_low'], row['jsd_high'])} (state-blind "
                      f"baseline {blind['jsd']:.3f}, sampling floor {floor['jsd']:.3f}), pooled r "
                      f"{_fmt(row['r'], row['r_low'], row['r_high'], 2)}: **{word}**")
    lines.append("**H1 (a model aligned with people gives the expressions people's probabilities in each "
                 "context).** A model tracks people when its pooled correlation's interval lies above 0 and "
                 "its JSD's interval lies below that of the state-blind baseline (people's overall mix of "
                 "messages, whatever the state); it matches them when its JSD also reaches the sampling "
                 "floor. " + "; ".join(h1) + ".")
    h2 = []
    for c in comparisons:
        sig = c["p_boot"] < alpha and c["p_states"] < alpha
        side = "closer to" if c["difference"] < 0 else "further from"
        h2.append(f"{c['message_set']}: tuned minus base JSD {_fmt(c['difference'], c['low'], c['high'])} "
                  f"(bootstrap p = {c['p_boot']:.3f}; permutation over {c['n_states']} states p = "
                  f"{c['p_states']:.3f}; tuned closer in {c['states_a_closer']} of {c['n_states']} states): "
                  + (f"**the tuned model is {side} people**" if sig else "**no reliable difference**"))
    lines.append("**H2 (base and tuned models differ in how close they are to people).** Called only when "
                 f"both tests agree at alpha = {alpha}. " + "; ".join(h2) + ".")
    if not changes_t.empty:
        q3 = []
        for mset, table in levels_t.groupby("message_set", sort=False):
            ent = table.pivot_table(index="source", columns="uncertainty", values="entropy")
            ent = ent[[lv for lv in LEVELS if lv in ent.columns]]
            parts = [f"entropy (bits, {'/'.join(ent.columns)}): " + ", ".join(
                f"{src} " + "/".join(f"{v:.2f}" for v in ent.loc[src]) for src in ["people", *ROLES])]
            for _, row in changes_t[changes_t["message_set"] == mset].iterrows():
                word = {1: "further from people under high than under no higher-order uncertainty",
                        -1: "closer to people under high than under no higher-order uncertainty",
                        0: "no reliable change in JSD between none and high"}[_sig(row["low"], row["high"])]
                parts.append(f"{row['source']}: {word} ({_fmt(row['difference'], row['low'], row['high'])})")
            q3.append(f"{mset}: " + "; ".join(parts))
        lines.append("**Q3 (higher-order uncertainty).** If entropy rises from none to high, the speaker "
                     "hedges more when fewer balls were seen. " + " | ".join(q3) + ".")
    if interp_t is not None and not interp_t.empty:
        parts = []
        for _, row in interp_t.iterrows():
            order = {1: "orders the messages as people do", -1: "orders them against people",
                     0: "no reliable order"}[_sig(row["r_low"], row["r_high"])]
            if row["spread_mean_red"] < 0.2 * row["people_spread_mean_red"]:
                order = f"reads every message about alike ({order}, on a tiny spread)"
            parts.append(f"{row['message_set']}, {row['source']}: JSD {_fmt(row['jsd'], row['jsd_low'], row['jsd_high'])}, "
                         f"r of the mean number of red balls across messages "
                         f"{_fmt(row['r_mean_red'], row['r_low'], row['r_high'], 2)} (its means span "
                         f"{row['spread_mean_red']:.1f} balls, people's {row['people_spread_mean_red']:.1f}): {order}")
        for c in interp_cmp or []:
            parts.append(f"{c['message_set']}: tuned minus base JSD {_fmt(c['difference'], c['low'], c['high'])} "
                         f"(bootstrap p = {c['p_boot']:.3f})")
        lines.append("**Beyond: interpretation.** Given a message, does the model infer the number of red "
                     "balls as people do? " + "; ".join(parts) + ".")
    w = []
    temps = temps_t.set_index(["message_set", "source"])["fitted_T"]
    for mset, table in words_t.groupby("message_set", sort=False):
        t = table.set_index("source")
        for role in ROLES:
            row = t.loc[role]
            follow = {1: "swing further with the evidence than people's",
                      -1: "follow the evidence less than people's",
                      0: "follow the evidence as much as people's"}[_sig(row["slope_vs_low"], row["slope_vs_high"])]
            text = (f"{mset}, {role}: slope {_fmt(row['slope'], row['slope_low'], row['slope_high'], 2)} vs "
                    f"people's {t.loc['people', 'slope']:.2f}: its words **{follow}**")
            if "certain_vs_low" in row and not pd.isna(row.get("certain_vs_low")):
                certain = {1: "more often than people", -1: "less often than people",
                           0: "about as often as people"}[_sig(row["certain_vs_low"], row["certain_vs_high"])]
                text += (f"; it says *certainly (not)* with probability {row['certain_share']:.2f} vs "
                         f"people's {t.loc['people', 'certain_share']:.2f}: **{certain}**")
            w.append(text + f"; fitted T = {temps[(mset, role)]:.2f}")
    lines.append("**Beyond: overconfident in words?** The slope is that of the probability conveyed in "
                 "words on the Bayesian probability across states: above people's, the model's words swing "
                 "further with the evidence than people's; below, they barely follow it. Saying *certainly* "
                 "more often than people, when no state makes the colour certain, is overconfidence in "
                 "words. T > 1: people's choices are fitted better by a flatter version of the model's "
                 "distribution (the model is too sure of its words, or sure of the wrong ones); T < 1: by "
                 "a sharper one (T is searched in 0.05..20). " + "; ".join(w) + ".")
    lines.append("These verdicts are about the pair that ran; where its two models differ in family or size "
                 "(as the embedded-families pair does), a difference is not RL's alone.")
    return "\n\n".join(lines)
