"""The reward-collapse chapter's parameters: the reward models (named, and trained here with each
utility), their training data and settings, the evaluation data, and the base model's samples."""
from __future__ import annotations

from rlshift import paths
from rlshift.data import annotations, preferences
from rlshift.data.preferences import ANSWER_FORMATS
from rlshift.engine import INPUT_FORMS
from rlshift.errors import InputError, unknown
from rlshift.params import Param, Schema
from rlshift.studies import common
from rlshift.training.reward_model import UTILITIES

TRAINED_PREFIX = common.TRAINED_PREFIX
IMPLICIT = "implicit:dpo"  # the pair's DPO stage read as a reward model: beta * log(pi_dpo / pi_sft)
FREE_FORM_NAMES = tuple(n for n in preferences.NAMES if preferences.kind_of(n) != "closed")
WITHIN_SAMPLERS = {"base": "raw", "dpo": "chat", "tuned": "chat"}  # sampler role -> the format it answers in
# FineGrainedRLHF: whole questions with up to four ranked answers (six comparisons), where the
# utilities can differ (with two responses per prompt any increasing utility pulls them apart).
DEFAULT_TRAIN_DATA = {"boolq": 56, "hhh_alignment": 40, "hh_rlhf": 56, "finegrained_rlhf": 48}


def _check_train_data(table) -> None:
    if not table:
        raise InputError("parameter 'train_data' is empty: give {dataset: pairs}, e.g. {'boolq': 64, 'hh_rlhf': 64}.")
    for name, n in table.items():
        if name not in preferences.NAMES:
            raise unknown("dataset in 'train_data':", name, preferences.NAMES)
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise InputError(f"parameter 'train_data': {name}={n!r} is not accepted: an integer >= 2 (pairs).")


def _check_nonempty(name):
    def check(values) -> None:
        if not values:
            raise InputError(f"parameter {name!r} is empty: give at least one.")
    return check


PARAMS = Schema(
    Param("reward_model", str, "trained:standard",
          "The reward model of the main analysis: 'trained:<utility>' (trained in the book), 'book:<name>' (committed "
          "with it), 'implicit:dpo', a hub "
          "id (the plan's OpenAssistant/reward-model-deberta-v3-large-v2, or another of common.HUB_REWARD_MODELS) "
          "or a local folder.",
          check=lambda v: common.check_reward_model("reward_model", v, also=(IMPLICIT,))),
    Param("committed_reward_models", list,
          [common.BOOK_PREFIX + n for n in ("gemma-3-270m-linear", "gemma-3-270m-lora")],
          "Reward models committed with the book ('book:<name>': Bradley-Terry heads on the embedded Gemma, a linear "
          "one on its frozen features and one with LoRA-tuned upper layers, trained on every preference set's "
          "training half), analysed beside the others; [] for none.",
          check=lambda v: common.check_reward_models(v, parameter="committed_reward_models")),
    Param("implicit_reward", bool, True, "Also analyse the DPO stage's implicit reward beta * log(pi_dpo / pi_sft) "
          "(the preference model DPO trains; pairs whose SFT and DPO stages were trained in the book)."),
    Param("trained_utilities", list, list(UTILITIES),
          "Train one reward model per utility and analyse each (the extension); [] trains none.",
          choices=UTILITIES),
    Param("input_form", str, "auto", "How a hub or local reward model reads (prompt, response): a text pair, its "
          "chat template, or 'auto' (the form common.HUB_REWARD_MODELS lists for it, else a pair). Models trained "
          "here read a pair.", choices=INPUT_FORMS + ("auto",)),
    Param("train_data", dict, DEFAULT_TRAIN_DATA,
          "Training pairs per dataset, drawn from each dataset's training half.", check=_check_train_data),
    Param("train_epochs", int, 4, "Epochs over the training pairs.", minimum=1, maximum=100),
    Param("train_lr", float, 3e-4, "Learning rate of the backbone (the head's is 10x).", minimum=1e-7, maximum=0.1),
    Param("train_batch_size", int, 8, "Preference pairs per training step.", minimum=1, maximum=512),
    Param("max_length", int, 128, "Tokens of (prompt, response) a trained reward model reads (the prompt "
          "loses its beginning first).", minimum=16, maximum=512),
    Param("retrain", bool, False, "Train again even where the cache holds a model for these settings."),
    Param("n_boolq", int, 60, "BoolQ items (from the evaluation half), each answered correctly and "
          "incorrectly in every answer format.", minimum=1),
    Param("answer_formats", list, list(ANSWER_FORMATS), "How BoolQ answers are rendered.",
          choices=tuple(ANSWER_FORMATS), check=_check_nonempty("answer_formats")),
    Param("open_data", list, ["hh_rlhf", "llmbar"], "Open-ended preference datasets (evaluation halves).",
          choices=FREE_FORM_NAMES, check=_check_nonempty("open_data")),
    Param("n_open", int, 60, "Preference pairs per open-ended dataset.", minimum=1),
    *common.pair_params(),  # model_pair, base_model, tuned_model: the samplers of answers
    Param("n_generate_boolq", int, 10, "BoolQ items the base model answers (0 = none).", minimum=0),
    Param("n_generate_open", int, 3, "Prompts per open-ended dataset the base model answers (0 = none).", minimum=0),
    Param("max_new_tokens", int, 24, "Longest open-ended answer, in tokens (BoolQ answers: 4).",
          minimum=1, maximum=1024),
    Param("temperature", float, 0.7, "Sampling temperature (0 = greedy).", minimum=0.0, maximum=5.0),
    Param("top_p", float, 0.95, "Nucleus sampling mass.", minimum=0.01, maximum=1.0),
    Param("n_samples", int, 1, "Samples per prompt.", minimum=1, maximum=32),
    Param("within_prompts", int, 10, "Prompts per task (BoolQ and each free-form set) for the within-prompt "
          "analysis: many sampled answers per prompt, all rewarded (0 = skip).", minimum=0),
    Param("within_samples", int, 16, "Sampled answers per prompt and sampler in the within-prompt analysis.",
          minimum=4, maximum=256),
    Param("within_samplers", list, ["base", "tuned"], "Who answers in the within-prompt analysis: the pair's "
          "base model (raw prompting), its tuned model and its DPO stage where it has one (their chat format).",
          choices=tuple(WITHIN_SAMPLERS),
          check=_check_nonempty("within_samplers")),
    common.seed("Seed for sampling items, training, generation and resampling."),
    Param("batch_size", int, 16, "Sequences per reward-model forward pass.", minimum=1, maximum=1024),
    common.quantize(),  # for the base model and hub reward models
    Param("alpha", float, 0.05, "Significance level of the tests.", minimum=0.001, maximum=0.5),
    common.data_mirror(),
    common.cache_dir(),
    Param("model_dir", str, None, "Folder where trained reward models are kept (created if missing; default: "
          "the rlshift cache).", optional=True, check=lambda v: paths.check_folder_to_make(v, "model_dir")),
    Param("annotation_sheet", str, None, "CSV for people to label the base model's open-ended answers "
          "(default: in the rlshift cache, named by the generation settings).", optional=True,
          check=annotations.check_sheet),
)


def reward_model_names(reward_model: str, trained_utilities, implicit: bool = False, committed=()) -> list[str]:
    """The main reward model first, then every trained one, then the committed ones, then the
    DPO stage's implicit reward (each once)."""
    names = ([reward_model] + [TRAINED_PREFIX + u for u in trained_utilities] + list(committed)
             + ([IMPLICIT] if implicit else []))
    return list(dict.fromkeys(names))
