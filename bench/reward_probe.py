"""Does a linear reward head on a frozen backbone beat chance on the held-out halves? (issue 14)

    RLSHIFT_DATA_MIRROR=../shared/data python bench/reward_probe.py \
        [--models gemma-3-270m smollm2-135m-instruct] [--sets hh_rlhf] [--max-length 256]

Each pair's prompt + response (the last `max-length` tokens, so the response is kept) runs once
through the embedded backbone without its unembedding. The features of a response are the hidden
state after every layer at its last token, and the mean over the response's tokens. A
Bradley-Terry head r = w . h (logistic regression on chosen - rejected differences, both signs,
no intercept) is fitted on the sets' training halves; its layer, feature and strength C are
chosen by 5-fold cross-validation over training prompts (rlshift.training.linear_reward's fit),
then the one chosen head is scored on each set's whole evaluation half (Wilson 95% intervals),
which neither the fit nor the choice saw. A benchmark, not a test: 21.6 minutes for Gemma on
HH-RLHF on this 2-core CPU (README).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

CS = (0.003, 0.03, 0.3)


def features(loaded, pairs, max_length: int, batch: int = 8) -> dict[str, np.ndarray]:
    """{'last', 'mean'}: (responses, layers + 1, hidden) for chosen then rejected responses."""
    import torch

    tok, body = loaded.tokenizer, loaded.model.model  # the decoder stack, without the unembedding
    seqs = []
    for p in pairs:
        ctx = tok(p.prompt)["input_ids"]
        for response in (p.chosen, p.rejected):
            resp = tok(" " + response.strip(), add_special_tokens=False)["input_ids"][:max_length - 1]
            ids = (ctx + resp)[-max_length:]
            seqs.append((ids, len(resp)))
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i][0]))
    last = mean = None
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            width = max(len(seqs[i][0]) for i in rows)
            ids = torch.full((len(rows), width), tok.pad_token_id or 0)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):
                n = len(seqs[i][0])
                ids[r, :n], mask[r, :n] = torch.tensor(seqs[i][0]), 1
            states = torch.stack(body(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states, 1)
            if last is None:
                shape = (len(seqs), states.shape[1], states.shape[-1])
                last, mean = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
            for r, i in enumerate(rows):
                n, k = len(seqs[i][0]), seqs[i][1]
                last[i] = states[r, :, n - 1].float().numpy()
                mean[i] = states[r, :, n - k:n].float().mean(1).numpy()
    return {"last": last, "mean": mean}


def diffs(f: np.ndarray) -> np.ndarray:
    """chosen - rejected, per pair (the responses alternate chosen, rejected)."""
    return f[0::2] - f[1::2]


def main() -> None:
    from rlshift import models, stats
    from rlshift.data import preferences
    from rlshift.training.linear_reward import cross_validated, fit

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["gemma-3-270m"])
    ap.add_argument("--sets", nargs="+", default=["hh_rlhf"])
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--limit", default="all", help="pairs per set and half (a seeded sample; 'all')")
    args = ap.parse_args()
    n = args.limit if args.limit == "all" else int(args.limit)
    train = {s: preferences.sample(preferences.load(s, "train"), n, seed=0).pairs for s in args.sets}
    held = {s: preferences.sample(preferences.load(s, "eval"), n, seed=0).pairs for s in args.sets}
    print(f"training pairs {sum(map(len, train.values()))}, evaluation pairs {sum(map(len, held.values()))}; "
          f"max_length {args.max_length}", flush=True)
    rows = []
    for name in args.models:
        start = time.time()
        loaded = models.load(f"embedded:{name}", quantize="fp32")
        f_train = features(loaded, [p for s in args.sets for p in train[s]], args.max_length)
        f_held = {s: features(loaded, held[s], args.max_length) for s in args.sets}
        took = time.time() - start
        groups = [f"{p.source}/{p.group or p.pair_id}" for s in args.sets for p in train[s]]
        grid = [(kind, layer, c, cross_validated(diffs(f_train[kind][:, layer]), groups, c, folds=5, seed=0))
                for kind in f_train for layer in range(f_train[kind].shape[1]) for c in CS]
        cv = pd.DataFrame(grid, columns=["feature", "layer", "C", "cv_accuracy"])
        best = cv.loc[cv["cv_accuracy"].idxmax()]
        print(f"{name}: features in {took:.0f} s; cross-validated accuracy by layer (best C per feature):")
        print(cv.groupby(["feature", "layer"])["cv_accuracy"].max().unstack(0).round(3).to_string())
        w = fit(diffs(f_train[best.feature][:, int(best.layer)]), float(best.C))
        for s in args.sets:
            d = diffs(f_held[s][best.feature][:, int(best.layer)])
            hits = int(((d @ w) > 0).sum())
            lo, hi = stats.wilson(hits, len(d))
            rows.append({"backbone": name, "head": f"{best.feature} token state, layer {int(best.layer)}, C {best.C}",
                         "train_cv": round(float(best.cv_accuracy), 3), "set": s, "n": len(d),
                         "accuracy": round(hits / len(d), 3), "ci": f"[{lo:.3f}, {hi:.3f}]"})
        del loaded, f_train, f_held
    print("evaluation halves (the chosen head, fitted on the whole training halves):")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
