"""The generation verb: sampling answers from a causal language model, cached like scores.

One prompt at a time, with the random generator reseeded from (seed, item id) before each, so
an item's samples do not depend on which other items run or in what order; each prompt's
samples are keyed by the model, the prompt and every generation setting.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from rlshift.engine.caching import Call
from rlshift.errors import InputError
from rlshift.models import LoadedModel
from rlshift.requests import Text


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 48
    temperature: float = 0.7  # 0 = greedy
    top_p: float = 0.95
    n_samples: int = 1
    stop: tuple[str, ...] = ()  # the text is cut at the first of these
    seed: int = 0
    top_k: int | None = None  # None: transformers' default (50); 0: no top-k cut (pure sampling at top_p = 1)

    def check(self) -> "GenerationSettings":
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise InputError(f"max_new_tokens={self.max_new_tokens!r} is not accepted: a positive integer.")
        if not isinstance(self.n_samples, int) or self.n_samples < 1:
            raise InputError(f"n_samples={self.n_samples!r} is not accepted: a positive integer.")
        if self.temperature < 0:
            raise InputError(f"temperature={self.temperature!r} is out of range: accepted >= 0 (0 = greedy).")
        if not 0 < self.top_p <= 1:
            raise InputError(f"top_p={self.top_p!r} is out of range: accepted (0, 1].")
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, int)
                                       or self.top_k < 0):
            raise InputError(f"top_k={self.top_k!r} is not accepted: None, 0 (no cut) or a positive integer.")
        if self.temperature == 0 and self.n_samples > 1:
            raise InputError("n_samples > 1 with temperature 0 (greedy) would repeat one answer: "
                             "set a temperature > 0 or n_samples = 1.")
        return self

    def params(self) -> dict:
        return {"verb": "generate", "max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "top_p": self.top_p, "n_samples": self.n_samples, "stop": list(self.stop), "seed": self.seed} \
            | ({"top_k": self.top_k} if self.top_k is not None else {})  # unset: the keys as before


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text up to the first stop string, without surrounding whitespace."""
    end = len(text)
    for s in stop:
        at = text.find(s)
        if 0 <= at < end:
            end = at
    return text[:end].strip()


def _item_seed(seed: int, item_id: str) -> int:
    return int(hashlib.sha256(f"{seed}:{item_id}".encode()).hexdigest()[:8], 16)


def generate_call(loaded: LoadedModel, prompts: Sequence[Text], settings: GenerationSettings, *,
                  chat: bool, progress: bool) -> Call:
    """One row per (item, sample): the generated text (cut at the stop strings) and its raw
    form. Prompts are used as they are: raw text gets the tokenizer's special prefix (BOS),
    chat-template text (`chat=True`) already has it."""
    settings.check()

    def compute(todo):
        import torch
        from tqdm.auto import tqdm

        tok, model = loaded.tokenizer, loaded.model
        device = next(model.parameters()).device
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        sampling = {"do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p} \
            if settings.temperature > 0 else {"do_sample": False}
        if settings.top_k is not None and settings.temperature > 0:
            sampling["top_k"] = settings.top_k
        for i in tqdm(todo, disable=not progress, desc=f"generate {loaded.info['spec']}"):
            enc = tok(prompts[i].text, return_tensors="pt", add_special_tokens=not chat).to(device)
            torch.manual_seed(_item_seed(settings.seed, prompts[i].item_id))
            with torch.inference_mode():
                out = model.generate(**enc, max_new_tokens=settings.max_new_tokens,
                                     num_return_sequences=settings.n_samples, pad_token_id=pad, **sampling)
            yield [(i, {"raw": tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)})]

    def valid(value, prompt) -> bool:
        return isinstance(value, dict) and isinstance(value.get("raw"), list) and len(value["raw"]) == settings.n_samples

    def table(reqs, values) -> pd.DataFrame:
        rows = [{"item_id": p.item_id, "sample": s, "prompt": p.text, "raw": raw,
                 "text": cut_at_stop(raw, settings.stop)}
                for p, v in zip(reqs, values) for s, raw in enumerate(v["raw"])]
        return pd.DataFrame(rows, columns=["item_id", "sample", "prompt", "raw", "text"])

    params = settings.params() | ({"chat": True} if chat else {})  # raw keys as before
    return Call("generate", prompts, lambda p: {"prompt": p.text}, params, compute, valid, table)
