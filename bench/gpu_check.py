"""The engine on a GPU: load paths, speed and the 4-bit shift, on models built on the spot (prints a table).

    bash bench/gpu_check.sh            # on a lent GPU machine (the device tool): wheels, then this
    python bench/gpu_check.py --size tiny --items 16 --out /tmp/gpu   # the CPU-runnable parts

No hub and no registry on that machine, so a byte-level BPE tokenizer is trained on this
repo's own text, and a small Llama and a small Gemma 3 are made and trained for a few hundred
steps on the same text (random weights give near-uniform log-probs, on which a quantization
shift would look smaller than on a trained model). Each is then loaded through `models.load`
in nf4 4-bit (the default on CUDA), 8-bit and bf16 (fp32 and bf16 on CPU) and scored through
the engine (`Scorer`, batch size 'auto'): lettered choices and 4-ending continuations, items/s,
the batch size 'auto' found, peak GPU memory, the log-prob shift of each quantization against
bf16 (mean and 95th percentile |difference|, argmax agreement), the per-layer readout's time over
its forward pass (every component; the logit-lens chapter's resid + mlp), and generation tokens/s batched
and one prompt at a time on the same prompts, with the share of identical samples. The table is
printed and written to OUT/gpu_check.csv and .md. The models are small and trained on little
text: the figures check the code paths and their relative costs, not a 7B model's numbers.
This is a benchmark, not a test: read its figures.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {  # hidden, layers, heads, kv heads, intermediate, head dim
    "tiny": {"llama": (64, 2, 4, 2, 128, 16), "gemma3": (64, 2, 2, 1, 128, 32)},
    "gpu": {"llama": (2048, 16, 16, 8, 5632, 128), "gemma3": (1152, 18, 4, 1, 6912, 256)},  # ~0.8B; Gemma-3-1B's shape
}


def corpus() -> list[str]:
    """Lines of this repo's prose and code: what the tokenizer and the models learn."""
    lines = []
    for pattern in ("book/*.md", "README.md", "lib/rlshift/**/*.py", "bench/*.py", "tests/*.py"):
        for path in sorted(ROOT.glob(pattern)):
            lines += [line.strip() for line in path.read_text(errors="ignore").splitlines() if len(line.strip()) > 20]
    return lines


def make_tokenizer(folder: Path, lines: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=vocab_size,
                                                       special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>")
    fast.save_pretrained(folder)
    return fast


def make_model(family: str, size: str, tok, folder: Path, lines: list[str], steps: int, device: str) -> dict:
    """A small model of the family, trained `steps` steps on the corpus, saved in bf16."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM

    hidden, layers, heads, kv, inter, head_dim = SIZES[size][family]
    common = dict(vocab_size=len(tok), hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                  num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=2048, head_dim=head_dim,
                  pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    if family == "llama":
        config, cls = LlamaConfig(**common), LlamaForCausalLM
    else:
        config, cls = Gemma3TextConfig(**common, sliding_window=512), Gemma3ForCausalLM
    with torch.device(device):
        model = cls(config)
    ids = tok("\n".join(lines))["input_ids"]
    block, batch = 256, 16 if device == "cuda" else 2
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4 if size == "gpu" else 1e-3)
    rng = random.Random(0)
    start, losses = time.perf_counter(), []
    model.train()
    for _ in range(steps):
        starts = [rng.randrange(0, max(1, len(ids) - block)) for _ in range(batch)]
        x = torch.tensor([ids[s:s + block] for s in starts], device=device)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    model.to(torch.bfloat16).save_pretrained(folder)
    tok.save_pretrained(folder)
    n_params = model.num_parameters()
    del model, optimizer
    if device == "cuda":
        torch.cuda.empty_cache()
    return {"n_params": n_params, "train_steps": steps, "train_s": time.perf_counter() - start,
            "loss_first": losses[0] if losses else math.nan, "loss_last": losses[-1] if losses else math.nan}


def items(lines: list[str], n: int, seed: int = 0):
    """Lettered four-way choices and four-ending continuations made of corpus lines."""
    from rlshift.requests import Request, Text

    rng = random.Random(seed)
    letter, cloze, prompts = [], [], []
    for i in range(n):
        q, *opts = rng.sample(lines, 5)
        body = "\n".join(f"{L}. {o[:60]}" for L, o in zip("ABCD", opts))
        letter.append(Request(f"letter-{i}", f"Question: {q[:120]}\n{body}\nAnswer:", (" A", " B", " C", " D")))
        cloze.append(Request(f"cloze-{i}", q[:100], tuple(" " + o[:40] for o in opts)))
        prompts.append(Text(f"gen-{i}", q[:80]))
    return letter, cloze, prompts


def lens_cost(scorer, letter, kw: dict, cuda: bool) -> dict:
    """The per-layer readout's time over the forward pass it runs (the same batches), every
    component and the logit-lens chapter's resid + mlp (issue 18's target: <= 1.5x)."""
    import torch

    from rlshift.engine import Request

    reqs = [Request(r.item_id, r.context, r.options[:1]) for r in letter]
    seqs = [scorer.lm.encode_context(r.context, False) for r in reqs]
    size = scorer.lm.rows  # the rows of the last run (the CUDA probe's, or the CPU token budget's)

    def timed(run) -> float:
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start

    forward = timed(lambda: [scorer.lm.forward(seqs[i:i + size], keep=1) for i in range(0, len(seqs), size)])
    every = timed(lambda: scorer.layer_readout(reqs, **kw))
    chapter = timed(lambda: scorer.layer_readout(reqs, components=("resid", "mlp"), **kw))
    return {"lens_all_x_forward": every / forward, "lens_resid_mlp_x_forward": chapter / forward}


def measure(path: Path, quantize: str, letter, cloze, prompts, n_alone: int, new_tokens: int) -> tuple[dict, dict]:
    import torch

    from rlshift import models
    from rlshift.engine import GenerationSettings, Scorer

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    loaded = models.load(str(path), quantize=quantize)
    row = {"quantize": loaded.info["quantization"], "load_s": time.perf_counter() - start}
    scorer = Scorer(loaded, cache=None, batch_size="auto", progress=False)
    kw = dict(chat=False, template="gpu-check", data_version="gpu-check")
    values = {}
    for name, reqs, verb in (("letter", letter, scorer.choice_logprobs), ("cloze", cloze, scorer.continuation_logprobs)):
        verb(reqs[:2], **kw)  # warm-up (and the 'auto' probe)
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        frame = verb(reqs, **kw)
        if cuda:
            torch.cuda.synchronize()
        row[f"{name}_items_per_s"] = len(reqs) / (time.perf_counter() - start)
        values[name] = frame["logprob"].to_numpy()
    row["auto_batch_size"] = scorer.lm.rows
    row.update(lens_cost(scorer, letter, kw, cuda))
    settings = GenerationSettings(max_new_tokens=new_tokens, temperature=0.7, top_p=0.95, seed=0)
    tok = loaded.tokenizer
    timed = {}
    for label, reqs, rows in (("alone", prompts[:n_alone], 1), ("batched", prompts, max(16, len(prompts)))):
        start = time.perf_counter()
        frame = scorer.generate(reqs, settings, batch_rows=rows, **kw)
        took = time.perf_counter() - start
        tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in frame["raw"])
        timed[label] = (frame["raw"].tolist(), tokens / took)
    row["gen_tok_s_alone"], row["gen_tok_s_batched"] = timed["alone"][1], timed["batched"][1]
    row["gen_identical_share"] = sum(a == b for a, b in zip(timed["alone"][0], timed["batched"][0])) / n_alone
    row["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else math.nan
    del scorer, loaded
    if cuda:
        torch.cuda.empty_cache()
    return row, values


def main(argv: list[str] | None = None) -> "pd.DataFrame":
    import numpy as np
    import pandas as pd
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="gpu" if torch.cuda.is_available() else "tiny")
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--alone", type=int, default=8, help="prompts also generated one at a time")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_check_out")))
    parser.add_argument("--work", type=Path, default=Path("/tmp/rlshift_gpu_check"))
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    quants = ["bf16", "8bit", "4bit"] if cuda else ["bf16", "fp32"]
    print(f"torch {torch.__version__}, cuda {torch.version.cuda}, device "
          f"{torch.cuda.get_device_name() if cuda else 'cpu'}; quantizations {quants}", flush=True)
    lines = corpus()
    args.work.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(args.work / "tokenizer", lines, args.vocab)
    letter, cloze, prompts = items(lines, args.items)
    prompts = prompts[:max(args.alone, min(len(prompts), 64))]
    rows = []
    for family in ("llama", "gemma3"):
        folder = args.work / f"{family}-{args.size}"
        built = make_model(family, args.size, tok, folder, lines, args.train_steps, device)
        print(f"{family}: {built['n_params'] / 1e6:.0f}M parameters, loss {built['loss_first']:.2f} -> "
              f"{built['loss_last']:.2f} in {built['train_steps']} steps ({built['train_s']:.0f} s)", flush=True)
        reference = None
        for quant in quants:
            row, values = measure(folder, quant, letter, cloze, prompts, args.alone, args.new_tokens)
            reference = reference or values
            for name in ("letter", "cloze"):
                diff = np.abs(values[name] - reference[name])
                row[f"{name}_shift_mean"] = float(diff.mean())
                row[f"{name}_shift_p95"] = float(np.quantile(diff, 0.95))
                pick = values[name].reshape(-1, 4).argmax(1)
                row[f"{name}_argmax_agree"] = float((pick == reference[name].reshape(-1, 4).argmax(1)).mean())
            rows.append({"model": f"{family} ({built['n_params'] / 1e6:.0f}M)", **row})
            print(json.dumps(rows[-1], default=str), flush=True)
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "gpu_check.csv", index=False)
    (args.out / "gpu_check.md").write_text(table.to_markdown(index=False, floatfmt=".3g") + "\n")
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.precision", 3):
        print(table.to_string(index=False))
    print(f"written: {args.out / 'gpu_check.csv'}, {args.out / 'gpu_check.md'} (shifts are against bf16)")
    return table


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "lib"))
    main()
