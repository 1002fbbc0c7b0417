"""A reward model that fine-tunes the embedded Gemma's own upper layers: LoRA on the linear
reward head's truncated Gemma, started from a linear fit (issue 14).

The linear head (training.linear_reward) reads frozen features; it stops at 0.62 on HH-RLHF's
evaluation half. Fine-tuning the layers under the head is what a reward model normally does; on
this CPU the whole network is too slow to train, so LoRA adapters go on the upper decoder layers
(`first_layer`.. the head's layer; the layers below stay frozen, so the backward pass stops
there) and the head trains with them.

Data and selection: the linear head's training pairs (the training halves of every preference
set), less a validation share of each set's prompts. The head starts from a linear fit on the
remaining pairs (as linear_reward fits it, C by cross-validation), so the validation pairs are
unseen from the start. Validation accuracy is read before training and `checks` times per epoch;
the best reading's weights are kept (the linear start among them, so the fine-tune is kept only
where it beats it on pairs it was not trained on). The evaluation halves are scored once, at the
end.

A run checkpoints after every check and resumes from its checkpoint. Only the adapter, the head
and the record are committed (data/reward_models/<name>/); linear_reward.build merges them into
the model folder in the cache.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from rlshift.data import preferences
from rlshift.data.preferences import PrefPair
from rlshift.engine.rewards import encode
from rlshift.errors import InputError
from rlshift.requests import RewardItem
from rlshift.training import linear_reward
from rlshift.training.reward_model import split_heldout

RETRAIN_COMMAND = "python data/scripts/train_lora_reward.py"
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraRewardConfig:
    """Everything that shapes the fine-tune; all of it goes into its record."""

    start: str = "gemma-3-270m-linear"  # the committed linear head whose design it takes (base, layer, sets,
    # max_length)
    first_layer: int = 4  # LoRA on decoder layers first_layer .. layer - 1
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    learning_rate: float = 2e-4  # the adapters'
    head_learning_rate: float = 1e-5  # the head's, which starts from a fit
    epochs: int = 1
    batch_pairs: int = 8
    train_sets: tuple[str, ...] = ()  # the sets it trains on (default: the start head's); it is scored on all of those
    validation: float = 0.15  # share of each set's training prompts held out for the choice of step
    checks: int = 4  # validation readings per epoch
    seed: int = 0

    def check(self, layer: int) -> "LoraRewardConfig":
        if not 0 <= self.first_layer < layer:
            raise InputError(f"first_layer={self.first_layer} is not accepted: 0..{layer - 1} "
                             f"(the head reads layer {layer}).")
        for name in ("rank", "alpha", "epochs", "batch_pairs", "checks"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InputError(f"{name}={getattr(self, name)!r} is not accepted: an integer >= 1.")
        if not 0 < self.validation < 1:
            raise InputError(f"validation={self.validation!r} is not accepted: a share in (0, 1).")
        return self


def peft_fields(config: LoraRewardConfig, layer: int) -> dict:
    """peft.LoraConfig's arguments, recorded so that linear_reward.build can merge the adapter."""
    return {"r": config.rank, "lora_alpha": config.alpha, "lora_dropout": config.dropout,
            "target_modules": list(TARGETS),
            "layers_to_transform": list(range(config.first_layer, layer))}


def batches(pairs: Sequence[PrefPair], size: int, tokenizer, rng) -> list[list[PrefPair]]:
    """Pairs of like length batched together (less padding), the batches in a seeded order."""
    length = [len(tokenizer(p.prompt + max(p.chosen, p.rejected, key=len))["input_ids"]) for p in pairs]
    order = sorted(range(len(pairs)), key=lambda i: length[i])
    chunks = [[pairs[i] for i in order[s:s + size]] for s in range(0, len(order), size)]
    return [chunks[i] for i in rng.permutation(len(chunks))]


def reward_items(pairs: Sequence[PrefPair]) -> list[RewardItem]:
    """The chosen replies, then the rejected ones."""
    return [RewardItem("", p.prompt, p.chosen) for p in pairs] + [RewardItem("", p.prompt, p.rejected) for p in pairs]


def pair_rewards(model, tokenizer, pairs: Sequence[PrefPair], max_length: int, batch: int = 16) -> np.ndarray:
    """(pairs, 2): the reward of chosen then rejected, as the reward verb reads them (`pair` form)."""
    import torch

    items = reward_items(pairs)
    order = sorted(range(len(items)), key=lambda i: -len(items[i].prompt) - len(items[i].response))
    out = np.zeros(len(items), np.float32)
    model.eval()
    with torch.inference_mode():
        for s in range(0, len(order), batch):
            rows = order[s:s + batch]
            enc = encode(tokenizer, [items[i] for i in rows], "pair", max_length)
            out[rows] = model(**enc).logits[:, 0].float().numpy()
    return np.stack([out[:len(pairs)], out[len(pairs):]], 1)


def trainable_state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def train(config: LoraRewardConfig, out: Path, mirror=None, progress=print, committed: Path | None = None) -> dict:
    """Fine-tune from the linear head, keep the best validation step, score the evaluation halves,
    and write adapter, head and record to `out`; returns the record."""
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
    from safetensors.torch import save_file

    started = time.time()
    src = Path(committed) if committed is not None else linear_reward.DIR / config.start
    start_record = json.loads((src / "record.json").read_text())
    eval_config = linear_reward.recorded_config(start_record)
    head_config = dataclasses.replace(eval_config, sets=tuple(config.train_sets) or eval_config.sets).check()
    config.check(head_config.layer)
    torch.manual_seed(config.seed)
    base = linear_reward.base_folder(head_config.base)
    model, tokenizer = linear_reward.truncated_classifier(base, head_config.layer)
    training = linear_reward.draw(head_config, "train", mirror)
    fit_pairs, val_pairs = split_heldout(training, config.validation, config.seed)
    checkpoint = out / "checkpoint.pt"
    key = json.dumps(dataclasses.asdict(config), sort_keys=True)
    saved = torch.load(checkpoint, weights_only=False) if checkpoint.exists() else None
    saved = saved if saved is not None and saved["key"] == key else None
    if saved is None:  # the linear start, fitted on the training pairs only (a resumed run has it)
        progress(f"fitting the linear start on {len(fit_pairs)} pairs ({len(val_pairs)} held for validation)")
        states = linear_reward.pair_states(model, tokenizer, fit_pairs, head_config.max_length)
        d = states[:, 0] - states[:, 1]
        groups = [f"{p.source}/{p.group or p.pair_id}" for p in fit_pairs]
        grid = {c: linear_reward.cross_validated(d, groups, c, head_config.folds, config.seed)
                for c in linear_reward.CS}
        start = {"C": max(grid, key=grid.get), "cv_accuracy": [{"C": c, "accuracy": a} for c, a in grid.items()]}
        with torch.no_grad():
            model.score.weight.copy_(torch.from_numpy(linear_reward.fit(d, start["C"]).astype(np.float32))[None])
    else:
        start = saved["start"]
    model = get_peft_model(model, LoraConfig(**peft_fields(config, head_config.layer)))
    head = model.base_model.model.score.weight
    head.requires_grad_(True)
    rng = np.random.default_rng(config.seed)
    plan = [batches(fit_pairs, config.batch_pairs, tokenizer, rng) for _ in range(config.epochs)]
    steps = sum(len(p) for p in plan)
    every = max(1, len(plan[0]) // config.checks)
    adapters = [p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]
    optimizer = torch.optim.AdamW([{"params": adapters, "lr": config.learning_rate},
                                   {"params": [head], "lr": config.head_learning_rate}], weight_decay=0.0)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))

    def validate(step: int, loss: float | None) -> dict:
        r = pair_rewards(model, tokenizer, val_pairs, head_config.max_length)
        frame = pd.DataFrame({"source": [p.source for p in val_pairs], "hit": r[:, 0] > r[:, 1]})
        row = {"step": step, "epoch": round(step / len(plan[0]), 3), "train_loss": loss,
               "validation_accuracy": float(frame.hit.mean()),
               **{f"validation_{s}": float(g.hit.mean()) for s, g in frame.groupby("source")}}
        return row

    def report(row: dict) -> None:
        progress(f"step {row['step']}/{steps}: validation {row['validation_accuracy']:.3f} "
                 f"(hh_rlhf {row.get('validation_hh_rlhf', float('nan')):.3f}), {(time.time() - started) / 60:.1f} min")

    if saved is not None:
        model.load_state_dict(saved["trainable"], strict=False)
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        log, best, done = saved["log"], saved["best"], saved["step"]
        torch.set_rng_state(saved["rng"])
        progress(f"resumed at step {done}")
    else:
        log, done = [validate(0, None)], 0
        report(log[0])
        best = {"step": 0, "accuracy": log[0]["validation_accuracy"], "state": trainable_state(model)}
    step, losses = 0, []
    for epoch in plan:
        for batch in epoch:
            step += 1
            if step <= done:
                continue
            model.train()
            r = model(**encode(tokenizer, reward_items(batch), "pair", head_config.max_length)).logits[:, 0]
            loss = -torch.nn.functional.logsigmoid(r[:len(batch)] - r[len(batch):]).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(adapters + [head], 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            if step % every == 0 or step == steps:
                log.append(validate(step, float(np.mean(losses)) if losses else None))
                losses = []
                if log[-1]["validation_accuracy"] > best["accuracy"]:
                    best = {"step": step, "accuracy": log[-1]["validation_accuracy"], "state": trainable_state(model)}
                out.mkdir(parents=True, exist_ok=True)
                torch.save({"key": key, "trainable": trainable_state(model), "optimizer": optimizer.state_dict(),
                            "schedule": schedule.state_dict(), "log": log, "best": best, "step": step,
                            "rng": torch.get_rng_state(), "start": start}, checkpoint)
                report(log[-1])
    model.load_state_dict(best["state"], strict=False)
    progress(f"kept step {best['step']} (validation {best['accuracy']:.3f}); scoring the evaluation halves")
    eval_pairs = linear_reward.draw(eval_config, "eval", mirror)
    rewards = pair_rewards(model, tokenizer, eval_pairs, head_config.max_length)
    record = {"config": dataclasses.asdict(head_config), "eval_sets": list(eval_config.sets),
              "lora": dataclasses.asdict(config),
              "start": start,
              "peft": peft_fields(config, head_config.layer),
              "kept_step": best["step"], "log": log,
              **linear_reward.scored(fit_pairs, eval_pairs, rewards),
              "validation_pairs": pd.Series([p.source for p in val_pairs]).value_counts().sort_index().to_dict(),
              "seconds": round(time.time() - started, 1), "command": RETRAIN_COMMAND}
    out.mkdir(parents=True, exist_ok=True)
    adapter = {k: v.contiguous() for k, v in get_peft_model_state_dict(model).items()}
    save_file(adapter, str(out / "adapter.safetensors"))
    save_file({"score.weight": head.detach().clone().contiguous()}, str(out / "head.safetensors"))
    (out / "record.json").write_text(json.dumps(record, indent=1))
    checkpoint.unlink(missing_ok=True)
    return record

