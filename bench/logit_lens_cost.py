"""What the per-layer readout costs against a plain forward pass (prints a table).

    python bench/logit_lens_cost.py [--items 48] [--batch-size 8] [--shots 1 3]

The logit-lens chapter's own prompts (capitals, Merullo's k-shot shape) on the embedded models:
per prompt, the plain forward pass the readout runs (left-padded batches, the last position's
logits) against the readout of every layer's residual stream and every attention and MLP update
(3 x layers decodes through the final norm and unembedding), and the readout of the residual
stream and MLP updates only. No cache is used; a warm-up batch runs first. The decode is one
(rows x hidden) x (hidden x vocabulary) product per read, so its share shrinks with the prompt's
length and grows with the vocabulary (Gemma 3: 262k entries, 640 wide). A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import time

MODELS = ["embedded:smollm2-135m-instruct", "embedded:gemma-3-270m"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()

    import torch

    from rlshift import models
    from rlshift.engine import Request, Scorer
    from rlshift.studies.logit_lens import PARAMS, inputs

    P = PARAMS.validate({"tasks": ["capital"], "n_items": args.items, "framings": [], "intervention_tasks": []})
    prep = inputs.prepare(P)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.items} capital items, batch "
          f"{args.batch_size}, fp32, CPU")
    print(f"{'model':34} {'shots':>5} {'tokens':>6} {'forward s':>9} {'lens 3x s':>9} {'ratio':>6} "
          f"{'resid+mlp s':>11} {'ratio':>6}")
    for spec in MODELS:
        loaded = models.load(spec, quantize="fp32")
        scorer = Scorer(loaded, cache=None, batch_size=args.batch_size, progress=False)
        for k in args.shots:
            reqs, _ = inputs.lens_requests(prep, [k], 0)
            reqs = [Request(r.item_id, r.context, r.options[:1]) for r in reqs]
            tokens = sum(len(scorer.lm.encode_context(r.context, False)) for r in reqs) / len(reqs)
            seqs = [scorer.lm.encode_context(r.context, False) for r in reqs]
            scorer.lm.forward(seqs[:args.batch_size], keep=1)  # warm-up
            start = time.perf_counter()
            for i in range(0, len(seqs), args.batch_size):  # the readout's own forward, without hooks or decodes
                scorer.lm.forward(seqs[i:i + args.batch_size], keep=1)
            forward = time.perf_counter() - start
            start = time.perf_counter()
            scorer.layer_readout(reqs, chat=False, template="b", data_version="b")
            lens = time.perf_counter() - start
            start = time.perf_counter()
            scorer.layer_readout(reqs, chat=False, template="b", data_version="b", components=("resid", "mlp"))
            two = time.perf_counter() - start
            print(f"{spec:34} {k:>5} {tokens:>6.0f} {forward:>9.2f} {lens:>9.2f} {lens / forward:>6.2f} "
                  f"{two:>11.2f} {two / forward:>6.2f}")
        del scorer, loaded


if __name__ == "__main__":
    main()
