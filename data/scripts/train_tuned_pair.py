"""Retrain the committed SFT and DPO LoRA adapters of the controlled pair (rlshift.training.policy),
and train its on-policy RL stage (rlshift.training.rl).

    python data/scripts/train_tuned_pair.py [--stages sft dpo] [--n-sft N|all] [--n-dpo N|all] [--out DIR]
    python data/scripts/train_tuned_pair.py --stages rl [--reward-model gemma-3-270m-linear] [--rl-prompts 96]
                                            [--rl-lr 1e-4] [--rl-beta 0.05] [--rl-epochs 1]

Reads HH-RLHF harmless-base through the mirror (RLSHIFT_DATA_MIRROR, else ../shared/data beside
the repo) or the hub. The RL stage starts from the SFT adapter in --out and is rewarded by a committed
reward head (data/reward_models/<name>, rlshift.training.linear_reward) or a reward-model folder.
Writing to data/adapters (the default) also rewrites the manifest entries;
with --out elsewhere the committed adapters are left as they are.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from rlshift import artifacts, manifest
from rlshift.studies.common import BOOK_PREFIX
from rlshift.training import linear_reward, policy, rl


def main(argv=None) -> int:
    defaults = policy.TuneConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", nargs="+", default=list(policy.STAGES), choices=policy.STAGES + (rl.STAGE,))
    count = lambda v: v if v == "all" else int(v)  # noqa: E731
    ap.add_argument("--n-sft", type=count, default=defaults.n_sft, help="a count or 'all' (default)")
    ap.add_argument("--n-dpo", type=count, default=defaults.n_dpo, help="a count or 'all' (default)")
    ap.add_argument("--sft-epochs", type=int, default=defaults.sft_epochs)
    ap.add_argument("--dpo-epochs", type=int, default=defaults.dpo_epochs)
    ap.add_argument("--seed", type=int, default=defaults.seed)
    ap.add_argument("--reward-model", default="gemma-3-270m-linear",
                    help="the RL stage's reward: a committed head's name, or a reward-model folder")
    ap.add_argument("--rl-prompts", type=int, default=96, help="training-half prompts of the RL stage")
    ap.add_argument("--rl-epochs", type=int, default=rl.RLConfig.epochs)
    ap.add_argument("--rl-beta", type=float, default=rl.RLConfig.beta, help="the RL stage's KL penalty weight")
    ap.add_argument("--rl-lr", type=float, default=rl.RLConfig.learning_rate, help="the RL stage's learning rate")
    ap.add_argument("--out", type=Path, default=artifacts.ADAPTER_DIR)
    ap.add_argument("--mirror", default=None, help="data mirror (default: RLSHIFT_DATA_MIRROR, else the hub)")
    args = ap.parse_args(argv)
    mirror = args.mirror  # else RLSHIFT_DATA_MIRROR, else the hub
    config = dataclasses.replace(defaults, n_sft=args.n_sft, n_dpo=args.n_dpo, sft_epochs=args.sft_epochs,
                                 dpo_epochs=args.dpo_epochs, seed=args.seed)
    dirs = policy.train_pair(config, args.out, mirror=mirror, stages=[s for s in args.stages if s in policy.STAGES])
    if rl.STAGE in args.stages:
        folder = Path(args.reward_model)
        reward_id = str(folder.resolve()) if folder.is_dir() else BOOK_PREFIX + args.reward_model
        folder = folder if folder.is_dir() else linear_reward.build(args.reward_model)
        rl_config = rl.RLConfig(base=config.base, epochs=args.rl_epochs, beta=args.rl_beta,
                                learning_rate=args.rl_lr, seed=args.seed).check()
        dirs[rl.STAGE] = args.out / f"{config.base.split(':', 1)[-1]}-{rl.STAGE}"
        command = (f"python data/scripts/train_tuned_pair.py --stages rl --reward-model {args.reward_model} "
                   f"--rl-prompts {args.rl_prompts} --rl-epochs {args.rl_epochs} --rl-beta {args.rl_beta} "
                   f"--rl-lr {args.rl_lr}")
        rl.train_stage(rl_config, args.rl_prompts, dirs["sft"], folder, dirs[rl.STAGE], mirror=mirror, command=command,
                       reward_id=reward_id)
    if args.out.resolve() == artifacts.ADAPTER_DIR.resolve():
        manifest.update([e for s in args.stages for e in artifacts.adapter_manifest_entries(dirs[s], dirs[s].name)])
        print(f"manifest updated for {', '.join(args.stages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
