"""The controlled pair's chapter: what SFT and DPO did to the embedded base model.

Training lives in rlshift.tuning (and data/scripts/train_tuned_pair.py); this module evaluates
the three stages (base, SFT, DPO) on data none of them was trained on:

- held-out HH-RLHF pairs (the other half of the fixed split): the DPO policy's implicit reward
  beta * log(pi_dpo / pi_sft) should rank the chosen reply first; and each stage's plain
  likelihood preference (does it give the chosen reply the higher log-prob?);
- BIG-bench hhh_alignment (shipped in data/), never used for training: the same two readings;
- KL of each tuned stage from the base (and DPO from its SFT reference), exact over the
  vocabulary on the stage's own sampled replies to held-out prompts;
- replies before and after each stage.
Every log-prob goes through the shared scoring engine and its cache.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from rlshift import generation, models, paths, preferences, stats, tuning
from rlshift.cache import ScoreCache
from rlshift.errors import InputError
from rlshift.params import Param, Schema
from rlshift.scoring import Request, Scorer

STAGE_NAMES = ("base", "sft", "dpo")
TEMPLATE = "gemma-chat-hh-v1"

def _check_count(name: str, value) -> None:
    if value != "all" and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
        raise InputError(f"{name}={value!r} is not accepted: 'all' or an integer >= 2.")


PARAMS = Schema(
    Param("retrain", bool, False, "Train the adapters afresh (into the cache) instead of loading the committed ones."),
    Param("n_sft", int, tuning.TuneConfig.n_sft, "SFT examples when retraining.", minimum=1),
    Param("n_dpo", int, tuning.TuneConfig.n_dpo, "DPO pairs when retraining.", minimum=1),
    Param("epochs", int, tuning.TuneConfig.epochs, "Epochs per stage when retraining.", minimum=1),
    Param("n_heldout", int, 160, "Held-out HH-RLHF pairs (the eval half) scored by every stage.", minimum=2),
    Param("n_hhh", (int, str), "all", "BIG-bench hhh_alignment pairs scored ('all' or a count).",
          check=lambda v: _check_count("n_hhh", v)),
    Param("n_kl", int, 24, "Held-out prompts whose sampled replies measure KL between stages.", minimum=1),
    Param("n_examples", int, 4, "Held-out prompts whose replies are shown.", minimum=0),
    Param("max_new_tokens", int, 48, "Length of sampled replies.", minimum=1),
    Param("seed", int, 0, "Seeds the held-out sample and the sampling.", minimum=0),
    Param("quantize", str, "fp32", "How the stages are loaded for evaluation.", choices=models.QUANTIZATIONS),
    Param("batch_size", (int, str), "auto", "Scoring batch size or 'auto'."),
    Param("data_mirror", str, None, "Folder holding hh-rlhf/ (else RLSHIFT_DATA_MIRROR, else the hub).", optional=True),
    Param("cache_dir", str, None, "Score cache folder (default: the rlshift cache).", optional=True),
)


def validate(values: dict) -> dict:
    return PARAMS.validate(values)


def stage_specs(P: dict) -> tuple[dict[str, str], tuning.TuneConfig, dict[str, Path]]:
    """The three stages as model specs: the committed adapters (via the registry), or adapters
    retrained now into the cache and merged into local folders."""
    committed = {"base": "embedded:gemma-3-270m", "sft": "embedded:gemma-3-270m-sft",
                 "dpo": "embedded:gemma-3-270m-dpo"}
    if not P["retrain"]:
        config = tuning.TuneConfig(**{k: v for k, v in tuning.record("gemma-3-270m-dpo")["config"].items()
                                      if k != "target_modules"})
        return committed, config, {s: tuning.ADAPTER_DIR / f"gemma-3-270m-{s}" for s in tuning.STAGES}
    config = dataclasses.replace(tuning.TuneConfig(), n_sft=P["n_sft"], n_dpo=P["n_dpo"], epochs=P["epochs"]).check()
    key = hashlib.sha256(repr(dataclasses.asdict(config)).encode()).hexdigest()[:12]
    root = paths.cache_dir() / "adapters" / key
    dirs = {s: root / f"gemma-3-270m-{s}" for s in tuning.STAGES}
    if not all((d / "record.json").exists() for d in dirs.values()):
        tuning.train_pair(config, root, mirror=P["data_mirror"])
    specs = dict(committed)
    base = models.embedded_path("gemma-3-270m")
    for i, stage in enumerate(tuning.STAGES):
        out = root / f"merged-{stage}"
        if not (out / "config.json").exists():
            models.merge_to_folder(base, [dirs[s] for s in tuning.STAGES[:i + 1]], out,
                                   {"retrained": str(root), "stage": stage})
        specs[stage] = str(out)
    return specs, config, dirs


def heldout(config: tuning.TuneConfig, n: int, seed: int, mirror=None) -> tuple[list, dict]:
    tokenizer = tuning.with_chat_template(_base_tokenizer())
    return tuning.select_pairs(tokenizer, "eval", n, dataclasses.replace(config, seed=seed), mirror)


def hhh_pairs(n, seed: int) -> tuple[list, dict]:
    """BIG-bench hhh_alignment, both halves of the fixed split (this chapter trains on neither)."""
    halves = [preferences.load("hhh_alignment", part) for part in preferences.PARTS]
    pool = preferences.PairSet("hhh_alignment", [p for h in halves for p in h.pairs],
                               dict(halves[0].provenance, split="both halves"))
    pool.provenance["pairs"] = len(pool.pairs)
    chosen = preferences.sample(pool, n, seed, what="n_hhh")
    return chosen.pairs, chosen.provenance


def _base_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(models.embedded_path("gemma-3-270m"))


def _messages(pair) -> list[dict]:
    if pair.source == "hh_rlhf":
        return tuning.dialogue_messages(pair.prompt)
    return [{"role": "user", "content": pair.prompt}]


def _chat_prompt(tokenizer, pair) -> str:
    """The pair's history in Gemma's chat format, ending where the model's reply begins."""
    return tokenizer.apply_chat_template(_messages(pair), tokenize=False, add_generation_prompt=True)


def score_pairs(loaded: models.LoadedModel, pairs, data_version: str, cache: ScoreCache | None,
                batch_size="auto") -> pd.DataFrame:
    """Per pair: the stage's summed log-probs of the chosen and the rejected reply, both in
    Gemma's chat format (the same text for every stage, so their differences are log-ratios)."""
    tokenizer = tuning.with_chat_template(loaded.tokenizer)
    requests = [Request(p.pair_id, _chat_prompt(tokenizer, p),
                        (tuning.reply_text(p.chosen), tuning.reply_text(p.rejected))) for p in pairs]
    frame = Scorer(loaded, cache, batch_size=batch_size, progress=False).continuation_logprobs(
        requests, chat=True, template=TEMPLATE, data_version=data_version)
    wide = frame.pivot_table(index="item_id", columns="option_index", values=["logprob", "n_tokens"])
    out = pd.DataFrame({"pair_id": wide.index, "logp_chosen": wide[("logprob", 0)].to_numpy(),
                        "logp_rejected": wide[("logprob", 1)].to_numpy(),
                        "tokens_chosen": wide[("n_tokens", 0)].to_numpy(),
                        "tokens_rejected": wide[("n_tokens", 1)].to_numpy()})
    return out.set_index("pair_id").loc[[p.pair_id for p in pairs]].reset_index()


def likelihood_preference(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per stage: how often the chosen reply gets the higher log-prob, summed and per token."""
    rows = []
    for stage, s in scores.items():
        for reading, a, b in (("sum", s["logp_chosen"], s["logp_rejected"]),
                              ("per token", s["logp_chosen"] / s["tokens_chosen"],
                               s["logp_rejected"] / s["tokens_rejected"])):
            hits = int((a > b).sum())
            lo, hi = stats.wilson(hits, len(s))
            rows.append({"stage": stage, "reading": reading, "n": len(s), "prefers_chosen": hits / len(s),
                         "low": lo, "high": hi})
    return pd.DataFrame(rows)


def stage_tests(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """McNemar's exact test between consecutive stages on 'prefers the chosen reply' (summed)."""
    rows = []
    for a, b in (("base", "sft"), ("sft", "dpo"), ("base", "dpo")):
        if a in scores and b in scores:
            pa = scores[a]["logp_chosen"] > scores[a]["logp_rejected"]
            pb = scores[b]["logp_chosen"] > scores[b]["logp_rejected"]
            rows.append({"from": a, "to": b, "change": pb.mean() - pa.mean(), **stats.mcnemar_test(pa, pb)})
    return pd.DataFrame(rows)


def implicit_reward(scores: dict[str, pd.DataFrame], beta: float) -> pd.DataFrame:
    """The DPO policy's implicit reward against its reference (SFT), and SFT's against the base
    (a reading of how far SFT alone moved toward the preferred replies)."""
    rows = []
    for policy, reference in (("dpo", "sft"), ("sft", "base"), ("dpo", "base")):
        p, r = scores[policy], scores[reference]
        table = pd.DataFrame({"policy_chosen": p["logp_chosen"], "policy_rejected": p["logp_rejected"],
                              "reference_chosen": r["logp_chosen"], "reference_rejected": r["logp_rejected"]})
        rows.append({"policy": policy, "reference": reference, **tuning.implicit_reward_accuracy(table, beta)})
    return pd.DataFrame(rows)


def sample_replies(loaded: models.LoadedModel, pairs, settings: generation.GenerationSettings,
                   data_version: str, cache: ScoreCache | None, chat: bool) -> pd.DataFrame:
    """Replies to held-out prompts: chat format for tuned stages, the HH transcript format
    ('Human: ... Assistant:') for the base, which has never seen a chat template."""
    tokenizer = tuning.with_chat_template(loaded.tokenizer)
    if chat:
        prompts = [(p.pair_id, _chat_prompt(tokenizer, p)) for p in pairs]
    else:
        prompts = [(p.pair_id, f"{p.prompt.strip()}\n\nAssistant:") for p in pairs]
        settings = dataclasses.replace(settings, stop=("\n\nHuman:", "\nHuman:"))
    return generation.generate(loaded, prompts, settings, template=f"{TEMPLATE}-{'chat' if chat else 'hh'}",
                               data_version=data_version, cache=cache, progress=False, chat=chat)


def kl_table(loaded: dict[str, models.LoadedModel], replies: dict[str, pd.DataFrame], pairs) -> pd.DataFrame:
    """KL(stage || reference) per reply, summed over its tokens, on the stage's own samples."""
    tokenizer = tuning.with_chat_template(loaded["base"].tokenizer)
    prompts = {p.pair_id: _chat_prompt(tokenizer, p) for p in pairs}
    rows = []
    for policy, reference in (("sft", "base"), ("dpo", "base"), ("dpo", "sft")):
        frame = replies[policy]
        frame = frame[frame["text"].str.strip() != ""]
        kl = tuning.token_kl(loaded[policy].model, loaded[reference].model, tokenizer,
                             [prompts[i] for i in frame["item_id"]], list(frame["text"]))
        lo, hi = stats.bootstrap_ci(lambda idx, kl=kl: float(np.mean(kl[idx])), len(kl))
        rows.append({"policy": policy, "reference": reference, "n_replies": len(kl), "kl_mean": float(np.mean(kl)),
                     "kl_low": lo, "kl_high": hi, "kl_median": float(np.median(kl))})
    return pd.DataFrame(rows)


def training_curves(folder: Path, metrics) -> pd.DataFrame:
    """One stage's per-step training log (long format: step, metric, value)."""
    log = tuning.training_log(folder)
    log = log[log["loss"].notna()] if "loss" in log else log
    present = [m for m in metrics if m in log]
    return log.melt(id_vars=["step"], value_vars=present, var_name="metric").dropna()


def verdicts(implicit: pd.DataFrame, likelihood_hh: pd.DataFrame, kl: pd.DataFrame) -> str:
    """The chapter's findings, in words computed from the tables (markdown)."""
    dpo = implicit[(implicit["policy"] == "dpo") & (implicit["reference"] == "sft")].iloc[0]
    above = dpo["acc_low"] > 0.5
    below = dpo["acc_high"] < 0.5
    lines = [f"**Did DPO learn the held-out preference?** Its implicit reward ranks the chosen reply first on "
             f"{dpo['accuracy']:.1%} of {int(dpo['n'])} held-out HH-RLHF pairs (95% CI {dpo['acc_low']:.1%} to "
             f"{dpo['acc_high']:.1%}); held-out DPO loss {dpo['dpo_loss']:.3f} vs log 2 = {np.log(2):.3f} at the "
             f"start. " + ("Above chance: the preference generalised beyond the training prompts."
                          if above else "Below chance." if below else
                          "Not distinguishable from chance: on held-out prompts the preference did not "
                          "generalise at this scale.")]
    summed = likelihood_hh[likelihood_hh["reading"] == "sum"].set_index("stage")["prefers_chosen"]
    lines.append("**Stage by stage.** The share of held-out pairs whose chosen reply the stage finds more "
                 "likely: " + ", ".join(f"{s} {v:.1%}" for s, v in summed.items()) + ".")
    k = kl.set_index(["policy", "reference"])["kl_mean"]
    lines.append(f"**How far each stage moved.** Mean KL per sampled reply (nats): SFT from base "
                 f"{k.get(('sft', 'base'), np.nan):.2f}, DPO from base {k.get(('dpo', 'base'), np.nan):.2f}, "
                 f"DPO from its SFT reference {k.get(('dpo', 'sft'), np.nan):.2f}: most of the distance from the "
                 f"base is the " + ("SFT stage's" if k.get(('sft', 'base'), 0) > k.get(('dpo', 'sft'), 0)
                                    else "DPO stage's") + ".")
    return "\n\n".join(lines)
