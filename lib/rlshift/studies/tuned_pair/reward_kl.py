"""The RL stage read the way the RLHF literature reads it: reward against KL from the SFT model.

- `trajectory`: the RL run's own log, per step: the reward model's reward of the step's
  replies (before the KL penalty), the KL per reply token, the reply length and the share cut
  off (TRL's RLOO metrics, recorded with the adapter).
- `frontier`: on held-out prompts, each tuned role's own replies: the mean reward by each reading
  (the reward model RL optimised; a held-out judge; DPO's implicit reward) and the KL from SFT
  estimated on those replies, log pi_role(y|x) - log pi_sft(y|x) summed over the reply (its mean
  over samples drawn at temperature 1 is the sequence-level KL, the quantity RLOO penalised).
- `gains`: each stage minus SFT on the same prompts (paired), per reading. Reward hacking shows
  as a gain by the optimised reward model that a held-out reading does not share.
Intervals are percentile bootstraps over prompts; p-values sign-flip permutations, Holm-adjusted
within each reading.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from rlshift import artifacts, stats
from rlshift.training import rl

STAGE_ROLES = {"SFT": "sft", "DPO": "dpo", "RL": "rl"}  # the roles on the frontier (SFT is its origin)


def trajectory(folder: Path) -> pd.DataFrame:
    """Per logged RL step: reward, kl (per token), kl_per_reply (kl x mean length), length, cut_off."""
    log = artifacts.training_log(folder)
    steps = log[log["reward"].notna()] if "reward" in log else log.iloc[:0]
    table = pd.DataFrame({"step": steps["step"].to_numpy(), **rl.trajectory(steps.to_dict("records"))})
    return table.assign(kl_per_reply=table["kl"] * table["length"])


def trend(trajectory: pd.DataFrame, column: str = "reward") -> dict:
    """The least-squares slope of a logged metric against the step, with its 95% interval (steps'
    metrics are means over each step's own fresh replies, so their noise is independent)."""
    if len(trajectory) < 3:
        return {"slope": np.nan, "low": np.nan, "high": np.nan, "p_value": np.nan, "steps": len(trajectory)}
    fit = sps.linregress(trajectory["step"].to_numpy(float), trajectory[column].to_numpy(float))
    half = sps.t.ppf(0.975, len(trajectory) - 2) * fit.stderr
    return {"slope": fit.slope, "low": fit.slope - half, "high": fit.slope + half, "p_value": fit.pvalue,
            "steps": len(trajectory)}



def _own(replies: pd.DataFrame, logp: dict[str, pd.Series], rewards: dict[str, pd.Series]) -> pd.DataFrame:
    """One row per reply of a frontier role: its prompt, role, KL estimate and each reading's reward."""
    keep = replies["role"].isin(STAGE_ROLES.values())
    out = replies.loc[keep, ["item_id", "role"]].copy()
    own = np.array([logp[r].loc[i] if r in logp else np.nan for i, r in zip(out.index, out["role"])], float)
    out["kl_from_sft"] = own - logp["sft"].loc[out.index].to_numpy(float)
    for name, series in rewards.items():
        out[name] = series.loc[out.index].to_numpy(float)
    return out


def frontier(replies: pd.DataFrame, logp: dict[str, pd.Series], rewards: dict[str, pd.Series],
             seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """Per role and reading: the mean reward of the role's own replies and their KL from SFT
    (nats per reply), each with a bootstrap 95% interval over prompts. `replies`: item_id, role
    (one reply per prompt and role); `logp`: each role's summed log-prob of every reply, indexed
    like `replies`; `rewards`: reading name -> reward of every reply, indexed like `replies`."""
    own = _own(replies, logp, rewards)
    rows = []
    for stage, role in STAGE_ROLES.items():
        part = own[own["role"] == role]
        if part.empty:
            continue
        kl, kl_lo, kl_hi = stats.mean_ci(part["kl_from_sft"].to_numpy(), seed, n_resamples)
        for name in rewards:
            r, r_lo, r_hi = stats.mean_ci(part[name].to_numpy(), seed, n_resamples)
            rows.append({"stage": stage, "role": role, "reading": name, "n_prompts": len(part),
                         "kl": kl, "kl_low": kl_lo, "kl_high": kl_hi, "reward": r, "reward_low": r_lo,
                         "reward_high": r_hi})
    return pd.DataFrame(rows)


def gains(replies: pd.DataFrame, logp: dict[str, pd.Series], rewards: dict[str, pd.Series],
          seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """Per stage (DPO, RL) and reading: the stage's reward minus SFT's on the same prompts, in
    units of that reading's spread (its standard deviation over SFT's replies, so readings on
    different scales compare), with a bootstrap 95% interval and a two-sided sign-flip
    permutation p-value over prompts, Holm within each reading (its family: the stages)."""
    own = _own(replies, logp, rewards)
    wide = {name: own.pivot_table(index="item_id", columns="role", values=name) for name in rewards}
    rows = []
    for stage, role in STAGE_ROLES.items():
        if role == "sft":
            continue
        for name, table in wide.items():
            if role not in table or "sft" not in table:
                continue
            scale = float(np.nanstd(table["sft"].to_numpy(float), ddof=1)) or 1.0
            d = ((table[role] - table["sft"]) / scale).dropna().to_numpy(float)
            mean, lo, hi = stats.mean_ci(d, seed, n_resamples)
            p = stats.sign_flip_p(d, "two-sided", seed, n_resamples)
            rows.append({"stage": stage, "reading": name, "n_prompts": len(d), "gain_sd": mean, "ci_low": lo,
                         "ci_high": hi, "p_value": p, "sft_sd": scale})
    out = pd.DataFrame(rows)
    if len(out):  # one family per reading: does it see a gain for DPO, for RL?
        out["p_holm"] = out.groupby("reading", sort=False)["p_value"].transform(lambda p: stats.holm(p.to_numpy()))
    return out
