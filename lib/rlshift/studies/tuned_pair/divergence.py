"""How far each stage moved: KL tables on one common pool of replies (from inputs.divergences:
one row per reply x divergence), with bootstrap intervals and paired tests over prompts.

Estimator: for a reply y to prompt x and two readings p, q (a role reading x in a format),
D(p||q; y) = sum over y's content tokens of KL(p(.|x_p, y<t) || q(.|x_q, y<t)), exact over the
vocabulary. Two averages of it over the same pool:
- `pool`: over every reply of the pool (one per prompt from each role, each in the format it is
  used in, sampled at temperature 1): the same replies for every divergence, so every row is
  comparable with every other; it is E_m[D], m the equal mixture of the roles' replies;
- `own`: over the policy's own replies only (where the policy reading is one of the pool's
  samplers): the chain rule makes this an unbiased estimate of the KL between the policy's and
  the reference's distributions over reply content, KL(p||q) itself.
Both are averaged per prompt first; intervals are percentile bootstraps over prompts."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from rlshift import stats
from rlshift.studies.tuned_pair.inputs import DIVERGENCES, SAMPLERS

# The paired comparisons behind "most of the distance is SFT's": (name, a, b, which average).
COMPARISONS = (
    ("SFT | chat > DPO | chat (pool)", "SFT | chat", "DPO | chat", "pool"),
    ("SFT | chat > DPO | chat (own replies)", "SFT | chat", "DPO | chat", "own"),
    ("SFT | raw > DPO | raw (pool)", "SFT | raw", "DPO | raw", "pool"),
    ("SFT + format > DPO | chat (pool)", "SFT + format (each as used)", "DPO | chat", "pool"),
)


def _own(frame: pd.DataFrame) -> pd.Series:
    """Whether the row's reply was sampled by its policy reading (role and format)."""
    role = frame["policy"].str.split("-").str[0]
    fmt = frame["policy"].str.split("-").str[1]
    return (frame["sampler"] == role) & (role.map(SAMPLERS) == fmt)


def per_prompt(div: pd.DataFrame, average: str) -> pd.DataFrame:
    """[prompt x contrast] mean divergence over the pool's replies ('pool') or the policy's own ('own')."""
    part = div if average == "pool" else div[_own(div)]
    return part.pivot_table(index="item_id", columns="contrast", values="kl", aggfunc="mean")



def kl_table(div: pd.DataFrame, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """Per divergence: its mean over the pool and over the policy's own replies (nats per
    reply), each with a bootstrap 95% interval over prompts."""
    tables = {a: per_prompt(div, a) for a in ("pool", "own")}
    rows = []
    for policy, reference, what in DIVERGENCES:
        row = {"contrast": what, "policy": policy, "reference": reference}
        for average, t in tables.items():
            x = t[what].to_numpy(float) if what in t else np.array([])
            mean, lo, hi = stats.mean_ci(x, seed, n_resamples)
            row.update({f"kl_{average}": mean, f"{average}_low": lo, f"{average}_high": hi})
        part = div[div["contrast"] == what]
        row.update({"n_prompts": part["item_id"].nunique(), "n_replies": len(part),
                    "irregular_replies": int((~part["regular"]).sum())})
        rows.append(row)
    return pd.DataFrame(rows)


def kl_tests(div: pd.DataFrame, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """Paired by prompt: is the first divergence larger than the second? Mean difference with a
    bootstrap 95% interval, a one-sided sign-flip permutation p-value, Holm over the rows."""
    tables = {a: per_prompt(div, a) for a in ("pool", "own")}
    rows = []
    for name, a, b, average in COMPARISONS:
        t = tables[average]
        if a not in t or b not in t:
            continue
        d = (t[a] - t[b]).dropna().to_numpy(float)
        mean, lo, hi = stats.mean_ci(d, seed, n_resamples)
        p = stats.sign_flip_p(d, "greater", seed, n_resamples)
        rows.append({"comparison": name, "first": a, "second": b, "average": average, "n_prompts": len(d),
                     "difference": mean, "ci_low": lo, "ci_high": hi, "p_greater": p})
    out = pd.DataFrame(rows)
    if len(out):
        out["p_holm"] = stats.holm(out["p_greater"])
    return out


def format_table(div: pd.DataFrame, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """How much of a stage's KL from the base is the format, two ways, on the pool (ratios of
    means over prompts, bootstrap 95% intervals over prompts):
    - `format_share` = 1 - D(stage-chat || base-raw) / D(stage-chat || base-chat): what goes when
      the base reads the prompt in its own transcript instead of the template it never saw
      (negative: the base's own format is further from the stage);
    - `chat_specific` = 1 - D(stage-raw || base-raw) / D(stage-chat || base-chat): the share of
      the KL measured in the chat template that is absent where both read the base's own
      transcript (the format x tuning interaction, as a share)."""
    t = per_prompt(div, "pool")
    rows = []
    for stage in ("SFT", "SFT + DPO", "SFT + RL"):
        chat, mixed, raw = f"{stage} | chat", f"{stage} + format (each as used)", f"{stage} | raw"
        if not {chat, mixed, raw} <= set(t):
            continue
        c, m, r = (t[k].to_numpy(float) for k in (chat, mixed, raw))
        row = {"stage": stage, "kl_chat": float(c.mean()), "kl_stage_chat_base_raw": float(m.mean()),
               "kl_raw": float(r.mean()), "n_prompts": len(c)}
        for name, other in (("format_share", m), ("chat_specific", r)):
            def share(idx, other=other):
                return float(1 - other[idx].mean() / c[idx].mean())

            lo, hi = stats.bootstrap_ci(share, len(c), seed, n_resamples) if len(c) >= 2 else (np.nan, np.nan)
            row.update({name: share(np.arange(len(c))), f"{name}_low": lo, f"{name}_high": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def reply_lengths(pool: pd.DataFrame, chosen_tokens: Sequence[int] = (),
                  max_new_tokens: int | None = None) -> pd.DataFrame:
    """Per role of the pool: its format, reply length in generated tokens (the end token counted),
    empty replies, and the share that ended before the token limit (by the model's end token,
    or by the raw format's next 'Human:' turn) with its 95% Wilson interval: a reply cut off by
    the limit is unfinished. A last row reads the same prompts' preferred HH replies
    (`chosen_tokens`, each with its end token) against the limit: the share a model imitating
    them could finish."""
    def row(role, fmt, tokens, ended, empty=None, eos=None, turn=None):
        lo, hi = stats.wilson(int(ended), len(tokens))
        return {"role": role, "format": fmt, "replies": len(tokens), "mean tokens": float(np.mean(tokens)),
                "median tokens": float(np.median(tokens)), "empty replies": empty, "ended": ended / len(tokens),
                "ended_low": lo, "ended_high": hi, "by end token": eos, "by next turn": turn}

    rows = [row(role, part["format"].iloc[0], part["n_generated"].to_numpy(), int((part["end"] != "limit").sum()),
                int((part["text"].str.strip() == "").sum()), int((part["end"] == "eos").sum()),
                int((part["end"] == "stop").sum()))
            for role, part in pool.groupby("role", sort=False)]
    if len(chosen_tokens) and max_new_tokens:
        tokens = np.asarray(chosen_tokens)
        rows.append(row("chosen (HH)", "-", tokens, int((tokens <= max_new_tokens).sum())))
    return pd.DataFrame(rows)
