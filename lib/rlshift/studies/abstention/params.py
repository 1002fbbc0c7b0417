"""The "I don't know" chapter's parameters: the pair, the set's categories and sizes, the cut-off
that decides the dated questions, the prompt and the menu of abstentions (as data), free
generation, and the reward model of the reward view."""
from __future__ import annotations

from rlshift.errors import InputError
from rlshift.params import Param, Schema
from rlshift.studies import common
from rlshift.training.reward_model import UTILITIES

CATEGORIES = ("answerable", "unanswerable", "dated_event", "polite")
# What the model reads: the same text for every stage, the question after an instruction that
# permits abstaining (else a base model has no reason to), or the bare question.
INSTRUCTIONS = {
    "permit": "Answer the question. If the answer cannot be known, say so.",
    "none": "",
}
# The menu of abstentions scored as continuations (their probability mass is the model's
# propensity to abstain); the answers on the menu are the item's own (right and wrong).
ABSTAIN_FORMS = ["I don't know.", "I'm not sure.", "Nobody knows.", "It is not known.",
                 "There is no way to know.", "I cannot know that."]
# The last year a model's training data covers in full (events after it cannot be known to the
# model): Gemma 3's data runs to August 2024; Llama-2's pretraining to September 2022; Llama 3.1's
# to December 2023. A pair not listed needs `cutoff_year`.
CUTOFF_YEARS = {"embedded": 2023, "llama-2-7b": 2021, "llama-2-13b": 2021, "llama-2-70b": 2021,
                "llama-3.1-8b": 2023}


def _categories(value) -> None:
    bad = [c for c in value if c not in CATEGORIES]
    if bad or not value:
        raise InputError(f"parameter 'categories': {bad or value} not accepted. Accepted: a non-empty list from "
                         f"{list(CATEGORIES)}.")


def _forms(value) -> None:
    if not value or not all(isinstance(f, str) and f.strip() for f in value):
        raise InputError(f"parameter 'abstain_forms' = {value!r}: accepted a non-empty list of non-empty strings.")


def _cutoff_known(P: dict) -> None:
    if P["cutoff_year"] is None and "dated_event" in P["categories"] and P["model_pair"] not in CUTOFF_YEARS:
        raise InputError(f"parameter 'cutoff_year' is needed for model_pair {P['model_pair']!r} (its training "
                         f"cut-off is not on record here; known: {CUTOFF_YEARS}). Accepted: the last year its "
                         f"training data covers in full, e.g. 2021.")


def cutoff_year(P: dict) -> int:
    return P["cutoff_year"] if P["cutoff_year"] is not None else CUTOFF_YEARS[P["model_pair"]]


PARAMS = Schema(
    *common.pair_params(),
    *common.stage_params("run"),
    Param("categories", list, list(CATEGORIES), "The set's categories to run.", check=_categories),
    Param("n_items", int, 60, "Questions per category (a seeded sample; all where a category has fewer).",
          minimum=4),
    Param("cutoff_year", int, None, "The last year the models' training data covers in full: dated events "
          "after it should be abstained on, those up to it answered (default: the pair's, where on record).",
          optional=True, minimum=1990, maximum=2100),
    Param("instruction", str, "permit", "The instruction before the question: 'permit' (answer, or say the "
          "answer cannot be known) or 'none'.", choices=tuple(INSTRUCTIONS)),
    Param("abstain_forms", list, ABSTAIN_FORMS, "The menu of abstentions scored after the prompt.", check=_forms),
    common.prompt_format("raw"),
    Param("n_generate", int, 20, "Questions per category answered freely (greedy), classified into answer / "
          "abstain.", minimum=0),
    Param("max_new_tokens", int, 32, "Length of the free answers.", minimum=4, maximum=256),
    *common.reward_model_params([f"trained:{u}" for u in UTILITIES], "The reward models of the reward view: "
                                "'trained:<utility>' (the reward-collapse chapter's, trained once into the cache), "
                                "hub ids or folders; [] for none."),
    common.data_mirror("Folder holding hh-rlhf/ for a trained judge (else RLSHIFT_DATA_MIRROR, else the hub)."),
    common.seed(),
    common.quantize(),
    common.batch_size(),
    Param("n_boot", int, 1000, "Bootstrap resamples (CIs) and permutations (paired tests).", minimum=50,
          maximum=20000),
    Param("alpha", float, 0.05, "Family-wise error rate of each family of tests (Holm).", minimum=0.001,
          maximum=0.5),
    common.cache_dir(),
    checks=(_cutoff_known,),
)
