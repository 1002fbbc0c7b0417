"""The generation verb: sampling answers from a causal language model, cached like scores.

Prompts run in left-padded batches (longest first, with the KV cache of HF `generate`), and each
row's randomness comes from its own generator, seeded from (seed, item id, sample index) and
drawn once per step: a token is sampled from the tempered, top-k/top-p-filtered distribution by
that row's uniform draw, so an item's samples do not depend on its batch, its neighbours or the
order items run in (in fp32; in bf16 rounding can differ with the padding). Each prompt's
samples are keyed by the model, the prompt and every generation setting. Each sample records how
it ended (the model's end token, a stop string, or the token limit) and its token count, because
the decoded text alone cannot tell a finished reply from one cut off by the limit.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from rlshift.engine.batching import left_padded
from rlshift.engine.caching import Call
from rlshift.errors import InputError
from rlshift.models import LoadedModel
from rlshift.requests import Text

SAMPLER = "row-inverse-cdf-1"  # in the key of sampled (not greedy) generations: which noise made them
# Rows (item x sample) per forward pass. 16, not 8: fp32 matmuls with 8 rows run at a third of the
# memory bandwidth of 1 or 16 rows on this CPU (bench/generation_throughput.py: 3.1-3.7x the
# tokens/s of one prompt at a time at 8 rows, 4.7-5.1x at 16).
GENERATION_BATCH_ROWS = 16


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 48
    temperature: float = 0.7  # 0 = greedy
    top_p: float = 0.95
    n_samples: int = 1
    stop: tuple[str, ...] = ()  # the text is cut at the first of these
    seed: int = 0
    top_k: int | None = None  # None: the model's generation config (transformers' default 50); 0: no top-k cut

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
        """What changes the value; sampled answers name the sampler, so samples drawn by another
        noise are not reused."""
        sampled = {"sampler": SAMPLER} if self.temperature > 0 else {}
        return {"verb": "generate", "max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "top_p": self.top_p, "n_samples": self.n_samples, "stop": list(self.stop), "seed": self.seed} \
            | ({"top_k": self.top_k} if self.top_k is not None else {}) | sampled


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text up to the first stop string, without surrounding whitespace."""
    end = len(text)
    for s in stop:
        at = text.find(s)
        if 0 <= at < end:
            end = at
    return text[:end].strip()


def row_seed(seed: int, item_id: str, sample: int) -> int:
    return int(hashlib.sha256(f"{seed}:{item_id}:{sample}".encode()).hexdigest()[:15], 16)


ENDS = ("eos", "stop", "limit")  # how a sample ended: the model's end token, a stop string, the token limit


def sample_ends(generated, end_ids: set[int], pad: int, texts: Sequence[str],
                stop: Sequence[str]) -> list[tuple[str, int]]:
    """(how it ended, its tokens counting an end token) per generated row. `generate` pads a row
    once it has finished, so its first end or pad token marks where it ended. A stop string in the
    text ended it there (the criterion fires on the step that completes it, before any end token);
    otherwise an end token is the model's own, and a row with neither ran to the limit."""
    ends = []
    for row, text in zip(generated.tolist(), texts):
        at = next((j for j, t in enumerate(row) if t in end_ids or t == pad), None)
        if any(s in text for s in stop):
            ends.append(("stop", len(row) if at is None else at))
        elif at is not None and row[at] in end_ids:
            ends.append(("eos", at + 1))
        else:
            ends.append(("limit", len(row) if at is None else at))
    return ends


def _processors(settings: GenerationSettings, seeds: list[int], device, default_top_k: int | None):
    """The logits processor of one batch, so that `generate`'s greedy step takes a sample:
    temperature, then top-k, then top-p (the order and the rules of transformers' warpers), and
    the token whose cumulative probability first passes the row's own uniform draw (inverse-CDF
    sampling: one draw per row and step, over the few candidates top-k leaves). Nothing for
    greedy settings."""
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList

    if settings.temperature == 0:
        return LogitsProcessorList()
    top_k = default_top_k if settings.top_k is None else settings.top_k

    class RowSampler(LogitsProcessor):
        def __init__(self):
            self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

        def __call__(self, input_ids, scores):
            logits = scores.double() / settings.temperature
            if top_k and top_k < logits.shape[-1]:
                logits, index = logits.topk(top_k, dim=-1)  # sorted, largest first
            elif settings.top_p < 1:
                logits, index = logits.sort(dim=-1, descending=True)
            else:
                index = None
            probs = torch.softmax(logits, dim=-1)
            if settings.top_p < 1:  # keep a token while the mass above it is below top_p (at least one)
                before = probs.cumsum(-1) - probs
                probs = probs.masked_fill(before >= settings.top_p, 0.0)
            cdf = probs.cumsum(-1)
            u = torch.cat([torch.rand(1, generator=g, device=device, dtype=torch.float64) for g in self.generators])
            pick = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1)).clamp(max=cdf.shape[-1] - 1)
            token = pick if index is None else index.gather(-1, pick)
            out = torch.full_like(scores, float("-inf"))
            return out.scatter_(-1, token, 0.0)

    return LogitsProcessorList([RowSampler()])


def _stop_criteria(tok, stop: Sequence[str], prompt_width: int):
    """A row is done once its generated text holds a stop string (the text is cut there later)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    if not stop:
        return StoppingCriteriaList()

    class StopAtStrings(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            texts = tok.batch_decode(input_ids[:, prompt_width:], skip_special_tokens=True)
            return torch.tensor([any(s in t for s in stop) for t in texts], device=input_ids.device)

    return StoppingCriteriaList([StopAtStrings()])


def generate_call(loaded: LoadedModel, prompts: Sequence[Text], settings: GenerationSettings, *,
                  chat: bool, progress: bool, batch_rows: int = GENERATION_BATCH_ROWS) -> Call:
    """One row per (item, sample): the generated text (cut at the stop strings) and its raw
    form. Prompts are used as they are: raw text gets the tokenizer's special prefix (BOS),
    chat-template text (`chat=True`) already has it. `batch_rows` bounds the rows of one
    forward pass; it changes the speed, never the samples."""
    settings.check()
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InputError(f"batch_rows={batch_rows!r} is not accepted: a positive integer.")

    def compute(todo):
        import torch
        from tqdm.auto import tqdm
        from transformers import GenerationConfig

        tok, model = loaded.tokenizer, loaded.model
        device = next(model.parameters()).device
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        own = model.generation_config
        end_ids = {own.eos_token_id} if isinstance(own.eos_token_id, int) else set(own.eos_token_id or ())
        end_ids |= {tok.eos_token_id} if tok.eos_token_id is not None else set()
        config = GenerationConfig(do_sample=False, max_new_tokens=settings.max_new_tokens, pad_token_id=pad,
                                  eos_token_id=own.eos_token_id, bos_token_id=own.bos_token_id)
        encoded = {i: tok(prompts[i].text, add_special_tokens=not chat)["input_ids"] for i in todo}
        order = sorted(todo, key=lambda i: -len(encoded[i]))  # longest first: the least padding, peak memory early
        per_batch = max(1, batch_rows // settings.n_samples)
        batches = [order[b:b + per_batch] for b in range(0, len(order), per_batch)]
        bar = tqdm(total=len(order), disable=not progress, desc=f"generate {loaded.info['spec']}", unit="prompt")
        for batch in batches:
            rows = [(i, s) for i in batch for s in range(settings.n_samples)]
            seqs = [encoded[i] for i, _ in rows]  # left-padded: every row's last prompt token in the last column
            ids, mask = left_padded(seqs, pad), left_padded([[1] * len(s) for s in seqs], 0)
            width = ids.shape[1]
            seeds = [row_seed(settings.seed, prompts[i].item_id, s) for i, s in rows]
            with torch.inference_mode():
                out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                     generation_config=config,
                                     logits_processor=_processors(settings, seeds, device, own.top_k or 50),
                                     stopping_criteria=_stop_criteria(tok, settings.stop, width))
            texts = tok.batch_decode(out[:, width:], skip_special_tokens=True)
            ends = sample_ends(out[:, width:], end_ids, pad, texts, settings.stop)
            bar.update(len(batch))
            n = settings.n_samples
            yield [(i, {"raw": texts[k * n:(k + 1) * n], "end": [e for e, _ in ends[k * n:(k + 1) * n]],
                        "n_generated": [t for _, t in ends[k * n:(k + 1) * n]]})
                   for k, i in enumerate(batch)]
        bar.close()

    def valid(value, prompt) -> bool:  # values stored before `end` was recorded are generated again
        return (isinstance(value, dict) and all(isinstance(value.get(f), list) and len(value[f]) == settings.n_samples
                                                for f in ("raw", "end", "n_generated"))
                and all(e in ENDS for e in value["end"]))

    def table(reqs, values) -> pd.DataFrame:
        rows = [{"item_id": p.item_id, "sample": s, "prompt": p.text, "raw": raw,
                 "text": cut_at_stop(raw, settings.stop), "end": v["end"][s], "n_generated": v["n_generated"][s]}
                for p, v in zip(reqs, values) for s, raw in enumerate(v["raw"])]
        return pd.DataFrame(rows, columns=["item_id", "sample", "prompt", "raw", "text", "end", "n_generated"])

    params = settings.params() | ({"chat": True} if chat else {})
    sampled = settings.temperature > 0  # then the item id is in the key: it seeds the sample's noise (row_seed)
    return Call("generate", prompts, lambda p: {"prompt": p.text} | ({"item_id": p.item_id} if sampled else {}),
                params, compute, valid, table)
