"""Calibration of base vs RL-tuned models (Kadavath et al. 2022, part 1; plan 4.4): tasks are
`dataset:style:k_shot` strings (rlshift.tasks); the notebook tells the story."""
from rlshift.studies.calibration import figures
from rlshift.studies.calibration.analysis import (compare, informative, quantization_effect, reliability, selective,
                                                  summary, temperature_fit, temperature_sweep)
from rlshift.studies.calibration.inputs import item_table, prepare, quantization_runs, score_roles
from rlshift.studies.calibration.params import CLOZE_NORMS, DEFAULT_TASKS, PARAMS
from rlshift.studies.calibration.verdicts import verdicts

__all__ = ["CLOZE_NORMS", "DEFAULT_TASKS", "PARAMS", "compare", "figures", "informative", "item_table", "prepare",
           "quantization_effect", "quantization_runs", "reliability", "score_roles", "selective", "summary",
           "temperature_fit", "temperature_sweep", "verdicts"]
