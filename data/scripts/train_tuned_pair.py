"""Retrain the committed SFT and DPO LoRA adapters of the controlled pair (rlshift.training.policy).

    python data/scripts/train_tuned_pair.py [--stages sft dpo] [--n-sft N] [--n-dpo N] [--out DIR]

Reads HH-RLHF harmless-base through the mirror (RLSHIFT_DATA_MIRROR, else ../shared/data beside
the repo) or the hub. Writing to data/adapters (the default) also rewrites the manifest entries;
with --out elsewhere the committed adapters are left as they are.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from rlshift import artifacts, manifest
from rlshift.training import policy


def main(argv=None) -> int:
    defaults = policy.TuneConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", nargs="+", default=list(policy.STAGES), choices=policy.STAGES)
    ap.add_argument("--n-sft", type=int, default=defaults.n_sft)
    ap.add_argument("--n-dpo", type=int, default=defaults.n_dpo)
    ap.add_argument("--epochs", type=int, default=defaults.epochs)
    ap.add_argument("--seed", type=int, default=defaults.seed)
    ap.add_argument("--out", type=Path, default=artifacts.ADAPTER_DIR)
    ap.add_argument("--mirror", default=None, help="data mirror (default: RLSHIFT_DATA_MIRROR, else the hub)")
    args = ap.parse_args(argv)
    mirror = args.mirror  # else RLSHIFT_DATA_MIRROR, else the hub
    config = dataclasses.replace(defaults, n_sft=args.n_sft, n_dpo=args.n_dpo, epochs=args.epochs, seed=args.seed)
    dirs = policy.train_pair(config, args.out, mirror=mirror, stages=args.stages)
    if args.out.resolve() == artifacts.ADAPTER_DIR.resolve():
        manifest.update([e for s in args.stages for e in artifacts.adapter_manifest_entries(dirs[s], dirs[s].name)])
        print(f"manifest updated for {', '.join(args.stages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
