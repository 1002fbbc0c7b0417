"""Throughput and peak memory of the scoring engine on the embedded models (prints a table).

    python bench/scoring_throughput.py [--items 48] [--batch-size 8] [--quantize fp32]

Shapes: lettered multiple choice (MMLU 0-shot and 5-shot prompts, one forward pass per item)
and continuations (HellaSwag, 4 endings per context). Each measurement runs in a fresh
process, so peak RSS is that measurement's own; the model load is not timed; a warm-up batch
is run first. No cache is used. This is a benchmark, not a test: read its figures.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

SHAPES = {"mmlu_letter_0shot": ("mmlu", "letter", 0), "mmlu_letter_5shot": ("mmlu", "letter", 5),
          "hellaswag_cloze_4endings": ("hellaswag", "cloze", 0)}
MODELS = ["embedded:smollm2-135m-instruct", "embedded:gemma-3-270m"]


def measure(spec: str, shape: str, n: int, batch_size: int, quantize: str) -> dict:
    import torch

    from rlshift import models, tasks
    from rlshift.engine import Scorer

    dataset, style, k = SHAPES[shape]
    (task, items), = tasks.prepare([f"{dataset}:{style}:{k}"], n, seed=0)
    loaded = models.load(spec, quantize=quantize)
    requests = task.requests(items, "raw", loaded.tokenizer, seed=0)
    scorer = Scorer(loaded, cache=None, batch_size=batch_size, progress=False)
    verb = scorer.choice_logprobs if style == "letter" else scorer.continuation_logprobs
    verb(requests[:batch_size], chat=False, template="bench", data_version="bench")  # warm-up
    tokens = sum(len(scorer.lm.encode_context(r.context, False)) for r in requests)
    start = time.perf_counter()
    verb(requests, chat=False, template="bench", data_version="bench")
    took = time.perf_counter() - start
    return {"model": spec, "shape": shape, "items": len(requests), "batch_size": batch_size,
            "quantize": loaded.info["quantization"], "threads": torch.get_num_threads(),
            "items_per_s": len(requests) / took, "context_tokens_per_item": tokens / len(requests),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--quantize", default="fp32")
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "SHAPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1], args.items, args.batch_size, args.quantize)))
        return
    print(f"{'model':34s} {'shape':26s} {'items':>5s} {'ctx tok':>7s} {'items/s':>8s} {'peak RSS GB':>11s}")
    for spec in MODELS:
        for shape in SHAPES:
            done = subprocess.run([sys.executable, __file__, "--one", spec, shape, "--items", str(args.items),
                                   "--batch-size", str(args.batch_size), "--quantize", args.quantize],
                                  capture_output=True, text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{r['model']:34s} {r['shape']:26s} {r['items']:5d} {r['context_tokens_per_item']:7.0f} "
                  f"{r['items_per_s']:8.2f} {r['peak_rss_gb']:11.2f}", flush=True)


if __name__ == "__main__":
    main()
