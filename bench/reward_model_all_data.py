"""How far the book's reward-model recipe gets with all the offline preference data (issue 14).

    RLSHIFT_DATA_MIRROR=../shared/data python bench/reward_model_all_data.py \
        [--lr 1e-4] [--max-length 192] [--epochs 2] [--frozen-layers 3] [--out DIR]

Trains the `standard` (Bradley-Terry) all-MiniLM-L6-v2 reward model of `rlshift.training.
reward_model` on the training half of every preference set the reward-collapse chapter can read
(HH-RLHF, PandaLM, LLMBar, Auto-J, FineGrainedRLHF, hhh_alignment, BoolQ: every pair, BoolQ one
answer format per item), then prints its pairwise accuracy with Wilson 95% intervals on each
set's whole evaluation half, which no training step saw. A benchmark, not a test: about 40
minutes on this 2-core CPU.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from rlshift.data import preferences
from rlshift.training import reward_model as rm

SETS = ("hh_rlhf", "pandalm", "llmbar", "auto_j", "finegrained_rlhf", "hhh_alignment", "boolq")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-length", type=int, default=192)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--frozen-layers", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="where the model is saved (default: a temporary folder)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="rm-all-data-")) / "model"
    train = [p for name in SETS for p in preferences.sample(preferences.load(name, "train"), "all", seed=0).pairs]
    print(f"training pairs: {len(train)}", flush=True)
    config = rm.TrainConfig(utility="standard", epochs=args.epochs, lr=args.lr, head_lr=1e-3, batch_size=16,
                            max_length=args.max_length, heldout_fraction=0.05, frozen_layers=args.frozen_layers)
    start = time.time()
    trained = rm.train(train, config, out, progress=False)
    print(f"trained in {time.time() - start:.0f} s; held-out share of the training halves per epoch:")
    print(trained.log[trained.log["split"] == "held-out"].to_string(index=False))
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out)
    frames = []
    for name in SETS:
        pairs = preferences.sample(preferences.load(name, "eval"), "all", seed=0).pairs
        prompts = [p.prompt for p in pairs]
        frames.append(pd.DataFrame({
            "source": name, "kind": [p.kind for p in pairs],
            "r_chosen": rm.head_outputs(model, tokenizer, prompts, [p.chosen for p in pairs], args.max_length),
            "r_rejected": rm.head_outputs(model, tokenizer, prompts, [p.rejected for p in pairs], args.max_length)}))
    print("evaluation halves:")
    print(rm.heldout_accuracy(pd.concat(frames, ignore_index=True)).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
