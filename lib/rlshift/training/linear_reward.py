"""A reward model on the embedded Gemma's own features: a linear Bradley-Terry head on the state
at the last token after `layer` decoder layers (issue 14).

`bench/reward_probe.py` found that a linear head on frozen Gemma-3-270M states carries HH-RLHF's
preference further than the MiniLM reward models fine-tuned here (cross-validated 0.64 at the
last token after layer 10 of 18). A last-token head is what a transformers sequence classifier
computes, so this reward model *is* one: Gemma3TextForSequenceClassification cut to `layer`
layers (the final norm kept), its `score` set to the fitted head. `models.load_reward_model`, the
engine's reward verb and the RL stage read it like any reward model, in the `pair` form.

Fitting: the states of chosen and rejected replies come from that same model's forward pass; a
logistic regression without intercept on their differences (both signs) is the Bradley-Terry
likelihood of a linear reward, L2-regularised, its strength chosen by cross-validation over
training prompts. Only training halves are fitted (rlshift.data.preferences' fixed split), so the
evaluation halves stay clean for the chapters and for judging the RL stage; they are scored once
and recorded. Only the head and its record are committed (`data/reward_models/<name>/`); the
model folder is built from the embedded base into the cache, like the merged adapter stages.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from rlshift import artifacts, manifest, models, paths
from rlshift.data import preferences
from rlshift.data.preferences import PrefPair
from rlshift.engine.rewards import encode
from rlshift.errors import InputError
from rlshift.requests import RewardItem
from rlshift.training.reward_model import CODE_VERSION, heldout_accuracy, quiet_transformers
from rlshift.training.utilities import REWARD_SCALE
from rlshift.wheels import sha256_file

DIR = paths.DATA_DIR / "reward_models"
FILES = ("head.safetensors", "record.json")
ADAPTER = "adapter.safetensors"  # a LoRA fine-tune of the layers under the head (training.lora_reward)
RETRAIN_COMMAND = "python data/scripts/train_linear_reward.py"
CS = (0.001, 0.003, 0.01, 0.03, 0.1)


@dataclass(frozen=True)
class LinearRewardConfig:
    """Everything that shapes the head; all of it goes into its record."""

    base: str = "gemma-3-270m"  # an embedded causal LM (or a causal LM's folder, in tests)
    layer: int = 10  # decoder layers kept; the head reads the last token's state after them
    max_length: int = 256  # tokens of (prompt, reply); long prompts lose their beginning
    sets: tuple[str, ...] = ("hh_rlhf", "pandalm", "llmbar", "auto_j", "finegrained_rlhf", "hhh_alignment", "boolq")
    per_set: int = 300  # pairs drawn per set and half
    hh_all: bool = True  # all of HH-RLHF's halves, whatever per_set says: the set the RL stage is rewarded on
    folds: int = 5
    seed: int = 0

    def check(self) -> "LinearRewardConfig":
        for name, low in (("layer", 1), ("max_length", 8), ("per_set", 2), ("folds", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{name}={value!r} is not accepted: an integer >= {low}.")
        for s in self.sets:
            if s not in preferences.NAMES:
                raise InputError(f"sets: {s!r} is not a preference dataset. Accepted: {', '.join(preferences.NAMES)}.")
        return self


def base_folder(base: str) -> Path:
    return Path(base) if Path(base).is_dir() else models.embedded_path(base)


def truncated_classifier(base: Path, layer: int):
    """The base's first `layer` decoder layers and final norm, with a one-output score head."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    config = AutoConfig.from_pretrained(base)
    if not 1 <= layer <= config.num_hidden_layers:
        raise InputError(f"layer={layer} is out of range for {base.name}: accepted 1..{config.num_hidden_layers}.")
    config.num_hidden_layers, config.num_labels = layer, 1
    if getattr(config, "layer_types", None):
        config.layer_types = config.layer_types[:layer]
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.padding_side, tokenizer.truncation_side = "right", "left"
    config.pad_token_id = tokenizer.pad_token_id
    with quiet_transformers():  # the dropped layers and the new head are reported otherwise
        model = AutoModelForSequenceClassification.from_pretrained(base, config=config, dtype=torch.float32)
    with torch.no_grad():
        model.score.weight.zero_()
    return model.eval(), tokenizer


def last_states(model, tokenizer, prompts: Sequence[str], replies: Sequence[str], max_length: int,
                batch: int = 16) -> np.ndarray:
    """(n, hidden): the state the score head reads, for each (prompt, reply) in the `pair` form."""
    import torch

    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]) - len(replies[i]))
    out = np.zeros((len(prompts), model.config.hidden_size), np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            enc = encode(tokenizer, [RewardItem("", prompts[i], replies[i]) for i in rows], "pair", max_length)
            hidden = model.model(**enc).last_hidden_state
            last = enc["attention_mask"].sum(1) - 1
            out[rows] = hidden[torch.arange(len(rows)), last].float().numpy()
    return out


def fit(d: np.ndarray, c: float) -> np.ndarray:
    """Bradley-Terry weights from chosen-minus-rejected feature differences (standardised, no intercept)."""
    from sklearn.linear_model import LogisticRegression

    scale = d.std(0) + 1e-6
    x = np.concatenate([d, -d]) / scale
    y = np.r_[np.ones(len(d)), np.zeros(len(d))]
    return LogisticRegression(C=c, fit_intercept=False, max_iter=2000).fit(x, y).coef_[0] / scale


def cross_validated(d: np.ndarray, groups: Sequence[str], c: float, folds: int, seed: int) -> float:
    """Pairwise accuracy of `fit` over folds of whole prompts (a prompt's pairs stay together)."""
    unique = np.array(sorted(set(groups)))
    fold_of = dict(zip(unique[np.random.default_rng(seed).permutation(len(unique))], np.arange(len(unique)) % folds))
    fold = np.array([fold_of[g] for g in groups])
    hits = sum(int(((d[fold == k] @ fit(d[fold != k], c)) > 0).sum()) for k in range(folds))
    return hits / len(d)


def draw(config: LinearRewardConfig, part: str, mirror=None) -> list[PrefPair]:
    pairs = []
    for name in config.sets:
        half = preferences.load(name, part, mirror)
        n = "all" if name == "hh_rlhf" and config.hh_all else min(config.per_set, len(half.pairs))
        pairs += preferences.sample(half, n, seed=config.seed).pairs
    return pairs


def pair_states(model, tokenizer, pairs: Sequence[PrefPair], max_length: int) -> np.ndarray:
    """(pairs, 2, hidden): chosen then rejected."""
    prompts = [p.prompt for p in pairs] * 2
    states = last_states(model, tokenizer, prompts, [p.chosen for p in pairs] + [p.rejected for p in pairs], max_length)
    return np.stack([states[:len(pairs)], states[len(pairs):]], 1)


def scored(train_pairs: Sequence[PrefPair], eval_pairs: Sequence[PrefPair], rewards: np.ndarray) -> dict:
    """The record's data and evaluation fields: what was trained on, and the rewards of the
    evaluation pairs ((pairs, 2): chosen, rejected) with their accuracy per set."""
    heldout = pd.DataFrame({"pair_id": [p.pair_id for p in eval_pairs], "source": [p.source for p in eval_pairs],
                            "kind": [p.kind for p in eval_pairs], "r_chosen": rewards[:, 0],
                            "r_rejected": rewards[:, 1]})
    return {"train_pairs": pd.Series([p.source for p in train_pairs]).value_counts().sort_index().to_dict(),
            "data_version": preferences.fingerprint(list(train_pairs))[:16],
            "eval_version": preferences.fingerprint(list(eval_pairs))[:16],
            "accuracy": heldout_accuracy(heldout).to_dict("records"), "heldout": heldout.to_dict("records")}


def train(config: LinearRewardConfig, out: Path, mirror=None, progress=print) -> dict:
    """Fit the head on the training halves, score the evaluation halves, and write head and
    record to `out`; returns the record."""
    from safetensors.numpy import save_file

    config.check()
    started = time.time()
    model, tokenizer = truncated_classifier(base_folder(config.base), config.layer)
    train_pairs, eval_pairs = draw(config, "train", mirror), draw(config, "eval", mirror)
    progress(f"states of {len(train_pairs)} training and {len(eval_pairs)} evaluation pairs")
    s_train = pair_states(model, tokenizer, train_pairs, config.max_length)
    s_eval = pair_states(model, tokenizer, eval_pairs, config.max_length)
    d = s_train[:, 0] - s_train[:, 1]
    groups = [f"{p.source}/{p.group or p.pair_id}" for p in train_pairs]
    grid = {c: cross_validated(d, groups, c, config.folds, config.seed) for c in CS}
    best = max(grid, key=grid.get)
    w = fit(d, best).astype(np.float32)
    record = {"config": dataclasses.asdict(config), "C": best,
              "cv_accuracy": [{"C": c, "accuracy": a} for c, a in grid.items()],
              **scored(train_pairs, eval_pairs, s_eval @ w),
              "seconds": round(time.time() - started, 1), "command": RETRAIN_COMMAND}
    out.mkdir(parents=True, exist_ok=True)
    save_file({"score.weight": w[None, :]}, str(out / "head.safetensors"))
    (out / "record.json").write_text(json.dumps(record, indent=1))
    return record


def files(folder: Path) -> list[str]:
    """The files a committed reward model consists of: head and record, and the adapter its record
    says it was fine-tuned with (so a missing adapter fails the manifest check, not silently)."""
    record = json.loads((Path(folder) / "record.json").read_text())
    return [ADAPTER] * ("peft" in record) + list(FILES)


def committed() -> list[str]:
    """The names of the heads committed in data/reward_models (per the manifest)."""
    return sorted({f.split("/")[1] for f in manifest.entries() if f.startswith("reward_models/")})


def recorded_config(record: dict) -> LinearRewardConfig:
    return LinearRewardConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in record["config"].items()})


def training_prompts(folder: Path, mirror=None) -> list[str]:
    """The prompts of the training pairs a built head was fitted on (for contamination checks)."""
    record = json.loads((Path(folder) / "rlshift_training.json").read_text())
    return [p.prompt for p in draw(recorded_config(record), "train", mirror)]


def manifest_entries(folder: Path, name: str) -> list[dict]:
    record = json.loads((folder / "record.json").read_text())
    sets = ", ".join(f"{k} {v}" for k, v in record["train_pairs"].items())
    what = f"linear reward head on embedded:{record['config']['base']} layer {record['config']['layer']}"
    if "lora" in record:
        layers = record["peft"]["layers_to_transform"]
        what = (f"LoRA (rank {record['peft']['r']}, layers {layers[0]}-{layers[-1]}) and reward head on "
                f"embedded:{record['config']['base']} layer {record['config']['layer']}, "
                f"from book:{record['lora']['start']}")
    return [{"file": f"reward_models/{name}/{f}", "source": f"trained in the book: {what} (training halves: {sets})",
             "license": "derived from Gemma (Gemma Terms of Use) and the preference sets' licenses (see data/)",
             "rows": artifacts.artifact_rows(folder / f), "sha256": sha256_file(folder / f),
             "command": record["command"]} for f in files(folder)]


def build(name: str, committed: Path | None = None) -> Path:
    """The reward-model folder of a committed head, built once into the cache (a plain
    sequence classifier with the record `reward_model.load_trained` reads)."""
    import torch
    from safetensors.torch import load_file

    src = Path(committed) if committed is not None else DIR / name
    parts = files(src)
    if committed is None:
        for f in parts:
            manifest.verified(f"reward_models/{name}/{f}")
    record = json.loads((src / "record.json").read_text())
    weights = load_file(str(src / "head.safetensors"))["score.weight"]
    digest = sha256_file(src / "head.safetensors")[:12]
    if ADAPTER in parts:  # the linear head's folder keeps the name it had before adapters
        digest = hashlib.sha256((digest + sha256_file(src / ADAPTER)).encode()).hexdigest()[:12]
    out = paths.cache_dir() / "reward_models" / f"{name}-{digest}"
    if artifacts.built(out):
        return artifacts.verify_folder(out, full=False)
    config = recorded_config(record)
    model, tokenizer = truncated_classifier(base_folder(config.base), config.layer)
    with torch.no_grad():
        model.score.weight.copy_(weights)
    if ADAPTER in parts:
        from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

        model = get_peft_model(model, LoraConfig(**record["peft"]))
        set_peft_model_state_dict(model, load_file(str(src / ADAPTER)))
        model = model.merge_and_unload().eval()
    log = ([dict(row, split="validation") for row in record["log"]] if "log" in record else
           [dict(row, step=0, epoch=0.0, split="cross-validated") for row in record["cv_accuracy"]])
    training = {"utility": "standard", "reward_scale": REWARD_SCALE["standard"], "config": record["config"],
                "backbone": name,
                "data_version": record["data_version"], "train_pairs": record["train_pairs"], "code": CODE_VERSION,
                "log": log, "heldout": record["heldout"]}
    with artifacts.building(out, {"linear_reward": name, "head_sha256": digest}) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        cfg = json.loads((staging / "config.json").read_text())
        cfg["rlshift_weights_sha256"] = digest
        cfg["rlshift_truncation_side"] = tokenizer.truncation_side
        (staging / "config.json").write_text(json.dumps(cfg, indent=2))
        (staging / "rlshift_training.json").write_text(json.dumps(training, indent=1))
    return out
