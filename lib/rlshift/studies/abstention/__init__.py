"""When should a model say "I don't know", and do base and RL-tuned models know? (plan 4.4,
subproject 3): the shipped set of answerable, unanswerable, dated and polite questions, the
stages' abstention mass, free answers and a reward model's view; the notebook tells the story."""
from rlshift.studies.abstention import figures
from rlshift.studies.abstention.analysis import (headline, abstention_calibration, classify, discrimination, free_answers,
                                                 free_rates, free_tests, is_correct, preference_shares, propensity,
                                                 reward_view, stage_contrasts)
from rlshift.studies.abstention.inputs import (GROUPS, load_set, prepare, replies_table, reward_model_rewards,
                                               score_roles)
from rlshift.studies.abstention.params import CUTOFF_YEARS, PARAMS, cutoff_year
from rlshift.studies.abstention.verdicts import verdicts

__all__ = ["headline", "CUTOFF_YEARS", "GROUPS", "PARAMS", "abstention_calibration", "classify", "cutoff_year", "discrimination",
           "figures", "free_answers", "free_rates", "free_tests", "is_correct", "load_set", "preference_shares",
           "prepare", "propensity", "replies_table", "reward_model_rewards", "reward_view", "score_roles",
           "stage_contrasts", "verdicts"]
