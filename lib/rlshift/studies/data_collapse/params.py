"""The collapse chapter's parameters: the two RL settings (PPO summarisation; the book's own
SFT -> {RL, DPO} pair on HH-RLHF dialogues), where their texts come from, how many inputs are read,
how the test inputs are split into in- and out-of-distribution parts, the outputs, the reward
models, and the annotators' sheets."""
from __future__ import annotations

from rlshift import models, paths
from rlshift.data.summaries import INSTRUCTGPT_SIZES
from rlshift.errors import InputError
from rlshift.params import Param, Schema
from rlshift.studies import common
from rlshift.training.reward_model import UTILITIES

SETTINGS = ("summaries", "dialogues")
TLDR_SOURCES = ("instructgpt", "hub")
# The hub path of the plan's setting: GPT-J 6B, CarperAI's SFT summariser and its PPO policy
# (trlx, Castricato et al. 2023), generating on CarperAI's TL;DR posts (a GPU, 4-bit).
TLDR_MODELS = {"base": "EleutherAI/gpt-j-6b", "sft": "CarperAI/openai_summarize_tldr_sft",
               "tuned": "CarperAI/openai_summarize_tldr_ppo"}
OOD_SOURCES = ("alpaca_eval", "pandalm", "llmbar", "auto_j")
INSTRUCTGPT_TUNED = ("ppo-noptx", "ppo-ptx")


def _settings(value) -> None:
    if not value or any(v not in SETTINGS for v in value) or len(set(value)) != len(value):
        raise InputError(f"parameter 'settings' = {value!r}: accepted a non-empty list of distinct names from "
                         f"{list(SETTINGS)}.")


def _ood(value) -> None:
    if not value or any(v not in OOD_SOURCES for v in value) or len(set(value)) != len(value):
        raise InputError(f"parameter 'ood_sources' = {value!r}: accepted a non-empty list of distinct names from "
                         f"{list(OOD_SOURCES)}.")


def _tldr_models(value) -> None:
    if not isinstance(value, dict) or not {"base", "tuned"} <= set(value) or set(value) - set(common.ROLES):
        raise InputError(f"parameter 'tldr_models' = {value!r}: accepted a dict with 'base' and 'tuned' (and "
                         f"optionally 'sft' and 'dpo') model specs, e.g. {TLDR_MODELS}.")
    for spec in value.values():
        models.check_spec(spec)


PARAMS = Schema(
    *common.pair_params(),
    *common.stage_params("run"),
    Param("settings", list, list(SETTINGS), "The RL settings: 'summaries' (PPO summarisation) and 'dialogues' (the "
          "book's pair on HH-RLHF).", check=_settings),
    Param("tldr_source", str, "instructgpt", "Where the summaries setting's texts come from: 'instructgpt' (the "
          "InstructGPT TL;DR samples: 100 posts summarised by GPT-3, SFT and PPO; the policy's own training posts "
          "are not published) or 'hub' (CarperAI's TL;DR train and test splits, summarised now by tldr_models).",
          choices=TLDR_SOURCES),
    Param("instructgpt_size", str, "6b", "The InstructGPT models' size (xl = 1.3B, 6b, 175b).",
          choices=INSTRUCTGPT_SIZES),
    Param("instructgpt_tuned", str, "ppo-noptx", "Which PPO policy is 'tuned': 'ppo-noptx' (PPO alone) or "
          "'ppo-ptx' (PPO mixed with pretraining gradients: the released InstructGPT).", choices=INSTRUCTGPT_TUNED),
    Param("tldr_models", dict, TLDR_MODELS, "The hub path's models by role (tldr_source='hub').", check=_tldr_models),
    Param("n_train", int, 300, "Training inputs read for the reference footprint (a seeded sample).", minimum=20),
    Param("n_candidates", int, 200, "Held-out inputs of the training distribution read as test candidates.",
          minimum=10),
    Param("ood_sources", list, ["alpaca_eval", "pandalm", "llmbar"], "Other instruction sets pooled into the "
          "dialogues setting's test candidates.", check=_ood),
    Param("n_per_source", int, 100, "Test candidates drawn from each of ood_sources.", minimum=5),
    Param("n_part", int, 50, "Test inputs in each part (the most and the least training-like candidates).",
          minimum=4),
    Param("neighbours", int, 10, "k of the typicality score: the mean distance to the k nearest training inputs.",
          minimum=1, maximum=100),
    Param("n_topics", int, 8, "Topics BERTopic fits on the inputs.", minimum=2, maximum=50),
    Param("top_k", int, 300, "Units of a sparse aspect (lemmas, POS trigrams) compared; the rest pooled.",
          minimum=20),
    Param("n_train_outputs", int, 50, "Training inputs the models answer, where there is a training pool "
          "(dialogues; summaries on the hub): their output footprint beside the test outputs' (0: none).",
          minimum=0),
    Param("max_new_tokens", int, 48, "Length of the generated replies and summaries.", minimum=8, maximum=512),
    Param("temperature", float, 0.7, "Sampling temperature of generation (0: greedy).", minimum=0.0, maximum=2.0),
    *common.reward_model_params([f"trained:{u}" for u in UTILITIES], "Reward models scoring the outputs: "
                                "'trained:<utility>' (the reward-collapse chapter's, shared through the cache), hub "
                                "ids or folders; the one with the best held-out accuracy carries the verdicts.",
                                required=True),
    Param("annotators", int, 2, "Annotation sheets exported (blind to the model), one per annotator.", minimum=1,
          maximum=20),
    Param("annotation_dir", str, None, "Folder of the annotators' sheets (annotator-<k>.csv; default: in the "
          "rlshift cache, named by the design).", optional=True,
          check=lambda v: paths.check_folder_to_make(v, "annotation_dir")),
    common.data_mirror("Folder holding hh-rlhf/, instructgpt-samples/, alpaca-eval/, pandalm/, llmbar/ (else "
                       "RLSHIFT_DATA_MIRROR, else the authors' files by URL)."),
    common.seed(),
    common.quantize(),
    common.batch_size(),
    Param("n_boot", int, 1000, "Bootstrap resamples and permutations.", minimum=50, maximum=20000),
    Param("alpha", float, 0.05, "Family-wise error rate of each family of tests (Holm).", minimum=0.001,
          maximum=0.5),
    common.cache_dir(),
)
