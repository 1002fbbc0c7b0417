"""Fine-tune the committed reward model's upper Gemma layers with LoRA, from the linear head
(rlshift.training.lora_reward).

    RLSHIFT_DATA_MIRROR=../shared/data python data/scripts/train_lora_reward.py \
        [--first-layer 4] [--rank 8] [--epochs 2] [--learning-rate 1e-4] [--out DIR]

Trains on the linear head's training pairs less a validation share, keeps the step with the best
validation accuracy, and scores the evaluation halves (printed, and kept in the record). It
checkpoints as it goes: run the same command again to resume. Writing to
data/reward_models/<name> (the default; --name gemma-3-270m-lora) also rewrites its manifest entries.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import pandas as pd

from rlshift import manifest
from rlshift.training import linear_reward, lora_reward

NAME = "gemma-3-270m-lora"


def main(argv=None) -> int:
    defaults = lora_reward.LoraRewardConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for field in ("first_layer", "rank", "alpha", "epochs", "batch_pairs", "checks", "seed"):
        ap.add_argument("--" + field.replace("_", "-"), type=int, default=getattr(defaults, field))
    for field in ("learning_rate", "head_learning_rate", "validation", "dropout"):
        ap.add_argument("--" + field.replace("_", "-"), type=float, default=getattr(defaults, field))
    ap.add_argument("--start", default=defaults.start, help="the committed linear head whose design it takes")
    ap.add_argument("--train-sets", nargs="+", default=[], help="train on these sets only (default: the head's)")
    ap.add_argument("--name", default=NAME, help="its name: data/reward_models/<name>, read as book:<name>")
    ap.add_argument("--out", type=Path, default=None, help="write elsewhere (the committed models are left as they are)")
    ap.add_argument("--mirror", default=None, help="data mirror (default: RLSHIFT_DATA_MIRROR, else the hub)")
    args = vars(ap.parse_args(argv))
    name, mirror = args.pop("name"), args.pop("mirror")
    out = args.pop("out") or linear_reward.DIR / name
    config = dataclasses.replace(defaults, **dict(args, train_sets=tuple(args["train_sets"])))
    record = lora_reward.train(config, out, mirror=mirror, progress=lambda m: print(m, flush=True))
    print(pd.DataFrame(record["log"]).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"kept step {record['kept_step']}; {record['seconds'] / 60:.1f} min; evaluation halves:")
    print(pd.DataFrame(record["accuracy"]).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if out.resolve() == (linear_reward.DIR / name).resolve():
        manifest.update(linear_reward.manifest_entries(out, name))
        print("manifest updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
