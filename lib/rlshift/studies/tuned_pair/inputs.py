"""The tuned-pair chapter's inputs: the three roles as model specs (committed or retrained
adapters), the held-out pairs, every role's log-probs of their replies, and sampled replies."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pandas as pd

from rlshift import artifacts, models, paths, prompts
from rlshift.cache import ScoreCache
from rlshift.data import preferences
from rlshift.engine import GenerationSettings, Scorer
from rlshift.requests import Request, Text
from rlshift.training import policy

TEMPLATE = "gemma-chat-hh-v1"


def role_specs(P: dict) -> tuple[dict[str, str], policy.TuneConfig, dict[str, Path]]:
    """The pair's roles (base, SFT, tuned = SFT + DPO) as model specs, the training
    configuration, and each training stage's adapter folder: the committed adapters (via the
    catalogue), or adapters retrained now into the cache and merged into local folders."""
    committed = {"base": "embedded:gemma-3-270m", "sft": "embedded:gemma-3-270m-sft",
                 "tuned": "embedded:gemma-3-270m-dpo"}
    if not P["retrain"]:
        config = policy.TuneConfig(**{k: v for k, v in artifacts.training_record("gemma-3-270m-dpo")["config"].items()
                                      if k != "target_modules"})
        return committed, config, {s: artifacts.ADAPTER_DIR / f"gemma-3-270m-{s}" for s in policy.STAGES}
    config = dataclasses.replace(policy.TuneConfig(), n_sft=P["n_sft"], n_dpo=P["n_dpo"], epochs=P["epochs"]).check()
    key = hashlib.sha256(repr(dataclasses.asdict(config)).encode()).hexdigest()[:12]
    root = paths.cache_dir() / "adapters" / key
    dirs = {s: root / f"gemma-3-270m-{s}" for s in policy.STAGES}
    if not all((d / "record.json").exists() for d in dirs.values()):
        policy.train_pair(config, root, mirror=P["data_mirror"])
    specs = dict(committed)
    base = models.embedded_path("gemma-3-270m")
    for i, (stage, role) in enumerate(zip(policy.STAGES, ("sft", "tuned"))):
        out = root / f"merged-{stage}"
        if not (out / "config.json").exists():
            models.merge_to_folder(base, [dirs[s] for s in policy.STAGES[:i + 1]], out,
                                   {"retrained": str(root), "stage": stage})
        specs[role] = str(out)
    return specs, config, dirs


def heldout(config: policy.TuneConfig, n: int, seed: int, mirror=None) -> tuple[list, dict]:
    tokenizer = prompts.with_chat_template(_base_tokenizer())
    return policy.select_pairs(tokenizer, "eval", n, dataclasses.replace(config, seed=seed), mirror)


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
        return prompts.dialogue_messages(pair.prompt)
    return [{"role": "user", "content": pair.prompt}]


def chat_prompt(tokenizer, pair) -> str:
    """The pair's history in Gemma's chat format, ending where the model's reply begins."""
    return prompts.chat_messages(tokenizer, _messages(pair))


def score_pairs(loaded: models.LoadedModel, pairs, data_version: str, cache: ScoreCache | None,
                batch_size="auto") -> pd.DataFrame:
    """Per pair: the role's summed log-probs of the chosen and the rejected reply, both in
    Gemma's chat format (the same text for every role, so their differences are log-ratios)."""
    tokenizer = prompts.with_chat_template(loaded.tokenizer)
    requests = [Request(p.pair_id, chat_prompt(tokenizer, p),
                        (prompts.reply_text(p.chosen), prompts.reply_text(p.rejected))) for p in pairs]
    frame = Scorer(loaded, cache, batch_size=batch_size, progress=False).continuation_logprobs(
        requests, chat=True, template=TEMPLATE, data_version=data_version)
    wide = frame.pivot_table(index="item_id", columns="option_index", values=["logprob", "n_tokens"])
    out = pd.DataFrame({"pair_id": wide.index, "logp_chosen": wide[("logprob", 0)].to_numpy(),
                        "logp_rejected": wide[("logprob", 1)].to_numpy(),
                        "tokens_chosen": wide[("n_tokens", 0)].to_numpy(),
                        "tokens_rejected": wide[("n_tokens", 1)].to_numpy()})
    return out.set_index("pair_id").loc[[p.pair_id for p in pairs]].reset_index()


def sample_replies(loaded: models.LoadedModel, pairs, settings: GenerationSettings,
                   data_version: str, cache: ScoreCache | None, chat: bool) -> pd.DataFrame:
    """Replies to held-out prompts: chat format for the tuned roles, the HH transcript format
    ('Human: ... Assistant:') for the base, which has never seen a chat template."""
    tokenizer = prompts.with_chat_template(loaded.tokenizer)
    if chat:
        texts = [Text(p.pair_id, chat_prompt(tokenizer, p)) for p in pairs]
    else:
        texts = [Text(p.pair_id, f"{p.prompt.strip()}\n\nAssistant:") for p in pairs]
        settings = dataclasses.replace(settings, stop=("\n\nHuman:", "\nHuman:"))
    return Scorer(loaded, cache, progress=False).generate(texts, settings, chat=chat,
                                                           template=f"{TEMPLATE}-{'chat' if chat else 'hh'}",
                                                           data_version=data_version)


