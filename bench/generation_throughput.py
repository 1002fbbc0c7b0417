"""Tokens/s of the generation verb, batched vs one prompt at a time, on the same prompts (prints a table).

    python bench/generation_throughput.py [--prompts 16] [--batch-rows 8 16] [--new-tokens 32] [--quantize fp32]

Both ways run through `generate_call` with no cache; the samples of the two ways are compared
(they must be identical: a row's noise depends on its seed, item and sample index alone). `identical_samples`
is the share of prompts whose samples are the same both ways. The
chat model gets its chat template, the base model raw text. Tokens are the generated tokens of
every row up to its end (re-tokenized), the same count for both ways. This is a benchmark, not
a test: read its figures.
"""
from __future__ import annotations

import argparse
import time

MODELS = ["embedded:smollm2-135m-instruct", "embedded:gemma-3-270m"]
INSTRUCTIONS = [
    "Explain why the sky is blue.", "Write a short poem about the sea.", "Give three tips for learning to cook.",
    "What is the capital of Australia, and why is it not Sydney?", "Describe a cat to someone who has never seen one.",
    "How do vaccines work?", "Summarise the plot of Romeo and Juliet.", "What should I pack for a weekend hike?",
    "Why do leaves change colour in autumn?", "Tell me a joke about computers.",
    "How can I improve my sleep?", "What is the difference between weather and climate?",
    "Suggest a name for a bakery.", "Explain photosynthesis to a child.", "What makes a good friend?",
    "How does a bicycle stay upright?", "Write a haiku about snow.", "What are the benefits of reading?",
    "Why is exercise good for the brain?", "How do airplanes fly?", "What is a black hole?",
    "Give me a recipe for pancakes.", "How do I write a good email?", "What causes earthquakes?"]


def prompts_for(loaded, n: int):
    from rlshift.requests import Text

    tok = loaded.tokenizer
    chat = bool(getattr(tok, "chat_template", None))
    texts = []
    for i in range(n):
        q = INSTRUCTIONS[i % len(INSTRUCTIONS)] + ("" if i < len(INSTRUCTIONS) else f" (version {i})")
        texts.append(tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                             add_generation_prompt=True) if chat
                     else f"Question: {q}\nAnswer:")
    return [Text(f"bench-{i}", t) for i, t in enumerate(texts)], chat


def run_once(loaded, prompts, settings, chat: bool, batch_rows: int):
    from rlshift.engine.generate import generate_call

    call = generate_call(loaded, prompts, settings, chat=chat, progress=False, batch_rows=batch_rows)
    start = time.perf_counter()
    values = dict(v for batch in call.compute(list(range(len(prompts)))) for v in batch)
    return time.perf_counter() - start, [values[i]["raw"] for i in range(len(prompts))]


def measure(spec: str, n: int, batch_rows: list[int], new_tokens: int, quantize: str) -> list[dict]:
    import torch

    from rlshift import models
    from rlshift.engine import GenerationSettings

    loaded = models.load(spec, quantize=quantize)
    prompts, chat = prompts_for(loaded, n)
    settings = GenerationSettings(max_new_tokens=new_tokens, temperature=0.7, top_p=0.95, seed=0)
    run_once(loaded, prompts[:1], settings, chat, 1)  # warm-up
    alone_s, alone = run_once(loaded, prompts, settings, chat, 1)
    tokens = sum(len(loaded.tokenizer(raw[0], add_special_tokens=False)["input_ids"]) for raw in alone)
    rows = []
    for b in batch_rows:
        batch_s, batched = run_once(loaded, prompts, settings, chat, b)
        rows.append({"model": spec, "dtype": loaded.info["quantization"], "threads": torch.get_num_threads(),
                     "prompts": n, "new_tokens": new_tokens, "generated_tokens": tokens, "batch_rows": b,
                     "one_at_a_time_tok_s": tokens / alone_s, "batched_tok_s": tokens / batch_s,
                     "speedup": alone_s / batch_s,
                     "identical_samples": sum(a == x for a, x in zip(alone, batched)) / len(alone)})
    return rows


def main() -> None:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--batch-rows", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--quantize", default="fp32")
    parser.add_argument("--models", nargs="*", default=MODELS)
    args = parser.parse_args()
    rows = [r for m in args.models for r in measure(m, args.prompts, args.batch_rows, args.new_tokens, args.quantize)]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 2):
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
