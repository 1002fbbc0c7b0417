"""Do the controlled pair's replies end? The share of sampled replies that end before the token limit (issue 16).

    RLSHIFT_DATA_MIRROR=../shared/data python bench/reply_endings.py \
        [--models embedded:gemma-3-270m-sft embedded:gemma-3-270m-dpo embedded:gemma-3-270m-rl] \
        [--prompts 64] [--max-new-tokens 48 128]

Each stage replies once to each of the first `--prompts` held-out HH-RLHF prompts that fit the
training budget (the tuned-pair chapter's held-out draw), in the chat template, sampled at
temperature 1 with no top-k or top-p cut (the chapter's pool), for each token limit. The table
gives, per stage and limit, the share of replies that ended (the model's end-of-turn token) with
its Wilson 95% interval, the mean and median reply tokens, and a last row per limit for HH's
preferred replies to the same prompts: the share that would fit the limit. Replies are cached
like the chapter's, so a second run reads them back. Then, per stage (and the base), the
log-probability of `<end_of_turn>` right after each of those chosen replies: whether training
taught the model where a reply ends. A benchmark, not a test: read its figures.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from rlshift import models
from rlshift.cache import ScoreCache
from rlshift.engine import GenerationSettings
from rlshift.studies import tuned_pair as tp
from rlshift.training import policy


def end_logprobs(loaded, pairs) -> list[tuple[float, bool]]:
    """Per pair: log p(<end_of_turn> | chat prompt + its chosen reply), and whether it is the
    likeliest next token there."""
    import torch

    from rlshift import prompts

    tok = prompts.with_chat_template(loaded.tokenizer)
    end = tok.convert_tokens_to_ids("<end_of_turn>")
    out = []
    for p in pairs:
        ids = tok(tp.chat_prompt(tok, p) + prompts.reply_text(p.chosen), add_special_tokens=False,
                  return_tensors="pt").input_ids
        with torch.inference_mode():
            logp = torch.log_softmax(loaded.model(ids).logits[0, -1].float(), -1)
        out.append((float(logp[end]), int(logp.argmax()) == end))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+",
                    default=["embedded:gemma-3-270m-sft", "embedded:gemma-3-270m-dpo", "embedded:gemma-3-270m-rl"])
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, nargs="+", default=[48, 128])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    held, prov = tp.heldout(policy.TuneConfig(), args.prompts, seed=args.seed)
    cache = ScoreCache()
    chosen = tp.chosen_tokens(tp.base_tokenizer(), held)
    tables, ends = [], {}
    for spec in ["embedded:gemma-3-270m"] + args.models:
        loaded = models.load(spec, quantize="fp32")
        ends[spec] = end_logprobs(loaded, held)
        if spec not in args.models:
            continue
        for limit in args.max_new_tokens:
            settings = GenerationSettings(max_new_tokens=limit, temperature=1.0, top_p=1.0, top_k=0, seed=args.seed)
            start = time.time()
            replies = tp.sample_replies(loaded, held, settings, prov["version"], cache, "chat").assign(
                role=spec, format="chat")
            print(f"{spec}, limit {limit}: {len(replies)} replies in {time.time() - start:.0f} s", flush=True)
            table = tp.reply_lengths(replies, chosen, limit)
            tables.append(table.assign(limit=limit))
        del loaded
    out = pd.concat(tables, ignore_index=True).drop_duplicates(subset=["role", "limit"])
    cols = ["limit", "role", "replies", "ended", "ended_low", "ended_high", "mean tokens", "median tokens",
            "by end token", "empty replies"]
    print(f"\nheld-out HH-RLHF prompts: {len(held)} ({prov['version']}), sampled at temperature 1\n")
    print(out.sort_values(["limit"], kind="stable")[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print("\nlog p(<end_of_turn>) right after the held-out chosen replies (nats), and the share of replies after "
          "which it is the likeliest next token:")
    print(pd.DataFrame([{"model": spec, "mean": np.mean([x for x, _ in v]), "median": np.median([x for x, _ in v]),
                         "min": min(x for x, _ in v), "max": max(x for x, _ in v),
                         "likeliest": np.mean([top for _, top in v])} for spec, v in ends.items()])
          .to_string(index=False, float_format=lambda x: f"{x:.2f}"))


if __name__ == "__main__":
    main()
