"""Linguistic benchmarks, base vs SFT vs tuned (plan 4.1): syntax (BLiMP, SyntaxGym, BIG-bench
agreement, CoLA), semantics (NLI, paraphrase, BoolQ, COPA, Winogrande, CoQA) and pragmatics
(ImpPres, Ruis et al., GRICE, BIG-bench), zero- and few-shot, by log-probability and by free
answers; the notebook tells the story."""
from rlshift.studies.linguistic import figures
from rlshift.studies.linguistic.analysis import (accuracy, by_category, coqa_rows, coqa_summary, contrasts, domain_effects,
                                                 free_answers, free_summary, gained_tokens, headline, inspection, map_reply, mass,
                                                 mixed_model, shot_curves)
from rlshift.studies.linguistic.inputs import Prepared, data_table, export_and_read, prepare
from rlshift.studies.linguistic.params import PARAMS
from rlshift.studies.linguistic.scoring import read_roles
from rlshift.studies.linguistic.templates import TASKS
from rlshift.studies.linguistic.verdicts import HYPOTHESES, mass_sentences, sentences, verdicts

__all__ = ["HYPOTHESES", "PARAMS", "Prepared", "TASKS", "accuracy", "by_category", "coqa_rows", "coqa_summary", "contrasts",
           "data_table", "domain_effects", "figures", "free_answers", "free_summary", "gained_tokens", "headline", "inspection",
           "export_and_read", "map_reply", "mass", "mass_sentences", "mixed_model", "prepare", "read_roles", "sentences", "shot_curves", "verdicts"]
