"""What the per-layer readout costs against a plain forward pass (prints a table).

    python bench/logit_lens_cost.py [--items 48] [--batch-size 8] [--shots 1 3]
    python bench/logit_lens_cost.py --models shape:llama-2-7b --items 16 --shots 1   # ~14 GB of RAM

The logit-lens chapter's own prompts (capitals, Merullo's k-shot shape) on the embedded models:
per prompt, the plain forward pass the readout runs (left-padded batches, the last position's
logits) against the readout of every layer's residual stream and every attention and MLP update
(3 x layers decodes through the final norm and unembedding), and the readout of the residual
stream and MLP updates only. No cache is used; a warm-up batch runs first. The decode is one
(rows x hidden) x (hidden x vocabulary) product per read, so its share shrinks with the prompt's
length and grows with the vocabulary (Gemma 3: 262k entries, 640 wide). A benchmark, not a test.

`shape:llama-2-7b` is the hub path's model in shape only: Llama-2-7B's exact configuration (4096
wide, 32 layers, 11008 MLP, 32k vocabulary) with random bf16 weights and a byte-level BPE
tokenizer trained on this repo's text (the hub cannot be reached here). Time depends on the shapes
and the token counts, not on the weights' values, so it measures the ratio the chapter's hub
path would see on this CPU.
"""
from __future__ import annotations

import argparse
import time

MODELS = ["embedded:smollm2-135m-instruct", "embedded:gemma-3-270m"]
SHAPES = {"llama-2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                             num_attention_heads=32, num_key_value_heads=32, vocab_size=32000)}


def shaped_model(name: str):
    """A hub model's exact shapes with random bf16 weights, wrapped as `models.load` returns it."""
    import tempfile
    from pathlib import Path

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from gpu_check import corpus, make_tokenizer
    from rlshift.models.load import LoadedModel

    tok = make_tokenizer(Path(tempfile.mkdtemp()), corpus(), 8000)
    config = LlamaConfig(**SHAPES[name], max_position_embeddings=4096, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    try:
        model = LlamaForCausalLM(config).eval()
    finally:
        torch.set_default_dtype(torch.float32)
    info = {"spec": f"shape:{name}", "revision": "random", "quantization": "bf16", "dtype": "torch.bfloat16",
            "has_chat_template": False}
    return LoadedModel(model, tok, info)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--models", nargs="+", default=MODELS,
                        help=f"embedded:<name> specs, or shape:<name> for {sorted(SHAPES)} (random weights)")
    args = parser.parse_args()

    import torch

    from rlshift import models
    from rlshift.engine import Request, Scorer
    from rlshift.studies.logit_lens import PARAMS, inputs

    P = PARAMS.validate({"tasks": ["capital"], "n_items": args.items, "framings": [], "intervention_tasks": []})
    prep = inputs.prepare(P)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.items} capital items, batch "
          f"{args.batch_size}, CPU (fp32; shape:* models bf16)")
    print(f"{'model':34} {'shots':>5} {'tokens':>6} {'forward s':>9} {'lens 3x s':>9} {'ratio':>6} "
          f"{'resid+mlp s':>11} {'ratio':>6}")
    for spec in args.models:
        if spec.startswith("shape:") and spec[6:] not in SHAPES:
            parser.error(f"--models: unknown shape {spec!r}; known: {sorted(SHAPES)}")
        loaded = shaped_model(spec[6:]) if spec.startswith("shape:") else models.load(spec, quantize="fp32")
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
