"""bf16 against fp32 on this CPU, for scoring and generation: speed and the shift (prints a table).

    python bench/bf16_vs_fp32.py [--items 48] [--prompts 16]

Scoring: lettered MMLU (0-shot) and HellaSwag continuations through the engine (batch 8, no
cache), items/s in each dtype, and bf16's shift against fp32: mean and 95th percentile
|difference| of the option log-probs, of the normalised option probabilities, and the share of
items whose argmax option agrees. Generation: the same prompts sampled batched (16 rows) in each
dtype, tokens/s, the share of prompts whose bf16 samples equal the fp32 ones, and the share
equal to bf16's own one-prompt-at-a-time samples (batch invariance). This is a benchmark, not a
test: read its figures.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

MODELS = ["embedded:smollm2-135m-instruct", "embedded:gemma-3-270m"]
SHAPES = {"mmlu_letter_0shot": ("mmlu", "letter", 0), "hellaswag_cloze": ("hellaswag", "cloze", 0)}


def scoring(spec: str, n: int) -> list[dict]:
    import numpy as np
    from scipy.special import softmax

    from rlshift import models, tasks
    from rlshift.engine import Scorer

    loaded = {q: models.load(spec, quantize=q) for q in ("fp32", "bf16")}
    rows = []
    for shape, (dataset, style, k) in SHAPES.items():
        (task, items), = tasks.prepare([f"{dataset}:{style}:{k}"], n, seed=0)
        reqs = task.requests(items, "raw", loaded["fp32"].tokenizer, seed=0)
        out = {}
        for q, lm in loaded.items():
            scorer = Scorer(lm, cache=None, batch_size=8, progress=False)
            verb = scorer.choice_logprobs if style == "letter" else scorer.continuation_logprobs
            verb(reqs[:8], chat=False, template="bench", data_version="bench")  # warm-up
            start = time.perf_counter()
            frame = verb(reqs, chat=False, template="bench", data_version="bench")
            out[q] = (time.perf_counter() - start, frame)
        lp = {q: [g["logprob"].to_numpy(float) for _, g in f.groupby("item_id", sort=False)]
              for q, (_, f) in out.items()}
        d_lp = np.concatenate([np.abs(a - b) for a, b in zip(lp["bf16"], lp["fp32"])])
        d_p = np.concatenate([np.abs(softmax(a) - softmax(b)) for a, b in zip(lp["bf16"], lp["fp32"])])
        agree = np.mean([np.argmax(a) == np.argmax(b) for a, b in zip(lp["bf16"], lp["fp32"])])
        rows.append({"model": spec, "shape": shape, "items": len(reqs),
                     "fp32_items_s": len(reqs) / out["fp32"][0], "bf16_items_s": len(reqs) / out["bf16"][0],
                     "speedup": out["fp32"][0] / out["bf16"][0], "logprob_shift_mean": d_lp.mean(),
                     "logprob_shift_p95": np.quantile(d_lp, 0.95), "prob_shift_mean": d_p.mean(),
                     "prob_shift_p95": np.quantile(d_p, 0.95), "argmax_agree": agree})
    return rows


def generation(spec: str, n: int) -> dict:
    from generation_throughput import prompts_for, run_once

    from rlshift import models
    from rlshift.engine import GenerationSettings

    settings = GenerationSettings(max_new_tokens=32, temperature=0.7, top_p=0.95, seed=0)
    got = {}
    for q in ("fp32", "bf16"):
        loaded = models.load(spec, quantize=q)
        prompts, chat = prompts_for(loaded, n)
        run_once(loaded, prompts[:1], settings, chat, 1)
        got[q] = run_once(loaded, prompts, settings, chat, 16)
        if q == "bf16":
            got["bf16_alone"] = run_once(loaded, prompts, settings, chat, 1)
        tokens = sum(len(loaded.tokenizer(r[0], add_special_tokens=False)["input_ids"]) for r in got[q][1])
        got[q + "_tok_s"] = tokens / got[q][0]
    same = lambda a, b: sum(x == y for x, y in zip(a, b)) / len(a)  # noqa: E731
    return {"model": spec, "prompts": n, "fp32_tok_s": got["fp32_tok_s"], "bf16_tok_s": got["bf16_tok_s"],
            "bf16_equals_fp32": same(got["bf16"][1], got["fp32"][1]),
            "bf16_batched_equals_alone": same(got["bf16"][1], got["bf16_alone"][1])}


def main() -> None:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--prompts", type=int, default=16)
    args = parser.parse_args()
    with pd.option_context("display.width", 220, "display.max_columns", 20, "display.precision", 3):
        print(pd.DataFrame([r for m in MODELS for r in scoring(m, args.items)]).to_string(index=False), flush=True)
        print(pd.DataFrame([generation(m, args.prompts) for m in MODELS]).to_string(index=False))


if __name__ == "__main__":
    main()
