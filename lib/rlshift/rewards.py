"""Reward-model scoring, the same way for every study.

Two input forms: `pair` for sequence-classification reward models that read (prompt,
response) as a text pair (OpenAssistant/reward-model-deberta-v3-large-v2: `tokenizer(question,
answer)`, reward = `logits[0]`), and `chat` for reward models that read a chat-formatted
conversation. Batched (right padding, as sequence classifiers expect), cached with the same
keys as log-probabilities, 4-bit on CUDA through the same loader options as causal models.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from rlshift import models
from rlshift.cache import ScoreCache, make_key
from rlshift.errors import InputError

INPUT_FORMS = ("pair", "chat")


@dataclass(frozen=True)
class RewardItem:
    item_id: str
    prompt: str
    response: str


def load_reward_model(spec: str, quantize: str = "auto", device: str | None = None) -> models.LoadedModel:
    """A reward model: a sequence classifier with one output whose head is in the checkpoint."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    kind, name = models.describe_spec(spec)
    if kind == "embedded":
        raise InputError(f"{spec!r} is a causal language model, not a reward model. Accepted: a hub "
                         f"id or folder of a sequence-classification reward model with one output.")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    quant = models.resolve_quantization(quantize, device)
    source = models._hub_source(name, None) if kind == "hub" else name
    kwargs: dict[str, Any] = {}
    if quant in ("4bit", "8bit"):
        from transformers import BitsAndBytesConfig
        kwargs["quantization_config"] = (BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                             bnb_4bit_use_double_quant=True,
                                                             bnb_4bit_compute_dtype=torch.bfloat16)
                                         if quant == "4bit" else BitsAndBytesConfig(load_in_8bit=True))
        kwargs["device_map"] = {"": 0} if device == "cuda" else {"": "cpu"}
    else:
        kwargs["dtype"] = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[quant]
    model, loading = AutoModelForSequenceClassification.from_pretrained(source, output_loading_info=True, **kwargs)
    head_missing = [k for k in loading.get("missing_keys", []) if k.split(".")[0] in ("score", "classifier")
                    or ".score." in k or "classifier" in k]
    n_out = getattr(model.config, "num_labels", None)
    if head_missing or n_out != 1:
        raise InputError(
            f"{spec!r} is not a reward model: "
            + (f"its classification head ({', '.join(sorted(head_missing)[:2])}) is not in the checkpoint "
               f"and would be random" if head_missing else f"its head has {n_out} outputs")
            + ". Accepted: a sequence-classification model with a trained single-output head "
              "(e.g. OpenAssistant/reward-model-deberta-v3-large-v2).")
    if "device_map" not in kwargs:
        model.to(device)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.padding_side = "right"
    revision = models._fingerprint(Path(source)) if kind == "local" else (
        getattr(model.config, "_commit_hash", None) or "unknown")
    info = {"spec": spec, "kind": kind, "source": str(source), "revision": revision, "quantization": quant,
            "dtype": str(next(model.parameters()).dtype).replace("torch.", ""), "device": device,
            "has_chat_template": bool(getattr(tokenizer, "chat_template", None)),
            "n_params": sum(p.numel() for p in model.parameters())}
    return models.LoadedModel(model=model, tokenizer=tokenizer, info=info)


class RewardScorer:
    def __init__(self, loaded: models.LoadedModel, cache: ScoreCache | None = None, batch_size: int = 8,
                 input_form: str = "pair", progress: bool = True, max_length: int = 1024):
        if input_form not in INPUT_FORMS:
            raise InputError(f"reward input form {input_form!r} is not accepted. Accepted: {', '.join(INPUT_FORMS)}.")
        if input_form == "chat" and not loaded.info["has_chat_template"]:
            raise InputError(f"reward input form 'chat' needs a chat template, which {loaded.info['spec']} lacks. "
                             f"Accepted for it: 'pair'.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.loaded, self.cache, self.batch_size = loaded, cache, batch_size
        self.input_form, self.progress, self.max_length = input_form, progress, max_length

    def _encode(self, batch: Sequence[RewardItem]):
        tok = self.loaded.tokenizer
        if self.input_form == "pair":
            return tok([b.prompt for b in batch], [b.response for b in batch], padding=True,
                       truncation=True, max_length=self.max_length, return_tensors="pt")
        texts = [tok.apply_chat_template([{"role": "user", "content": b.prompt},
                                          {"role": "assistant", "content": b.response}], tokenize=False)
                 for b in batch]
        return tok(texts, padding=True, truncation=True, max_length=self.max_length,
                   add_special_tokens=False, return_tensors="pt")

    def score(self, items: Sequence[RewardItem], *, template: str, data_version: str) -> pd.DataFrame:
        """One row per item: the reward (the head's single logit)."""
        import torch
        from tqdm.auto import tqdm

        for it in items:
            if not isinstance(it.response, str) or not isinstance(it.prompt, str):
                raise InputError(f"reward item {it.item_id}: prompt and response must be text.")
        model_key = self.loaded.key
        params = {"verb": "reward", "input_form": self.input_form, "max_length": self.max_length}
        keys = [make_key(model=model_key, verb="reward", template=template, data_version=data_version,
                         item_id=it.item_id, prompt=it.prompt, response=it.response, params=params) for it in items]
        stored = self.cache.get_many(keys) if self.cache is not None else {}
        todo = [(k, it) for k, it in zip(keys, items) if k not in stored]
        todo.sort(key=lambda pair: -len(pair[1].prompt) - len(pair[1].response))
        device = next(self.loaded.model.parameters()).device
        for start in tqdm(range(0, len(todo), self.batch_size), disable=not self.progress, desc="reward"):
            batch = todo[start:start + self.batch_size]
            enc = self._encode([it for _, it in batch]).to(device)
            with torch.inference_mode():
                logits = self.loaded.model(**enc).logits.float()[:, 0].tolist()
            rows = []
            for (key, it), value in zip(batch, logits):
                stored[key] = {"reward": value}
                rows.append({"key": key, "model": model_key, "verb": "reward", "template": template,
                             "data_version": data_version, "item_id": it.item_id, "params": params,
                             "value": {"reward": value}})
            if self.cache is not None:
                self.cache.put_many(rows)
        return pd.DataFrame({"item_id": [it.item_id for it in items],
                             "reward": [stored[k]["reward"] for k in keys],
                             "model": self.loaded.info["spec"], "model_key": model_key,
                             "template": template, "data_version": data_version})
