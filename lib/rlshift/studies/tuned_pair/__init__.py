"""The controlled pair's chapter: what SFT and DPO did to the embedded base model.

Training lives in rlshift.training.policy (and data/scripts/train_tuned_pair.py); this package
evaluates the pair's three roles (base; SFT; tuned = SFT then DPO) on data none was trained on:

- held-out HH-RLHF pairs (the other half of the fixed split): the DPO policy's implicit reward
  beta * log(pi_tuned / pi_sft) should rank the chosen reply first; and each role's plain
  likelihood preference (does it give the chosen reply the higher log-prob?);
- BIG-bench hhh_alignment (shipped in data/), never used for training: the same two readings;
- KL of each tuned role from the base (and the tuned model from its SFT reference), exact over
  the vocabulary on the role's own sampled replies to held-out prompts;
- replies before and after each training stage.
Every log-prob goes through the shared engine and its cache.
"""
from rlshift.studies.tuned_pair import figures
from rlshift.studies.tuned_pair.analysis import (implicit_reward, kl_table, likelihood_preference, role_tests,
                                                 training_curves)
from rlshift.studies.tuned_pair.inputs import (TEMPLATE, chat_prompt, heldout, hhh_pairs, role_specs,
                                               sample_replies, score_pairs)
from rlshift.studies.tuned_pair.params import PARAMS
from rlshift.studies.tuned_pair.verdicts import verdicts

__all__ = ["PARAMS", "TEMPLATE", "chat_prompt", "figures", "heldout", "hhh_pairs", "implicit_reward", "kl_table",
           "likelihood_preference", "role_specs", "role_tests", "sample_replies", "score_pairs",
           "training_curves", "verdicts"]
