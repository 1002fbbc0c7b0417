"""Fit the committed linear reward head on the embedded Gemma (rlshift.training.linear_reward).

    RLSHIFT_DATA_MIRROR=../shared/data python data/scripts/train_linear_reward.py \
        [--layer 10] [--per-set 300] [--sets hh_rlhf pandalm ...] [--out DIR]

Fits on the preference sets' training halves and scores their evaluation halves (printed, and
kept in the record). Writing to data/reward_models/gemma-3-270m-linear (the default) also
rewrites its manifest entries; with --out elsewhere the committed head is left as it is.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import pandas as pd

from rlshift import manifest
from rlshift.training import linear_reward

NAME = "gemma-3-270m-linear"


def main(argv=None) -> int:
    defaults = linear_reward.LinearRewardConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layer", type=int, default=defaults.layer)
    ap.add_argument("--per-set", type=int, default=defaults.per_set)
    ap.add_argument("--sets", nargs="+", default=list(defaults.sets))
    ap.add_argument("--out", type=Path, default=linear_reward.DIR / NAME)
    ap.add_argument("--mirror", default=None, help="data mirror (default: RLSHIFT_DATA_MIRROR, else the hub)")
    args = ap.parse_args(argv)
    config = dataclasses.replace(defaults, layer=args.layer, per_set=args.per_set, sets=tuple(args.sets)).check()
    record = linear_reward.train(config, args.out, mirror=args.mirror)
    print(pd.DataFrame(record["cv_accuracy"]).to_string(index=False))
    print(f"chosen C {record['C']}; {record['seconds'] / 60:.1f} min; evaluation halves:")
    print(pd.DataFrame(record["accuracy"]).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.out.resolve() == (linear_reward.DIR / NAME).resolve():
        manifest.update(linear_reward.manifest_entries(args.out, NAME))
        print("manifest updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
