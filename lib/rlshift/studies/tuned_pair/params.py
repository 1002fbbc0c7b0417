"""The tuned-pair chapter's parameters: retraining settings, evaluation sizes, and the judge."""
from __future__ import annotations

from rlshift import paths
from rlshift.errors import InputError
from rlshift.params import Param, Schema
from rlshift.studies import common
from rlshift.training.policy import TuneConfig

TRAINED_PREFIX = common.TRAINED_PREFIX
HUB_JUDGE = common.HUB_REWARD_MODEL
NO_JUDGE = "none"


def _check_count(name: str, value) -> None:
    if value != "all" and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
        raise InputError(f"{name}={value!r} is not accepted: 'all' or an integer >= 2.")


def _check_judge_settings(table) -> None:
    from rlshift.studies import reward_collapse

    allowed = ("train_data", "train_epochs", "train_lr", "train_batch_size", "max_length")
    for name in table:
        if name not in allowed:
            raise InputError(f"parameter 'judge_settings': {name!r} is not accepted. Accepted: {', '.join(allowed)} "
                             f"(the reward-collapse chapter's training settings).")
    reward_collapse.PARAMS.validate(dict(table), partial=True)


PARAMS = Schema(
    Param("retrain", bool, False, "Train the adapters afresh (into the cache) instead of loading the committed ones."),
    Param("n_sft", (int, str), TuneConfig.n_sft, "SFT examples when retraining ('all' that fit, or a count).",
          check=lambda v: _check_count("n_sft", v)),
    Param("n_dpo", (int, str), TuneConfig.n_dpo, "DPO pairs when retraining ('all' that fit, or a count).",
          check=lambda v: _check_count("n_dpo", v)),
    Param("sft_epochs", int, TuneConfig.sft_epochs, "SFT epochs when retraining.", minimum=1),
    Param("dpo_epochs", int, TuneConfig.dpo_epochs, "DPO epochs when retraining.", minimum=1),
    Param("train_seed", int, TuneConfig.seed, "Training seed when retraining (LoRA initialisation and data order; "
          "a second seed of the committed pair is train_seed = 1).", minimum=0),
    Param("include_rl", bool, True, "Evaluate the committed on-policy RL stage (SFT then RLOO) beside DPO; left out "
          "when retrain is true (it was trained from the committed SFT model)."),
    Param("n_heldout", int, 160, "Held-out HH-RLHF pairs (the eval half) scored by every role.", minimum=2),
    Param("n_hhh", (int, str), "all", "BIG-bench hhh_alignment pairs scored ('all' or a count).",
          check=lambda v: _check_count("n_hhh", v)),
    Param("n_kl", int, 24, "Held-out prompts of the common reply pool on which every KL is measured (one reply "
          "per prompt from each role, sampled at temperature 1).", minimum=2),
    Param("n_win", int, 48, "Held-out prompts whose replies the judge compares with the chosen reply.", minimum=2),
    Param("temperature", float, 1.0, "Sampling temperature of the judged and shown replies (the KL pool is "
          "always sampled at 1; at 1 the same replies serve both).", minimum=0.05, maximum=2.0),
    Param("n_examples", int, 4, "Held-out prompts whose replies are shown.", minimum=0),
    Param("max_new_tokens", int, 48, "Length of sampled replies.", minimum=1),
    Param("judge", str, HUB_JUDGE,
          "The reward model that judges replies against the chosen reply: 'trained:standard' / "
          "'trained:prompt_aware' (the reward-collapse chapter's, trained with its settings or loaded from the "
          "cache), a hub id, a local folder, or 'none'.", check=lambda v: common.check_reward_model("judge", v, also=(NO_JUDGE,))),
    Param("judge_settings", dict, {}, "Overrides of the reward-collapse chapter's training settings for a "
          "trained judge (train_data, train_epochs, train_lr, train_batch_size, max_length).",
          check=_check_judge_settings),
    Param("model_dir", str, None, "Folder where trained reward models are kept (default: the rlshift cache).",
          optional=True, check=lambda v: paths.check_folder_to_make(v, "model_dir")),
    common.seed("Seeds the held-out sample, the sampling and the resampling."),
    common.quantize("fp32"),
    common.batch_size(),
    common.data_mirror("Folder holding hh-rlhf/ (else RLSHIFT_DATA_MIRROR, else the hub)."),
    common.cache_dir(),
)
