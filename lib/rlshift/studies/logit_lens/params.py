"""The logit-lens chapter's parameters: the pair, the relational tasks and their prompts (as
data), the shots, the framings of the capital task, and Merullo et al.'s intervention."""
from __future__ import annotations

from rlshift.engine import COMPONENTS
from rlshift.errors import InputError
from rlshift.params import Param, Schema
from rlshift.studies import common

# Merullo et al.'s (2023) prompt shape ("Q: What is the capital of France?\nA: Paris\nQ: ...\nA:"),
# one question per task; `{argument}` is the item's input. The answer is read as its first token
# after " " (the position Merullo's reciprocal ranks are read at).
QUESTIONS = {
    "capital": "Q: What is the capital of {argument}?\nA:",
    "past_tense_regular": "Q: What is the past tense of {argument}?\nA:",
    "past_tense_irregular": "Q: What is the past tense of {argument}?\nA:",
    "uppercase": "Q: What is {argument} in uppercase?\nA:",
    "colored_object": "{argument}\nA:",
}
# Tasks whose argument is a word or a name (not a question), so that the argument's own first token
# can be ranked beside the answer's (Merullo's "argument formation" before "function application").
WORD_ARGUMENT = ("capital", "past_tense_regular", "past_tense_irregular", "uppercase")
FRAMINGS = ("plain", "benign", "harmful")
DEFAULT_TASKS = ["capital", "past_tense_regular", "past_tense_irregular", "uppercase", "colored_object"]
# Merullo's intervention context: the argument repeated among unrelated words, so the model
# predicts the argument itself and nothing cues the relation ("table mug free China table mug ...").
FILLER = "table mug free {argument} table mug free {argument} table mug free"


def _tasks(value) -> None:
    bad = [t for t in value if t not in QUESTIONS]
    if bad or not value:
        raise InputError(f"parameter 'tasks': {bad or value} not accepted. Accepted: a non-empty list from "
                         f"{list(QUESTIONS)}.")


def _components(value) -> None:
    if not {"resid", "mlp"} <= set(value):
        raise InputError(f"parameter 'components' = {value!r} must include 'resid' and 'mlp' (the answer's layer "
                         f"curves and the function-application layer read them). Accepted: a list from {list(COMPONENTS)}.")


def _intervention_tasks(P: dict) -> None:
    bad = [t for t in P["intervention_tasks"] if t not in WORD_ARGUMENT or t not in P["tasks"]]
    if bad:
        raise InputError(f"parameter 'intervention_tasks': {bad} not accepted. Accepted: tasks in 'tasks' whose "
                         f"argument is a word or a name ({', '.join(t for t in WORD_ARGUMENT if t in P['tasks'])}).")
    if P["intervention_tasks"] and P["n_sources"] + P["n_targets"] > P["n_items"]:
        raise InputError(f"parameters 'n_sources' + 'n_targets' = {P['n_sources'] + P['n_targets']} exceed 'n_items' "
                         f"= {P['n_items']}: the intervention's source and target items are disjoint items of the "
                         f"sample. Accepted: n_sources + n_targets <= n_items.")


PARAMS = Schema(
    *common.pair_params(),
    *common.stage_params("read"),
    Param("tasks", list, DEFAULT_TASKS, "Relational tasks (data/relations.jsonl).", check=_tasks),
    Param("n_items", int, 60, "Items per task (seeded sample).", minimum=4),
    Param("shots", list, [1, 3], "Worked examples before the question (Merullo: one-shot); each k is a "
          "condition.", minimum=0, maximum=10),
    Param("framings", list, list(FRAMINGS), "Framings of the capital completion (data/capital_framings.jsonl): "
          "plain, benign intent, harmful intent; [] to skip.", choices=FRAMINGS),
    Param("components", list, ["resid", "mlp"], "What the lens decodes at every layer: the residual stream "
          "(resid), the attention and MLP updates (attn, mlp); each is one unembedding product per layer (Gemma 3: "
          "262k entries), so attn is off unless asked for.", choices=COMPONENTS, check=_components),
    Param("n_framed", int, 40, "Capital items read under each framing.", minimum=2),
    Param("intervention_tasks", list, ["capital", "past_tense_irregular", "uppercase"], "Tasks for Merullo's "
          "o-vector intervention; [] to skip."),
    Param("n_sources", int, 3, "Items whose one-shot MLP update at the function-application layer gives an o "
          "vector.", minimum=1),
    Param("n_targets", int, 24, "Other items the o vector is applied to (in the filler context).", minimum=2),
    common.seed(),
    common.quantize(),
    common.prompt_format("raw"),
    common.batch_size(),
    Param("n_boot", int, 1000, "Bootstrap resamples over items (CIs and p-values).", minimum=50, maximum=20000),
    Param("alpha", float, 0.05, "Family-wise error rate of the tests (Holm).", minimum=0.001, maximum=0.5),
    common.cache_dir(),
    checks=(_intervention_tasks,),
)
