"""The tuned-pair chapter's tables on held-out pairs (likelihood preference in both formats,
the DPO implicit reward, the format x tuning contrasts) and the judge's win rates: pure
functions of score tables (the KL tables are in `divergence`, the seed recipe in `recipe`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rlshift import artifacts, stats
from rlshift.studies.common import tuning_rows
from rlshift.training.policy import implicit_reward_accuracy

STAGES = {"SFT": ("base", "sft"), "DPO": ("sft", "dpo"), "SFT + DPO": ("base", "dpo"),
          "RL": ("sft", "rl"), "SFT + RL": ("base", "rl")}  # the RL rows where the rl role is run


def likelihood_preference(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per role: how often the chosen reply gets the higher log-prob, summed and per token."""
    rows = []
    for role, s in scores.items():
        for reading, a, b in (("sum", s["logp_chosen"], s["logp_rejected"]),
                              ("per token", s["logp_chosen"] / s["tokens_chosen"],
                               s["logp_rejected"] / s["tokens_rejected"])):
            hits = int((a > b).sum())
            lo, hi = stats.wilson(hits, len(s))
            rows.append({"role": role, "reading": reading, "n": len(s), "prefers_chosen": hits / len(s),
                         "low": lo, "high": hi})
    return pd.DataFrame(rows)


def preference_by_format(scores: dict[str, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """likelihood_preference for each format (scores[format][role])."""
    return pd.concat([likelihood_preference(s).assign(format=fmt) for fmt, s in scores.items()], ignore_index=True)


def prefers_chosen(s: pd.DataFrame) -> np.ndarray:
    return (s["logp_chosen"] > s["logp_rejected"]).to_numpy(float)


def role_tests(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """McNemar's exact test between consecutive roles on 'prefers the chosen reply' (summed)."""
    rows = []
    for a, b in STAGES.values():
        if a in scores and b in scores:
            pa, pb = prefers_chosen(scores[a]).astype(bool), prefers_chosen(scores[b]).astype(bool)
            rows.append({"from": a, "to": b, "change": pb.mean() - pa.mean(), **stats.mcnemar_test(pa, pb)})
    return pd.DataFrame(rows)


def preference_contrasts(scores: dict[str, dict[str, pd.DataFrame]], seed: int = 0,
                         n_resamples: int = 2000) -> pd.DataFrame:
    """The 2x2 of format x tuning for each stage, on the share preferring the chosen reply
    (summed log-prob): the stage's effect within each format, the format's within each role,
    their interaction and the confounded contrast (stats.factorial_contrasts, paired bootstrap
    over pairs); p-values Holm-adjusted over every row of the table."""
    rows = []
    for stage, (a, b) in STAGES.items():
        if not all(role in scores[fmt] for role in (a, b) for fmt in ("raw", "chat")):
            continue
        cells = {(role, fmt): prefers_chosen(scores[fmt][role]) for role in (a, b) for fmt in ("raw", "chat")}
        for row in stats.factorial_contrasts(np.mean, cells, roles=(a, b), seed=seed, n_resamples=n_resamples):
            rows.append({"stage": stage, **row})
    out = pd.DataFrame(rows)
    out["p_holm"] = stats.holm(out["p_value"])
    return out


def implicit_reward(scores: dict[str, pd.DataFrame], beta: float, rl_beta: float | None = None) -> pd.DataFrame:
    """The DPO policy's implicit reward against its reference (SFT), and SFT's against the base
    (a reading of how far SFT alone moved toward the preferred replies). Where the RL stage is
    run, its log-ratio to SFT too: the KL-regularised objective it optimises has the same optimum,
    reward = rl_beta * log(pi_rl / pi_sft) + a prompt's constant (Rafailov et al. 2023), so the
    accuracy reads how far RL's own reward carried over to HH's held-out preferences."""
    rows = []
    for policy, reference in (("dpo", "sft"), ("sft", "base"), ("dpo", "base"), ("rl", "sft")):
        if policy not in scores:
            continue
        p, r = scores[policy], scores[reference]
        table = pd.DataFrame({"policy_chosen": p["logp_chosen"], "policy_rejected": p["logp_rejected"],
                              "reference_chosen": r["logp_chosen"], "reference_rejected": r["logp_rejected"]})
        b = rl_beta if policy == "rl" and rl_beta is not None else beta
        rows.append({"policy": policy, "reference": reference, "beta": b, **implicit_reward_accuracy(table, b)})
    return pd.DataFrame(rows)


def training_curves(folder: Path, metrics) -> pd.DataFrame:
    """One training stage's per-step log (long format: step, metric, value)."""
    log = artifacts.training_log(folder)
    log = log[log["loss"].notna()] if "loss" in log else log
    present = [m for m in metrics if m in log]
    return log.melt(id_vars=["step"], value_vars=present, var_name="metric").dropna()


# ------------------------------------------------------------------ the judge

def _share(hits: float, n: int) -> dict:
    lo, hi = stats.wilson(hits, n)
    return {"n": n, "rate": hits / n if n else np.nan, "low": lo, "high": hi}


def judge_accuracy(pair_rewards: pd.DataFrame) -> pd.DataFrame:
    """The judge's pairwise accuracy on held-out HH-RLHF pairs (chosen rewarded above rejected;
    a tie counts half), Wilson 95% interval."""
    wins = (pair_rewards["r_chosen"] > pair_rewards["r_rejected"]).sum()
    ties = (pair_rewards["r_chosen"] == pair_rewards["r_rejected"]).sum()
    out = _share(float(wins + ties / 2), len(pair_rewards))
    return pd.DataFrame([{"reading": "judge accuracy (chosen > rejected)", **out, "ties": int(ties)}])


def win_outcomes(reply_reward: pd.Series, replies: pd.DataFrame, chosen_reward: pd.Series) -> pd.DataFrame:
    """Per role and prompt: 1 where the role's reply beats the held-out chosen reply, 0.5 on a
    tie, 0 where it loses (replies: item_id, role; chosen_reward indexed by pair id)."""
    r_chosen = replies["item_id"].map(chosen_reward).to_numpy(float)
    r_reply = reply_reward.loc[replies.index].to_numpy(float)
    win = np.where(r_reply > r_chosen, 1.0, np.where(r_reply == r_chosen, 0.5, 0.0))
    return pd.DataFrame({"item_id": replies["item_id"].to_numpy(), "role": replies["role"].to_numpy(),
                         "r_reply": r_reply, "r_chosen": r_chosen, "win": win})


def win_rates(outcomes: pd.DataFrame, reading: str) -> pd.DataFrame:
    """Per role: the share of prompts whose reply beats the chosen reply (ties half; Wilson 95%)."""
    rows = [{"reading": reading, "role": role, **_share(float(part["win"].sum()), len(part)),
             "ties": int((part["win"] == 0.5).sum()), "mean_margin": float((part["r_reply"] - part["r_chosen"]).mean())}
            for role, part in outcomes.groupby("role", sort=False)]
    return pd.DataFrame(rows)


def win_tests(outcomes: pd.DataFrame) -> pd.DataFrame:
    """McNemar's exact test of each stage on 'beats the chosen reply', paired by prompt (ties as
    losses), Holm-adjusted over the stages."""
    wide = outcomes.pivot_table(index="item_id", columns="role", values="win")
    rows = []
    for stage, (a, b) in STAGES.items():
        if a in wide and b in wide:
            pa, pb = (wide[a] == 1).to_numpy(), (wide[b] == 1).to_numpy()
            rows.append({"stage": stage, "from": a, "to": b, "change": pb.mean() - pa.mean(),
                         **stats.mcnemar_test(pa, pb)})
    out = pd.DataFrame(rows)
    if len(out):
        out["p_holm"] = stats.holm(out["p_value"])
    return out


def implicit_outcomes(replies: pd.DataFrame, logp_dpo: pd.Series, logp_sft: pd.Series,
                      chat_scores: dict[str, pd.DataFrame], beta: float) -> pd.DataFrame:
    """The secondary, circular reading: DPO's own implicit reward beta * log(pi_dpo / pi_sft)
    as the judge of every role's reply against the chosen reply (chat format)."""
    t, s = chat_scores["dpo"].set_index("pair_id"), chat_scores["sft"].set_index("pair_id")
    chosen = beta * (t["logp_chosen"] - s["logp_chosen"])
    reward = beta * (logp_dpo - logp_sft)
    return win_outcomes(reward, replies, chosen)


def headline(contrasts: pd.DataFrame, where: str) -> pd.DataFrame:
    """The chapter's headline for the summary page: each stage against the base (SFT; SFT then
    DPO) on the share of held-out pairs whose chosen reply the role finds likelier, per format."""
    parts = [tuning_rows(contrasts[contrasts["stage"] == stage], later)
             for stage, later in (("SFT", "sft"), ("SFT + DPO", "dpo"), ("SFT + RL", "rl"))
             if (contrasts["stage"] == stage).any()]
    return pd.concat(parts, ignore_index=True).assign(
        measure="prefers the chosen reply (summed log-prob)", where=where, unit="share of pairs")
