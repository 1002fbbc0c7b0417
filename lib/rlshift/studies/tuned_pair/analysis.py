"""The tuned-pair chapter's tables, from every role's log-probs and replies."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rlshift import artifacts, models, prompts, stats
from rlshift.studies.tuned_pair.inputs import chat_prompt
from rlshift.training.policy import implicit_reward_accuracy, token_kl


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


def role_tests(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """McNemar's exact test between consecutive roles on 'prefers the chosen reply' (summed)."""
    rows = []
    for a, b in (("base", "sft"), ("sft", "tuned"), ("base", "tuned")):
        if a in scores and b in scores:
            pa = scores[a]["logp_chosen"] > scores[a]["logp_rejected"]
            pb = scores[b]["logp_chosen"] > scores[b]["logp_rejected"]
            rows.append({"from": a, "to": b, "change": pb.mean() - pa.mean(), **stats.mcnemar_test(pa, pb)})
    return pd.DataFrame(rows)


def implicit_reward(scores: dict[str, pd.DataFrame], beta: float) -> pd.DataFrame:
    """The DPO policy's implicit reward against its reference (SFT), and SFT's against the base
    (a reading of how far SFT alone moved toward the preferred replies)."""
    rows = []
    for policy, reference in (("tuned", "sft"), ("sft", "base"), ("tuned", "base")):
        p, r = scores[policy], scores[reference]
        table = pd.DataFrame({"policy_chosen": p["logp_chosen"], "policy_rejected": p["logp_rejected"],
                              "reference_chosen": r["logp_chosen"], "reference_rejected": r["logp_rejected"]})
        rows.append({"policy": policy, "reference": reference, **implicit_reward_accuracy(table, beta)})
    return pd.DataFrame(rows)


def kl_table(loaded: dict[str, models.LoadedModel], replies: dict[str, pd.DataFrame], pairs) -> pd.DataFrame:
    """KL(role || reference) per reply, summed over its tokens, on the role's own samples."""
    tokenizer = prompts.with_chat_template(loaded["base"].tokenizer)
    contexts = {p.pair_id: chat_prompt(tokenizer, p) for p in pairs}
    rows = []
    for policy, reference in (("sft", "base"), ("tuned", "base"), ("tuned", "sft")):
        frame = replies[policy]
        frame = frame[frame["text"].str.strip() != ""]
        kl = token_kl(loaded[policy].model, loaded[reference].model, tokenizer,
                      [contexts[i] for i in frame["item_id"]], list(frame["text"]))
        lo, hi = stats.bootstrap_ci(lambda idx, kl=kl: float(np.mean(kl[idx])), len(kl))
        rows.append({"policy": policy, "reference": reference, "n_replies": len(kl), "kl_mean": float(np.mean(kl)),
                     "kl_low": lo, "kl_high": hi, "kl_median": float(np.median(kl))})
    return pd.DataFrame(rows)


def training_curves(folder: Path, metrics) -> pd.DataFrame:
    """One training stage's per-step log (long format: step, metric, value)."""
    log = artifacts.training_log(folder)
    log = log[log["loss"].notna()] if "loss" in log else log
    present = [m for m in metrics if m in log]
    return log.melt(id_vars=["step"], value_vars=present, var_name="metric").dropna()


