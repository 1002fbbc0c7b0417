"""The tuned-pair chapter's parameters: retraining settings and evaluation sizes."""
from __future__ import annotations

from rlshift.errors import InputError
from rlshift.params import Param, Schema
from rlshift.studies import common
from rlshift.training.policy import TuneConfig


def _check_count(name: str, value) -> None:
    if value != "all" and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
        raise InputError(f"{name}={value!r} is not accepted: 'all' or an integer >= 2.")


PARAMS = Schema(
    Param("retrain", bool, False, "Train the adapters afresh (into the cache) instead of loading the committed ones."),
    Param("n_sft", int, TuneConfig.n_sft, "SFT examples when retraining.", minimum=1),
    Param("n_dpo", int, TuneConfig.n_dpo, "DPO pairs when retraining.", minimum=1),
    Param("epochs", int, TuneConfig.epochs, "Epochs per stage when retraining.", minimum=1),
    Param("n_heldout", int, 160, "Held-out HH-RLHF pairs (the eval half) scored by every role.", minimum=2),
    Param("n_hhh", (int, str), "all", "BIG-bench hhh_alignment pairs scored ('all' or a count).",
          check=lambda v: _check_count("n_hhh", v)),
    Param("n_kl", int, 24, "Held-out prompts whose sampled replies measure KL between roles.", minimum=1),
    Param("n_examples", int, 4, "Held-out prompts whose replies are shown.", minimum=0),
    Param("max_new_tokens", int, 48, "Length of sampled replies.", minimum=1),
    common.seed("Seeds the held-out sample and the sampling."),
    common.quantize("fp32"),
    common.batch_size(),
    common.data_mirror("Folder holding hh-rlhf/ (else RLSHIFT_DATA_MIRROR, else the hub)."),
    common.cache_dir(),
)
