"""Where relational answers surface, layer by layer, base vs SFT vs tuned (plan 4.6; Merullo et
al. 2023): the logit lens on Merullo's tasks, the o-vector intervention, framed capital
completions; the notebook tells the story."""
from rlshift.studies.logit_lens import figures
from rlshift.studies.logit_lens.analysis import (headline, accuracy, framing_effects, intervention_success, intervention_tests,
                                                 item_layers, late_layer_shift, layer_curves, stage_agreement,
                                                 surfacing_shift)
from rlshift.studies.logit_lens.inputs import data_table, prepare, read_roles
from rlshift.studies.logit_lens.params import PARAMS, QUESTIONS
from rlshift.studies.logit_lens.verdicts import verdicts

__all__ = ["headline", "PARAMS", "QUESTIONS", "accuracy", "data_table", "figures", "framing_effects", "intervention_success",
           "intervention_tests", "item_layers", "late_layer_shift", "layer_curves", "prepare", "read_roles",
           "stage_agreement", "surfacing_shift", "verdicts"]
