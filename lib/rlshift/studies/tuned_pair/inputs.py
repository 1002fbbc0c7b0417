"""The tuned-pair chapter's inputs: the roles as model specs (committed or retrained
adapters), the held-out pairs, every role's log-probs of their replies in both formats, sampled
replies, the token-level KL between readings of one pool of replies, and the judge's rewards."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pandas as pd

from rlshift import artifacts, models, paths, prompts
from rlshift.cache import ScoreCache
from rlshift.data import preferences
from rlshift.engine import GenerationSettings, Scorer
from rlshift.engine.caching import Call, run
from rlshift.requests import Request, Text
from rlshift.training import policy

TEMPLATE = "gemma-chat-hh-v1"
RAW_TEMPLATE = "hh-raw-v1"
FORMATS = ("raw", "chat")
RAW_STOP = ("\n\nHuman:", "\nHuman:")
# The pool's samplers: each role replies in the format it is used in (the base continues HH's own
# transcript, which it can; the tuned stages answer in the chat template they were trained on).
SAMPLERS = {"base": "raw", "sft": "chat", "dpo": "chat", "rl": "chat"}
ROLES = tuple(SAMPLERS)  # base; SFT; dpo = SFT then DPO; rl = SFT then on-policy RL (where it is run)
# Every divergence measured on the pool: (policy reading, reference reading, what it isolates).
DIVERGENCES = (
    ("sft-chat", "base-chat", "SFT | chat"),
    ("sft-raw", "base-raw", "SFT | raw"),
    ("sft-chat", "base-raw", "SFT + format (each as used)"),
    ("base-chat", "base-raw", "format | base"),
    ("sft-chat", "sft-raw", "format | SFT"),
    ("dpo-chat", "sft-chat", "DPO | chat"),
    ("dpo-raw", "sft-raw", "DPO | raw"),
    ("dpo-chat", "base-chat", "SFT + DPO | chat"),
    ("dpo-raw", "base-raw", "SFT + DPO | raw"),
    ("dpo-chat", "base-raw", "SFT + DPO + format (each as used)"),
    ("rl-chat", "sft-chat", "RL | chat"),
    ("rl-raw", "sft-raw", "RL | raw"),
    ("rl-chat", "base-chat", "SFT + RL | chat"),
    ("rl-raw", "base-raw", "SFT + RL | raw"),
    ("rl-chat", "base-raw", "SFT + RL + format (each as used)"),
)
PAIR = "embedded"  # the catalogue pair whose stages this chapter trains
KL_VERSION = "reply-kl-v1"  # bump when policy.reply_divergences changes what it computes


def role_specs(P: dict) -> tuple[dict[str, str], policy.TuneConfig, dict[str, Path]]:
    """The pair's roles (base, SFT, dpo = SFT + DPO, rl = SFT + RL: the pair's tuned model) as model
    specs, the training configuration, and each training stage's adapter folder: the committed
    adapters (via the catalogue), or SFT and DPO retrained now into the cache and merged into local
    folders (the RL stage is then left out: the committed one was trained from the committed SFT
    model, and retraining it takes longer than a chapter run; data/scripts/train_tuned_pair.py does it)."""
    pair = models.pair(PAIR)
    committed = {"base": pair.base, "sft": pair.sft, "dpo": pair.dpo, "rl": pair.tuned}
    if not P["include_rl"]:
        committed.pop("rl")
    if not P["retrain"]:
        config = policy.recorded_config()
        stages = [*policy.STAGES, *(["rl"] if "rl" in committed else [])]
        return committed, config, {s: artifacts.ADAPTER_DIR / f"gemma-3-270m-{s}" for s in stages}
    config = dataclasses.replace(policy.TuneConfig(), n_sft=P["n_sft"], n_dpo=P["n_dpo"],
                                 sft_epochs=P["sft_epochs"], dpo_epochs=P["dpo_epochs"],
                                 seed=P["train_seed"]).check()
    key = hashlib.sha256(repr(dataclasses.asdict(config)).encode()).hexdigest()[:12]
    root = paths.cache_dir() / "adapters" / key
    dirs = {s: root / f"gemma-3-270m-{s}" for s in policy.STAGES}
    if not all((d / "record.json").exists() for d in dirs.values()):
        policy.train_pair(config, root, mirror=P["data_mirror"])
    specs = {role: spec for role, spec in committed.items() if role != "rl"}
    base = models.embedded_path("gemma-3-270m")
    for i, stage in enumerate(policy.STAGES):  # the training stages are the roles' names (sft, dpo)
        out = root / f"merged-{stage}"
        if not (out / "config.json").exists():
            models.merge_to_folder(base, [dirs[s] for s in policy.STAGES[:i + 1]], out,
                                   {"retrained": str(root), "stage": stage})
        specs[stage] = str(out)
    return specs, config, dirs


def heldout(config: policy.TuneConfig, n: int, seed: int, mirror=None) -> tuple[list, dict]:
    tokenizer = prompts.with_chat_template(base_tokenizer())
    return policy.select_pairs(tokenizer, "eval", n, dataclasses.replace(config, seed=seed), mirror)


def hhh_pairs(n, seed: int) -> tuple[list, dict]:
    """BIG-bench hhh_alignment, both halves of the fixed split (this chapter trains on neither)."""
    halves = [preferences.load("hhh_alignment", part) for part in preferences.PARTS]
    pool = preferences.PairSet("hhh_alignment", [p for h in halves for p in h.pairs],
                               dict(halves[0].provenance, split="both halves"))
    pool.provenance["pairs"] = len(pool.pairs)
    chosen = preferences.sample(pool, n, seed, what="n_hhh")
    return chosen.pairs, chosen.provenance


def base_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(models.embedded_path("gemma-3-270m"))


def _messages(pair) -> list[dict]:
    if pair.source == "hh_rlhf":
        return prompts.dialogue_messages(pair.prompt)
    return [{"role": "user", "content": pair.prompt}]


def chat_prompt(tokenizer, pair) -> str:
    """The pair's history in Gemma's chat format, ending where the model's reply begins."""
    return prompts.chat_messages(tokenizer, _messages(pair))


def raw_prompt(pair) -> str:
    """The pair's history as HH-RLHF's own transcript, 'Human: ... Assistant:' (the raw format)."""
    text = pair.prompt.strip()
    return f"{text if text.startswith('Human:') else 'Human: ' + text}\n\nAssistant:"


def context(tokenizer, pair, fmt: str) -> str:
    return chat_prompt(tokenizer, pair) if fmt == "chat" else raw_prompt(pair)


def reply_in(reply: str, fmt: str) -> str:
    """A whole reply as scored after its context: the chat turn's end, or the next human turn."""
    return prompts.reply_text(reply) if fmt == "chat" else f" {reply.strip()}\n\nHuman:"


def score_pairs(loaded: models.LoadedModel, pairs, data_version: str, cache: ScoreCache | None,
                batch_size="auto", fmt: str = "chat") -> pd.DataFrame:
    """Per pair: the role's summed log-probs of the chosen and the rejected reply, both in one
    format (chat: Gemma's template; raw: HH's transcript), the same text for every role, so
    their differences are log-ratios."""
    tokenizer = prompts.with_chat_template(loaded.tokenizer)
    requests = [Request(p.pair_id, context(tokenizer, p, fmt), (reply_in(p.chosen, fmt), reply_in(p.rejected, fmt)))
                for p in pairs]
    frame = Scorer(loaded, cache, batch_size=batch_size, progress=False).continuation_logprobs(
        requests, chat=fmt == "chat", template=TEMPLATE if fmt == "chat" else RAW_TEMPLATE, data_version=data_version)
    wide = frame.pivot_table(index="item_id", columns="option_index", values=["logprob", "n_tokens"])
    out = pd.DataFrame({"pair_id": wide.index, "logp_chosen": wide[("logprob", 0)].to_numpy(),
                        "logp_rejected": wide[("logprob", 1)].to_numpy(),
                        "tokens_chosen": wide[("n_tokens", 0)].to_numpy(),
                        "tokens_rejected": wide[("n_tokens", 1)].to_numpy()})
    return out.set_index("pair_id").loc[[p.pair_id for p in pairs]].reset_index()


def score_replies(loaded: models.LoadedModel, pairs, replies: pd.DataFrame, data_version: str,
                  cache: ScoreCache | None, batch_size="auto", as_sampled: bool = False) -> pd.Series:
    """The role's summed log-prob (chat format) of other roles' replies to the pairs' prompts
    (`replies`: item_id, role, text, end; one reply per item and role), indexed like `replies`:
    each reply as a finished turn (its end-of-turn appended, comparable with HH's replies), or
    `as_sampled`: exactly what was sampled, the end-of-turn only where the reply ended with it (a
    reply cut off by the limit did not sample it), for KL estimates on the sampler's own replies."""
    tokenizer = prompts.with_chat_template(loaded.tokenizer)
    by_id = {p.pair_id: p for p in pairs}

    def scored(r) -> str:
        if not as_sampled:
            return prompts.reply_text(r.text)
        return r.text.strip() + (prompts.END_OF_TURN if r.end == "eos" else "")

    requests = [Request(f"{r.item_id}:{r.role}", chat_prompt(tokenizer, by_id[r.item_id]), (scored(r),))
                for r in replies.itertuples()]
    frame = Scorer(loaded, cache, batch_size=batch_size, progress=False).continuation_logprobs(
        requests, chat=True, template=f"{TEMPLATE}-replies{'-as-sampled' if as_sampled else ''}",
        data_version=data_version)
    return pd.Series(frame.set_index("item_id").loc[[q.item_id for q in requests], "logprob"].to_numpy(),
                     index=replies.index)


def sample_replies(loaded: models.LoadedModel, pairs, settings: GenerationSettings,
                   data_version: str, cache: ScoreCache | None, fmt: str) -> pd.DataFrame:
    """Replies to held-out prompts in one format: chat (the tuned roles' own) or raw (the HH
    transcript, cut where the next 'Human:' turn would begin)."""
    tokenizer = prompts.with_chat_template(loaded.tokenizer)
    texts = [Text(p.pair_id, context(tokenizer, p, fmt)) for p in pairs]
    if fmt == "raw":
        settings = dataclasses.replace(settings, stop=RAW_STOP)
    return Scorer(loaded, cache, progress=False).generate(texts, settings, chat=fmt == "chat",
                                                           template=f"{TEMPLATE}-{'chat' if fmt == 'chat' else 'hh'}",
                                                           data_version=data_version)


def role_replies(loaded: dict[str, models.LoadedModel], pairs, settings: GenerationSettings, data_version: str,
                 cache: ScoreCache | None) -> pd.DataFrame:
    """One reply per prompt from each role, in the format it is used in (SAMPLERS): item_id,
    role, format, text, and how it ended (end: eos, stop or limit; n_generated tokens)."""
    frames = [sample_replies(loaded[role], pairs, settings, data_version, cache, fmt).assign(role=role, format=fmt)
              for role, fmt in SAMPLERS.items() if role in loaded]
    return pd.concat(frames, ignore_index=True)[["item_id", "role", "format", "text", "end", "n_generated"]]


def chosen_tokens(tokenizer, pairs) -> list[int]:
    """Each pair's preferred reply in tokens as the chat template renders it, its end-of-turn
    token counted: the length a model imitating HH's replies would generate."""
    return [len(tokenizer(prompts.reply_text(p.chosen), add_special_tokens=False).input_ids) + 1 for p in pairs]


def _reply_ids(tokenizer, text: str, fmt: str) -> list[int]:
    """A reply's content tokens as the format renders them after its context ('I' after the
    chat template's 'model\\n', '\\u2581I' after 'Assistant:'); where it stops is not scored."""
    return tokenizer(text.strip() if fmt == "chat" else " " + text.strip(), add_special_tokens=False).input_ids


def divergences(loaded: dict[str, models.LoadedModel], pool: pd.DataFrame, pairs, data_version: str,
                cache: ScoreCache | None) -> pd.DataFrame:
    """Every divergence of DIVERGENCES on every reply of the pool (policy.reply_divergences;
    cached): one row per reply x divergence (item_id, sampler, policy, reference, contrast, kl),
    with each reading's summed log-prob of the reply (logp:<reading>) and whether the reply's
    first word is one token in both renderings (regular)."""
    tokenizer = prompts.with_chat_template(loaded["base"].tokenizer)
    by_id = {p.pair_id: p for p in pairs}
    roles = [r for r in ROLES if r in loaded]
    readings = {f"{role}-{fmt}": (loaded[role].model, fmt) for role in roles for fmt in FORMATS}
    texts = [Text(f"{r.item_id}:{r.role}", r.text) for r in pool.itertuples()]
    contexts = {fmt: [tokenizer(context(tokenizer, by_id[r.item_id], fmt), add_special_tokens=fmt == "raw").input_ids
                      for r in pool.itertuples()] for fmt in FORMATS}
    replies = {fmt: [_reply_ids(tokenizer, r.text, fmt) for r in pool.itertuples()] for fmt in FORMATS}
    measured = [d for d in DIVERGENCES if d[0] in readings and d[1] in readings]
    names = [(a, b) for a, b, _ in measured]
    labels = policy.first_token_labels(tokenizer)
    item_context = {t.item_id: by_id[r.item_id] for t, r in zip(texts, pool.itertuples())}

    def compute(todo):
        return policy.reply_divergences(readings, contexts, replies, names, labels, todo)

    def valid(value, text) -> bool:
        return isinstance(value, dict) and set(value.get("kl", {})) == {f"{a}||{b}" for a, b in names}

    def table(reqs, values) -> pd.DataFrame:
        rows = []
        for req, value, sampler in zip(reqs, values, pool["role"]):
            for a, b, what in measured:
                rows.append({"item_id": req.item_id.rsplit(":", 1)[0], "sampler": sampler, "policy": a,
                             "reference": b, "contrast": what, "kl": value["kl"][f"{a}||{b}"],
                             "regular": value["regular"], "tokens": value["n_tokens"]["chat"],
                             **{f"logp:{k}": v for k, v in value["logp"].items()}})
        return pd.DataFrame(rows)

    call = Call("reply_kl", texts, lambda t: {"reply": t.text, "prompt": item_context[t.item_id].prompt},
                {"verb": "reply_kl", "code": KL_VERSION, "divergences": names}, compute, valid, table)
    key = "+".join(loaded[r].key for r in roles)
    return run(call, cache, key, "+".join(loaded[r].info["spec"] for r in roles),
               template=f"{TEMPLATE}+{RAW_TEMPLATE}", data_version=data_version)
