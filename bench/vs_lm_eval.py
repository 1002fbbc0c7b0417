"""The rlshift engine against lm-evaluation-harness, side by side, on the same items and model.

    pip install -r bench/requirements.txt          # lm-eval 0.4.13 (not needed by the book)
    # or, keeping the project's venv as it is: a venv that sees its packages, lm-eval on top
    #   .venv/bin/python -m venv ../bench-venv
    #   echo "$PWD/.venv/lib/python3.11/site-packages" > ../bench-venv/lib/python3.11/site-packages/rlshift.pth
    #   echo "$PWD/lib" >> ../bench-venv/lib/python3.11/site-packages/rlshift.pth
    #   ../bench-venv/bin/pip install lm-eval==0.4.13
    RLSHIFT_DATA_MIRROR=../shared/data python bench/vs_lm_eval.py [--items 40] [--rounds 2] \
        [--models smollm2-135m-instruct gemma-3-270m] [--shapes ... blimp_minimal_pairs]

For each embedded model (loaded once from its converted local folder and handed to lm-eval's
`HFLM` as `pretrained=`, so both engines run the very same weights) and each task shape, both
engines score the same rendered prompts: lm-eval through a task YAML that reads them from a
local JSON file, rlshift through its Scorer. Runs alternate (rlshift, lm-eval, rlshift, ...)
in one process; the best round of each is reported.
Printed per shape: items/s of each and the ratio, peak RSS during each run, argmax agreement
and the largest |delta log p| per option (per sentence for BLiMP); then the engine's achieved
FLOP/s on long prompts (the 5-shot prompts, each run whole, attention counted) against this
machine's measured fp32 matmul rate, and on the HellaSwag items the batch-size invariance
(batch 1 vs the batch used) of both engines. `--lm-eval-batch-size 2` where lm-eval's
full-vocabulary logits at every position do not fit in memory at the default batch (Gemma
5-shot on 24 GB).
Shapes: MMLU lettered 0-shot and 5-shot (one token per option), HellaSwag (4 multi-token
endings after one shared context) and BLiMP minimal pairs (`--items` pairs, a seeded sample
spread evenly over the 67 paradigms, read from `$RLSHIFT_DATA_MIRROR/blimp/*.jsonl`, default
../shared/data; one pair is one item). BLiMP runs as lm-eval's `blimp_*` tasks do (their own
`_template_yaml`, included, with only the data source replaced): an empty context and the two
sentences as the choices, so each sentence is scored after the prefix token (BOS, else EOS) as
" " + sentence without special tokens; rlshift scores the same texts with
`Scorer.sequence_logprobs`. Model loading is not timed. A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psutil  # noqa: E402
import torch  # noqa: E402

from rlshift import models, paths, prompts  # noqa: E402
from rlshift import tasks  # noqa: E402
from rlshift.engine import Scorer  # noqa: E402
from rlshift.requests import Request, Text  # noqa: E402

BLIMP = "blimp_minimal_pairs"
SHAPES = {"mmlu_letter_0shot": "mmlu:letter:0", "mmlu_letter_5shot": "mmlu:letter:5",
          "hellaswag_4_endings": "hellaswag:cloze:0", BLIMP: None}

TASK_YAML = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{options}}}}"
doc_to_target: "{{{{answer}}}}"
target_delimiter: ""
metric_list:
  - metric: acc
"""

# lm-eval's own blimp template (empty doc_to_text, doc_to_choice [sentence_good, sentence_bad],
# the default target_delimiter " ", acc), with only the data source replaced by a local file.
BLIMP_YAML = """include: {template}
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    train: {path}
"""


class PeakRSS:
    """Samples this process's resident memory while a run is in progress."""

    def __enter__(self):
        self.peak, self._stop = 0, threading.Event()
        proc = psutil.Process()

        def sample():
            while not self._stop.is_set():
                self.peak = max(self.peak, proc.memory_info().rss)
                time.sleep(0.02)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def matmul_rate(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.matmul(a, b)
    return 2 * n ** 3 * repeats / (time.perf_counter() - start)


def forward_flops(model, lengths, kept_logits: int) -> float:
    """Matmul FLOPs of scoring sequences of these lengths: 2 x (non-embedding parameters) per
    token, causal attention (QK^T and AV over the lower triangle: 2 L^2 x attention width per
    layer), and the output layer on the kept positions. Padding is not counted."""
    config = model.config
    emb = model.get_input_embeddings().weight
    body = sum(p.numel() for p in model.parameters()) - emb.numel()
    width = config.num_attention_heads * (getattr(config, "head_dim", None)
                                          or config.hidden_size // config.num_attention_heads)
    attention = sum(2.0 * config.num_hidden_layers * n * n * width for n in lengths)
    return 2.0 * body * sum(lengths) + attention + 2.0 * emb.numel() * kept_logits


def blimp_pairs(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` BLiMP minimal pairs spread evenly over the paradigms: each paradigm's pairs in a seeded
    order, then taken round-robin over the paradigms (also in a seeded order) until `n`."""
    folder = (paths.data_mirror() or paths.REPO_ROOT.parent / "shared" / "data") / "blimp"
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise SystemExit(f"no BLiMP files (*.jsonl) in {folder}: set RLSHIFT_DATA_MIRROR to a folder holding blimp/")
    frame = pd.concat([pd.read_json(f, lines=True, dtype={"pairID": str}) for f in files], ignore_index=True)
    rng = np.random.default_rng(seed)
    frame = frame.iloc[rng.permutation(len(frame))]
    order = dict(zip(sorted(frame["UID"].unique()), rng.permutation(frame["UID"].nunique())))
    frame = frame.assign(rank=frame.groupby("UID").cumcount(), paradigm=frame["UID"].map(order))
    frame = frame.sort_values(["rank", "paradigm"]).head(n)
    return pd.DataFrame({"item_id": frame["UID"] + "-" + frame["pairID"],
                         "sentence_good": frame["sentence_good"], "sentence_bad": frame["sentence_bad"]})


def blimp_rlshift_run(scorer: Scorer, texts):
    """Both sentences' log-likelihoods, one row per pair: columns 0 (good) and 1 (bad)."""
    frame = scorer.sequence_logprobs(texts, chat=False, template="bench", data_version="bench")
    pair = frame["item_id"].str.rsplit("|", n=1, expand=True)
    frame = frame.assign(pair=pair[0], option_index=pair[1].map({"good": 0, "bad": 1}))
    return frame.pivot(index="pair", columns="option_index", values="logprob")


def rlshift_run(scorer: Scorer, requests, style: str):
    verb = scorer.choice_logprobs if style == "letter" else scorer.continuation_logprobs
    frame = verb(requests, chat=False, template="bench", data_version="bench")
    return frame.pivot(index="item_id", columns="option_index", values="logprob")


def lm_eval_run(lm, task_manager, name: str):
    import lm_eval

    out = lm_eval.simple_evaluate(model=lm, tasks=[name], task_manager=task_manager, log_samples=True,
                                  num_fewshot=0, bootstrap_iters=0, verbosity="ERROR")
    rows = {}
    for sample in out["samples"][name]:
        rows[sample["doc"]["item_id"]] = [float(r[0][0]) for r in sample["resps"]]
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=lambda v: v if v == "auto" else int(v), default=8,
                        help="rlshift's rows per batch, or 'auto' (on CPU: rows for about 384 tokens, 8 to 64)")
    parser.add_argument("--lm-eval-batch-size", type=int, default=None,
                        help="lm-eval's batch size if not --batch-size (it keeps full-vocabulary logits at every "
                             "position: Gemma 5-shot at batch 8 needs more than 24 GB)")
    parser.add_argument("--models", nargs="*", default=list(models.EMBEDDED))
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES))
    args = parser.parse_args()

    from lm_eval.models.huggingface import HFLM
    import lm_eval.tasks as lm_eval_tasks
    from lm_eval.tasks import TaskManager

    unknown = sorted(set(args.shapes) - set(SHAPES))
    if unknown:
        parser.error(f"unknown shapes {unknown}; accepted: {list(SHAPES)}")
    blimp = blimp_pairs(args.items, seed=0) if BLIMP in args.shapes else None  # before any model loads
    blimp_template = Path(lm_eval_tasks.__file__).parent / "blimp" / "_template_yaml"

    print(f"torch threads: {torch.get_num_threads()}; fp32 matmul rate: {matmul_rate() / 1e9:.1f} GFLOP/s")
    workdir = Path(tempfile.mkdtemp(prefix="rlshift-bench-"))
    for name in args.models:
        loaded = models.load(f"embedded:{name}", quantize="fp32", device="cpu")
        bos = loaded.tokenizer("x")["input_ids"][0] == loaded.tokenizer.bos_token_id
        lm_batch = args.lm_eval_batch_size or (8 if args.batch_size == "auto" else args.batch_size)
        lm = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=lm_batch,
                  device="cpu", add_bos_token=bos)
        scorer = Scorer(loaded, cache=None, batch_size=args.batch_size, progress=False)
        print(f"\n{name} ({loaded.info['n_params'] / 1e6:.0f}M parameters, fp32, batch {args.batch_size} "
              f"(lm-eval {lm_batch}), "
              f"BOS {'added' if bos else 'none'})")
        print(f"{'shape':22s} {'rlshift it/s':>12s} {'lm-eval it/s':>12s} {'ratio':>6s} {'RSS rl GB':>9s} "
              f"{'RSS lm GB':>9s} {'argmax':>7s} {'max|dlogp|':>10s}")
        for shape in args.shapes:
            path = workdir / f"{name}-{shape}.jsonl"
            task_name = f"rlshift_bench_{name.replace('-', '_').replace('.', '_')}_{shape}"
            if shape == BLIMP:  # a pair is one item; each sentence a whole text after the prefix token
                requests = [Text(f"{r.item_id}|{which}", " " + getattr(r, f"sentence_{which}"))
                            for r in blimp.itertuples() for which in ("good", "bad")]
                blimp.to_json(path, orient="records", lines=True)
                (workdir / f"{task_name}.yaml").write_text(
                    BLIMP_YAML.format(template=blimp_template, name=task_name, path=path))
            else:
                (task, items), = tasks.prepare([SHAPES[shape]], args.items, seed=0)
                requests = task.requests(items, "raw", loaded.tokenizer, seed=0)
                answers = items.frame.set_index("item_id")["answer"]
                with open(path, "w") as handle:
                    for r in requests:
                        handle.write(json.dumps({"item_id": r.item_id, "context": r.context, "options": list(r.options),
                                                 "answer": int(answers[r.item_id])}) + "\n")
                (workdir / f"{task_name}.yaml").write_text(TASK_YAML.format(name=task_name, path=path))
            manager = TaskManager(include_path=str(workdir))
            best = {"rlshift": np.inf, "lm-eval": np.inf}
            peak = {"rlshift": 0, "lm-eval": 0}
            for _ in range(args.rounds):
                for engine in ("rlshift", "lm-eval"):
                    with PeakRSS() as rss:
                        start = time.perf_counter()
                        if engine == "rlshift" and shape == BLIMP:
                            ours = blimp_rlshift_run(scorer, requests)
                        elif engine == "rlshift":
                            ours = rlshift_run(scorer, requests, task.style)
                        else:
                            theirs = lm_eval_run(lm, manager, task_name)
                        best[engine] = min(best[engine], time.perf_counter() - start)
                    peak[engine] = max(peak[engine], rss.peak)
            theirs = theirs.loc[ours.index]
            a, b = ours.to_numpy(float), theirs.to_numpy(float)
            valid = ~np.isnan(a)
            agree = float(np.mean(np.nanargmax(a, 1) == np.nanargmax(np.where(valid, b, -np.inf), 1)))
            delta = float(np.nanmax(np.abs(a - b)))
            n = len(ours) if shape == BLIMP else len(requests)  # a pair is one item
            print(f"{shape:22s} {n / best['rlshift']:12.2f} {n / best['lm-eval']:12.2f} "
                  f"{best['lm-eval'] / best['rlshift']:6.2f} {peak['rlshift'] / 2**30:9.2f} "
                  f"{peak['lm-eval'] / 2**30:9.2f} {agree:7.3f} {delta:10.2e}", flush=True)
            if shape == "mmlu_letter_5shot":  # long prompts, each run whole: the roofline
                whole = Scorer(loaded, cache=None, batch_size=args.batch_size, progress=False, prefix_sharing=False)
                lengths = [len(whole.lm.encode_context(r.context, False)) for r in requests]
                start = time.perf_counter()
                rlshift_run(whole, requests, task.style)
                achieved = forward_flops(loaded.model, lengths, n) / (time.perf_counter() - start)
                print(f"{'':22s} long prompts run whole ({np.mean(lengths):.0f} tokens): achieved "
                      f"{achieved / 1e9:.1f} GFLOP/s = {achieved / matmul_rate():.0%} of the measured matmul rate")
            if shape == "hellaswag_4_endings":  # batch-size invariance of both engines
                one = rlshift_run(Scorer(loaded, batch_size=1, progress=False), requests, "cloze")
                lm.batch_size_per_gpu = 1
                theirs_one = lm_eval_run(lm, manager, task_name).loc[ours.index]
                lm.batch_size_per_gpu = lm_batch
                letters = [Request(r.item_id, r.context, tuple(prompts.letter_options(2))) for r in requests]
                one_l = rlshift_run(Scorer(loaded, batch_size=1, progress=False), letters, "letter")
                many_l = rlshift_run(scorer, letters, "letter")
                ours_d = np.abs(one.to_numpy() - a)
                theirs_d = np.abs(theirs_one.to_numpy(float) - b)
                print(f"batch-size invariance, max |dlogp| of batch 1 vs the batch above: continuations rlshift "
                      f"{np.nanmax(ours_d):.2e} (relative {np.nanmax(ours_d / np.abs(a)):.1e}), lm-eval "
                      f"{np.nanmax(theirs_d):.2e} (relative {np.nanmax(theirs_d / np.abs(b)):.1e}); "
                      f"single tokens rlshift {np.nanmax(np.abs(one_l.to_numpy() - many_l.to_numpy())):.2e}")


if __name__ == "__main__":
    main()
