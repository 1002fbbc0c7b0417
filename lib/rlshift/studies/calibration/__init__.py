"""Calibration of base vs RL-tuned models (Kadavath et al. 2022, part 1; plan 4.4): tasks are
`dataset:style:k_shot` strings (rlshift.tasks), each model read in raw text and in the chat
template; the notebook tells the story."""
from rlshift.studies.calibration import figures
from rlshift.studies.calibration.analysis import (headline, READING_NAMES, across_tasks, contrasts, none_of_the_above,
                                                  predictions, quantization_effect, reliability, selective, summary,
                                                  temperature_crossfit, temperature_sweep)
from rlshift.studies.calibration.inputs import (content_free_prior, item_table, p_true_table, position_bias, prepare,
                                                quantization_runs, score_roles, verbalized_table)
from rlshift.studies.calibration.params import (CLOZE_NORMS, DEFAULT_TASKS, OPTION_ORDERS, PARAMS, READINGS,
                                                VERBALIZED_TASKS)
from rlshift.studies.calibration.verdicts import verdicts

__all__ = ["headline", "CLOZE_NORMS", "DEFAULT_TASKS", "OPTION_ORDERS", "PARAMS", "READINGS", "READING_NAMES",
           "VERBALIZED_TASKS", "across_tasks", "content_free_prior", "contrasts", "figures", "item_table",
           "none_of_the_above", "p_true_table", "position_bias", "predictions", "prepare", "quantization_effect",
           "quantization_runs", "reliability", "score_roles", "selective", "summary", "temperature_crossfit",
           "temperature_sweep", "verbalized_table", "verdicts"]
