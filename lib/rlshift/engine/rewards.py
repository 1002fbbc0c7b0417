"""The reward verb: sequence-classification reward models, the same way for every study.

Two input forms: `pair` for reward models that read (prompt, response) as a text pair
(OpenAssistant/reward-model-deberta-v3-large-v2: `tokenizer(question, answer)`, reward =
`logits[0]`), and `chat` for reward models that read a chat-formatted conversation. Batched
(right padding, as sequence classifiers expect), longest first.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from rlshift.engine.caching import Call
from rlshift.errors import InputError
from rlshift.models import LoadedModel
from rlshift.requests import RewardItem

INPUT_FORMS = ("pair", "chat")


def encode(tokenizer, batch: Sequence[RewardItem], input_form: str, max_length: int):
    """The model inputs of a batch, exactly as the reward is computed (training uses it too)."""
    if input_form == "pair":
        return tokenizer([b.prompt for b in batch], [b.response for b in batch], padding=True,
                         truncation=True, max_length=max_length, return_tensors="pt")
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": b.prompt},
                                            {"role": "assistant", "content": b.response}], tokenize=False)
             for b in batch]
    return tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                     add_special_tokens=False, return_tensors="pt")


def reward_call(loaded: LoadedModel, items: Sequence[RewardItem], *, input_form: str, max_length: int,
                batch_size: int, progress: bool) -> Call:
    """One row per item: the reward (the head's single logit)."""
    if input_form not in INPUT_FORMS:
        raise InputError(f"reward input form {input_form!r} is not accepted. Accepted: {', '.join(INPUT_FORMS)}.")
    if input_form == "chat" and not loaded.info["has_chat_template"]:
        raise InputError(f"reward input form 'chat' needs a chat template, which {loaded.info['spec']} lacks. "
                         f"Accepted for it: 'pair'.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}.")
    for it in items:
        if not isinstance(it.response, str) or not isinstance(it.prompt, str):
            raise InputError(f"reward item {it.item_id}: prompt and response must be text.")

    def compute(todo):
        import torch
        from tqdm.auto import tqdm

        order = sorted(todo, key=lambda i: -len(items[i].prompt) - len(items[i].response))
        device = next(loaded.model.parameters()).device
        for start in tqdm(range(0, len(order), batch_size), disable=not progress, desc="reward"):
            batch = order[start:start + batch_size]
            enc = encode(loaded.tokenizer, [items[i] for i in batch], input_form, max_length).to(device)
            with torch.inference_mode():
                logits = loaded.model(**enc).logits.float()[:, 0].tolist()
            yield [(i, {"reward": value}) for i, value in zip(batch, logits)]

    def valid(value, item) -> bool:
        return isinstance(value, dict) and isinstance(value.get("reward"), (int, float)) and value["reward"] == value["reward"]

    return Call("reward", items, lambda it: {"prompt": it.prompt, "response": it.response},
                {"verb": "reward", "input_form": input_form, "max_length": max_length}, compute, valid,
                lambda reqs, values: pd.DataFrame({"item_id": [r.item_id for r in reqs],
                                                   "reward": [v["reward"] for v in values]}))
