"""A controlled base -> SFT -> DPO pair: LoRA adapters on the embedded base model, trained with TRL.

The recipe is the DPO paper's on Anthropic HH (Rafailov et al. 2023): supervised fine-tuning on
the preferred replies, then DPO on the preference pairs with the SFT model as the reference.
Everything but the tuning stays fixed (model, tokenizer, data), so a base-vs-tuned difference
on this pair is the tuning's, which the embedded default's two families could not promise.

- Data: HH-RLHF harmless-base, the `train` half of rlshift.data.preferences' fixed split by prompt
  (the reward-collapse study evaluates on the other half); dialogues are rendered through
  Gemma 3's chat template and kept only where prompt and both replies fit the length budget.
- Adapters: LoRA on every attention and MLP projection (TRL's SFTTrainer / DPOTrainer with a
  PEFT config); the DPO adapter is trained on the base with the SFT adapter merged in, and its
  reference is that merged SFT model (the adapter switched off).
- Artifacts: each stage's adapter, its training log and a record of the exact configuration,
  data fingerprint and library versions go to `data/adapters/<stage>/`, listed in the data
  manifest with the command that retrains them (rlshift.artifacts). `rlshift.models` merges
  them into the base once (cached) for `embedded:gemma-3-270m-sft` / `-dpo`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from rlshift import artifacts, models, stats
from rlshift.data import preferences
from rlshift.data.preferences import PrefPair
from rlshift.timings import timed
from rlshift.errors import InputError
from rlshift.prompts import dialogue_messages, reply_text, turn_end_ids, with_chat_template

STAGES = ("sft", "dpo")


@dataclass(frozen=True)
class TuneConfig:
    """Every setting that shapes the adapters; all of it goes into each stage's record."""

    base: str = "embedded:gemma-3-270m"
    n_sft: int | str = "all"  # chosen replies for SFT: a count, or every train-half dialogue whose chosen reply fits
    n_dpo: int | str = "all"  # preference pairs for DPO: a count, or every pair whose two replies fit
    max_prompt_tokens: int = 96
    max_response_tokens: int = 64
    lora_r: int = 8
    lora_alpha: int = 16
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    sft_learning_rate: float = 2e-4
    dpo_learning_rate: float = 1e-4
    beta: float = 0.1
    sft_epochs: int = 3  # one epoch left the end-of-turn token at log p -10.7 (bench/reply_endings.py)
    dpo_epochs: int = 1
    batch_size: int = 4
    grad_accum: int = 2
    warmup_ratio: float = 0.1
    bf16: bool = True  # bf16 autocast (CPUs with AVX-512 bf16 and GPUs); master weights stay fp32
    seed: int = 0

    def check(self) -> "TuneConfig":
        for name in ("n_sft", "n_dpo", "max_prompt_tokens", "max_response_tokens", "lora_r", "sft_epochs",
                     "dpo_epochs", "batch_size", "grad_accum"):
            value = getattr(self, name)
            if name.startswith("n_") and value == "all":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name}={value!r} is not accepted: a positive integer"
                                 + (" or 'all'." if name.startswith("n_") else "."))
        for name in ("sft_learning_rate", "dpo_learning_rate", "beta"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name}={getattr(self, name)!r} is not accepted: a positive number.")
        return self


def recorded_config(stage: str = "gemma-3-270m-dpo") -> TuneConfig:
    """The configuration a committed stage was trained with."""
    fields = {f.name for f in dataclasses.fields(TuneConfig)} - {"target_modules"}
    return TuneConfig(**{k: v for k, v in artifacts.training_record(stage)["config"].items() if k in fields})


# ------------------------------------------------------------------ data

def chat_prompt(tokenizer, pair: PrefPair) -> str:
    return tokenizer.apply_chat_template(dialogue_messages(pair.prompt), tokenize=False, add_generation_prompt=True)


def fits(tokenizer, pair: PrefPair, config: TuneConfig, stage: str = "dpo") -> bool:
    """Whether the prompt and the replies the stage trains on (SFT: the chosen one; DPO: both) fit."""
    try:
        prompt = chat_prompt(tokenizer, pair)
    except InputError:
        return False
    n_prompt = len(tokenizer(prompt, add_special_tokens=False).input_ids)
    n_reply = max(len(tokenizer(reply_text(r), add_special_tokens=False).input_ids)
                  for r in ((pair.chosen,) if stage == "sft" else (pair.chosen, pair.rejected)))
    return n_prompt <= config.max_prompt_tokens and n_reply <= config.max_response_tokens


def select_pairs(tokenizer, part: str, n: int | str, config: TuneConfig, mirror=None,
                 stage: str = "dpo") -> tuple[list[PrefPair], dict]:
    """n HH-RLHF pairs (or 'all') of one half that fit the stage's length budget, drawn with the seed."""
    half = preferences.load("hh_rlhf", part, mirror)
    usable = [p for p in half.pairs if fits(tokenizer, p, config, stage)]
    n = len(usable) if n == "all" else n
    if len(usable) < n:
        raise InputError(f"only {len(usable)} HH-RLHF pairs of the {part} half fit max_prompt_tokens="
                         f"{config.max_prompt_tokens} and max_response_tokens={config.max_response_tokens}; "
                         f"asked for {n}. Lower the count or raise the budget.")
    order = np.random.default_rng(config.seed).permutation(len(usable))[:n]
    chosen = [usable[i] for i in sorted(order)]
    prov = dict(half.provenance, fit=len(usable), n=n, seed=config.seed,
                fingerprint=preferences.fingerprint(chosen))
    return chosen, prov


def sft_rows(pairs: Sequence[PrefPair]) -> list[dict]:
    return [{"prompt": dialogue_messages(p.prompt), "completion": [{"role": "assistant", "content": p.chosen}]}
            for p in pairs]


def dpo_rows(pairs: Sequence[PrefPair]) -> list[dict]:
    return [{"prompt": dialogue_messages(p.prompt),
             "chosen": [{"role": "assistant", "content": p.chosen}],
             "rejected": [{"role": "assistant", "content": p.rejected}]} for p in pairs]


# ------------------------------------------------------------------ the objective, as arithmetic

def dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta: float):
    """DPO's sigmoid loss from sequence log-probs: -log sigmoid(beta * (log-ratio chosen -
    log-ratio rejected)). Returns (per-pair loss, implicit reward of chosen, of rejected)."""
    pc, pr, rc, rr = (np.asarray(x, dtype=float) for x in
                      (policy_chosen, policy_rejected, reference_chosen, reference_rejected))
    reward_chosen, reward_rejected = beta * (pc - rc), beta * (pr - rr)
    margin = reward_chosen - reward_rejected
    loss = np.logaddexp(0.0, -margin)  # -log sigmoid(margin), stable
    return loss, reward_chosen, reward_rejected


# A fixed check that an adapter applies: these replies' log-probs under each stage are recorded
# when it is trained and compared whenever the stage is loaded in a test.
PROBES = (("How do I pick a lock?", "I'm sorry, I can't help with that."),
          ("What is the capital of France?", "The capital of France is Paris."),
          ("Tell me a joke about my coworker.", "I'd rather not make jokes about people you know."))


def probe_logprobs(model, tokenizer) -> list[float]:
    """Summed log-probs of the PROBES replies after their chat prompts."""
    import torch

    tokenizer = with_chat_template(tokenizer)
    device = next(model.parameters()).device
    out = []
    for question, reply in PROBES:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                               add_generation_prompt=True)
        ctx = tokenizer(prompt, add_special_tokens=False).input_ids
        full = tokenizer(prompt + reply_text(reply), add_special_tokens=False).input_ids
        ids = torch.tensor([full], device=device)
        with torch.inference_mode():
            logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)
        targets = ids[0, 1:]
        out.append(float(logp[torch.arange(len(ctx) - 1, len(full) - 1), targets[len(ctx) - 1:]].sum()))
    return out


# ------------------------------------------------------------------ training

def library_versions() -> dict:
    import peft
    import torch
    import transformers
    import trl

    return {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
            "peft": peft.__version__}


def training_base(config, adapters: Sequence[Path] = ()):
    """`config.base` in fp32 (training keeps fp32 master weights), with earlier stages merged in."""
    loaded = models.load(config.base, quantize="fp32")
    model = loaded.model
    for folder in adapters:
        model = models.merge_adapter(model, folder)
    model.train()
    tokenizer = with_chat_template(loaded.tokenizer)
    model.generation_config.eos_token_id = turn_end_ids(tokenizer)  # a sampled reply ends at its turn's end
    return model, tokenizer


def lora_config(config):
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                      target_modules=list(config.target_modules), task_type="CAUSAL_LM")


def _common_args(config: TuneConfig, out: Path, learning_rate: float, epochs: int) -> dict:
    import torch

    return dict(output_dir=str(out / "trainer"), per_device_train_batch_size=config.batch_size,
                gradient_accumulation_steps=config.grad_accum, learning_rate=learning_rate,
                num_train_epochs=epochs, lr_scheduler_type="linear", warmup_steps=config.warmup_ratio,
                logging_steps=1, save_strategy="no", report_to="none", seed=config.seed, data_seed=config.seed,
                bf16=config.bf16, gradient_checkpointing=False, use_cpu=not torch.cuda.is_available(),
                dataloader_num_workers=0, disable_tqdm=False,
                max_length=config.max_prompt_tokens + config.max_response_tokens)


@timed("train")
def train_stage(stage: str, config: TuneConfig, pairs: Sequence[PrefPair], data_prov: dict, out: Path,
                earlier: Sequence[Path] = ()) -> Path:
    """Train one stage's LoRA adapter and write it with its log and record to `out`."""
    import datasets
    import torch
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    if stage not in STAGES:
        raise InputError(f"stage={stage!r} is not accepted: one of {', '.join(STAGES)}.")
    config.check()
    torch.manual_seed(config.seed)
    model, tokenizer = training_base(config, earlier)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    epochs = config.sft_epochs if stage == "sft" else config.dpo_epochs
    if stage == "sft":
        args = SFTConfig(**_common_args(config, out, config.sft_learning_rate, epochs), packing=False,
                         completion_only_loss=True)
        trainer = SFTTrainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(sft_rows(pairs)),
                             processing_class=tokenizer, peft_config=lora_config(config))
    else:
        args = DPOConfig(**_common_args(config, out, config.dpo_learning_rate, epochs), beta=config.beta,
                         loss_type=["sigmoid"])
        trainer = DPOTrainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(dpo_rows(pairs)),
                             processing_class=tokenizer, peft_config=lora_config(config))
    trainer.train()
    record = {"stage": stage, "config": dataclasses.asdict(config), "data": data_prov,
              "epochs": epochs,
              "earlier_stages": [p.name for p in earlier], "wall_seconds": round(time.time() - started, 1)}
    return save_stage(trainer, tokenizer, out, record, config, earlier)


def save_stage(trainer, tokenizer, out: Path, record: dict, config, earlier: Sequence[Path] = (),
               command: str | None = artifacts.RETRAIN_COMMAND) -> Path:
    """A trained stage's adapter, log and record (library versions, steps, device, retrain command, and
    the PROBES' log-probs read as the stage is loaded: the saved adapter merged into an fp32 base)."""
    import torch

    trainer.model.save_pretrained(out / "staging")
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (out / "staging" / name).replace(out / name)
    adapter_cfg = json.loads((out / "adapter_config.json").read_text())
    adapter_cfg["base_model_name_or_path"] = "google/gemma-3-270m"  # the hub copy of the embedded base
    adapter_cfg["target_modules"] = sorted(adapter_cfg["target_modules"])  # PEFT keeps a set: a fixed order
    (out / "adapter_config.json").write_text(json.dumps(adapter_cfg, indent=2, sort_keys=True))
    (out / "training_log.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    record = record | {"versions": library_versions(), "steps": trainer.state.global_step,
                       "device": "cuda" if torch.cuda.is_available() else "cpu", "threads": torch.get_num_threads(),
                       "command": command}
    loaded, _ = training_base(config, [*earlier, out])
    record["probe_logprobs"] = probe_logprobs(loaded.eval(), tokenizer)
    (out / "record.json").write_text(json.dumps(record, indent=2))
    for leftover in ("staging", "trainer"):
        shutil.rmtree(out / leftover, ignore_errors=True)
    return out


# ------------------------------------------------------------------ evaluation

def token_kl(policy, reference, tokenizer, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
    """Per response, sum over its tokens of KL(policy(.|prefix) || reference(.|prefix)), exact over
    the vocabulary: the KL that RLHF's penalty and DPO's constraint are about, on those replies."""
    import torch

    out = []
    device = next(policy.parameters()).device
    for prompt, response in zip(prompts, responses):
        ctx = tokenizer(prompt, add_special_tokens=False).input_ids
        full = tokenizer(prompt + reply_text(response), add_special_tokens=False).input_ids
        n = len(full) - len(ctx)
        ids = torch.tensor([full], device=device)
        with torch.inference_mode():
            lp = torch.log_softmax(policy(ids).logits[0, -n - 1:-1].float(), -1)
            lq = torch.log_softmax(reference(ids).logits[0, -n - 1:-1].float(), -1)
        out.append(float((lp.exp() * (lp - lq)).sum()))
    return np.array(out)


def first_token_labels(tokenizer) -> np.ndarray:
    """Per token id, the id it counts as at a reply's first position: the word-initial marker
    ('\u2581' in SentencePiece, '\u0120' in byte-level BPE) dropped where the vocabulary holds the bare
    piece, so that 'I' after a chat template and '\u2581I' after 'Assistant:' are one first word."""
    vocab = tokenizer.get_vocab()
    labels = np.arange(max(vocab.values()) + 1)
    for piece, i in vocab.items():
        if len(piece) > 1 and piece[0] in ("\u2581", "\u0120") and piece[1:] in vocab:
            labels[i] = vocab[piece[1:]]
    return labels


def align_renderings(a: Sequence[int], b: Sequence[int]) -> tuple[int, int, int]:
    """A reply's tokens in two renderings (e.g. 'I can' and ' I can'): (a's head, b's head,
    shared tail), the tail being their longest common suffix; the heads hold the first word."""
    tail = 0
    while tail < min(len(a), len(b)) and a[len(a) - 1 - tail] == b[len(b) - 1 - tail]:
        tail += 1
    return len(a) - tail, len(b) - tail, tail


def reply_divergences(readings: dict, contexts: dict[str, Sequence[Sequence[int]]],
                      replies: dict[str, Sequence[Sequence[int]]], pairs: Sequence[tuple[str, str]],
                      labels: np.ndarray, todo: Sequence[int]):
    """Token-level KL between readings of the same replies, exact over the vocabulary.

    readings: name -> (model, format); contexts[format][j] and replies[format][j]: the token ids
    of reply j's prompt and of its content in that format. For each reply j and pair (a, b):
    sum over the reply's tokens of KL(a(.|x_a, y<t) || b(.|x_b, y<t)). Readings of one format
    read the same ids; across formats the positions are aligned on the reply's shared tail
    (align_renderings) and the first position compares first-token distributions after
    `labels` merges '\u2581I' into 'I' (a coarsening: a lower bound on that position's KL); head
    tokens beyond the first (rare: a first word split differently) are skipped and flagged.
    Also each reading's summed log-prob of the reply. Yields (j, value) one reply at a time."""
    import torch

    for j in todo:
        lp, logp = {}, {}
        for name, (model, fmt) in readings.items():
            ctx, rep = list(contexts[fmt][j]), list(replies[fmt][j])
            ids = torch.tensor([ctx + rep], device=next(model.parameters()).device)
            with torch.inference_mode():
                logits = model(ids, logits_to_keep=len(rep) + 1).logits[0, :-1].float()
            lp[name] = torch.log_softmax(logits, -1).cpu()
            logp[name] = float(lp[name][torch.arange(len(rep)), torch.tensor(rep)].sum()) if rep else 0.0
        fmts = sorted(replies)
        heads = dict(zip(fmts, align_renderings(replies[fmts[0]][j], replies[fmts[-1]][j])[:2]))
        kl, probs = {}, {}
        for a, b in pairs:
            (_, fa), (_, fb) = readings[a], readings[b]
            pa, qa = lp[a], lp[b]
            if a not in probs:
                probs[a] = pa.exp()
            if fa == fb:
                kl[f"{a}||{b}"] = float((probs[a] * (pa - qa)).sum())
                continue
            ha, hb = heads[fa], heads[fb]
            tail = len(replies[fa][j]) - ha
            value = float((probs[a][ha:] * (pa[ha:] - qa[hb:hb + tail])).sum()) if tail else 0.0
            if ha and hb:
                index = torch.arange(pa.shape[1])
                known = min(len(labels), pa.shape[1])
                index[:known] = torch.as_tensor(labels[:known]).clamp(max=pa.shape[1] - 1)
                first_p = torch.zeros(pa.shape[1]).index_add_(0, index, probs[a][0])
                first_q = torch.zeros(pa.shape[1]).index_add_(0, index, qa[0].exp())
                keep = first_p > 0
                value += float((first_p[keep] * (first_p[keep].log() - first_q[keep].clamp_min(1e-30).log())).sum())
            kl[f"{a}||{b}"] = value
        yield [(j, {"kl": kl, "logp": logp, "n_tokens": {f: len(r[j]) for f, r in replies.items()},
                    "regular": len(set(heads.values())) == 1 and max(heads.values()) <= 1})]


def implicit_reward_accuracy(scores: pd.DataFrame, beta: float) -> dict:
    """From per-pair sequence log-probs (columns policy_chosen, policy_rejected, reference_chosen,
    reference_rejected): held-out accuracy of the implicit reward, its margin and the DPO loss."""
    loss, rc, rr = dpo_loss(scores["policy_chosen"], scores["policy_rejected"], scores["reference_chosen"],
                            scores["reference_rejected"], beta)
    hits = int(((rc - rr) > 0).sum())
    lo, hi = stats.wilson(hits, len(scores))
    return {"n": len(scores), "accuracy": hits / len(scores), "acc_low": lo, "acc_high": hi,
            "margin": float(np.mean(rc - rr)), "dpo_loss": float(np.mean(loss)), "log2": math.log(2)}


def train_pair(config: TuneConfig, out_root: Path, mirror=None, stages: Sequence[str] = STAGES,
               progress=print) -> dict[str, Path]:
    """SFT then DPO, each stage's adapter written to out_root/<base>-<stage>; the DPO stage
    trains on top of the SFT adapter found there."""
    config.check()
    tokenizer = with_chat_template(models.load_tokenizer(config.base))
    base = config.base.split(":", 1)[-1]
    dirs = {s: Path(out_root) / f"{base}-{s}" for s in STAGES}
    if "sft" in stages:
        pairs, prov = select_pairs(tokenizer, "train", config.n_sft, config, mirror, stage="sft")
        progress(f"SFT on {len(pairs)} chosen replies -> {dirs['sft']}")
        train_stage("sft", config, pairs, prov, dirs["sft"])
    if "dpo" in stages:
        if not (dirs["sft"] / "adapter_model.safetensors").exists():
            raise InputError(f"the DPO stage starts from the SFT adapter, not found in {dirs['sft']}: "
                             f"train stage 'sft' first.")
        pairs, prov = select_pairs(tokenizer, "train", config.n_dpo, config, mirror)
        progress(f"DPO on {len(pairs)} pairs -> {dirs['dpo']}")
        train_stage("dpo", config, pairs, prov, dirs["dpo"], earlier=[dirs["sft"]])
    return dirs
