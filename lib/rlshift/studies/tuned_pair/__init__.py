"""The controlled pair's chapter: what SFT and DPO did to the embedded base model.

Training lives in rlshift.training.policy (and data/scripts/train_tuned_pair.py); this package
evaluates the pair's roles (base; SFT; dpo = SFT then DPO; rl = SFT then on-policy RL) on data none was trained on,
each role reading every prompt in two formats (raw: HH-RLHF's 'Human: ... Assistant:'
transcript; chat: Gemma's template, which the base never saw and SFT learned), a 2x2 of format
x tuning:

- held-out HH-RLHF pairs (the other half of the fixed split): the DPO policy's implicit reward
  beta * log(pi_dpo / pi_sft), and each role's likelihood preference in each format, with the
  stages' effects within a format (stats.factorial_contrasts);
- BIG-bench hhh_alignment (shipped in data/), never used for training: the same readings;
- KL between readings on ONE pool of replies (one per prompt from each role, in the format it is
  used in): token-level, exact over the vocabulary, on the pool and on each policy's own replies
  (`divergence`), with paired tests over prompts and the share of the KL that is the format;
- win rate of each role's replies against the held-out chosen reply, judged by a reward model
  (`judging`, the reward-collapse chapter's), read next to the judge's own held-out accuracy;
- the on-policy RL stage (SFT then RLOO against the book's reward model) beside DPO: its training
  trajectory, and reward against KL from SFT on held-out prompts by the optimised reward model
  and by held-out readings, where reward hacking would show (`reward_kl`);
- the recipe and GPU cost of a second training seed, from the committed logs (`recipe`).
Every log-prob and reward goes through the shared engine and its cache.
"""
from rlshift.studies.tuned_pair import figures
from rlshift.studies.tuned_pair.analysis import (headline, STAGES, implicit_outcomes, implicit_reward, judge_accuracy,
                                                 likelihood_preference, preference_by_format, preference_contrasts,
                                                 role_tests, training_curves, win_outcomes, win_rates, win_tests)
from rlshift.studies.tuned_pair.divergence import COMPARISONS, format_table, kl_table, kl_tests, reply_lengths
from rlshift.studies.tuned_pair.inputs import (DIVERGENCES, FORMATS, PAIR, SAMPLERS, TEMPLATE, base_tokenizer,
                                               chat_prompt, chosen_tokens, divergences, heldout, hhh_pairs,
                                               raw_prompt, role_replies, role_specs, sample_replies, score_pairs,
                                               score_replies)
from rlshift.studies.tuned_pair.judging import Judge, load_judge, pair_rewards, reference_accuracy, reply_rewards
from rlshift.studies.tuned_pair.params import PARAMS
from rlshift.studies.tuned_pair.recipe import recipe, training_cost
from rlshift.studies.tuned_pair.reward_kl import STAGE_ROLES, frontier, gains, trajectory
from rlshift.studies.tuned_pair.verdicts import endings, judge_state, limits, rl_stage, verdicts

__all__ = ["headline", "COMPARISONS", "DIVERGENCES", "FORMATS", "Judge", "PAIR", "PARAMS", "SAMPLERS", "STAGES",
           "STAGE_ROLES", "TEMPLATE", "base_tokenizer", "chat_prompt", "chosen_tokens", "divergences", "endings",
           "figures", "format_table", "frontier", "gains", "heldout", "hhh_pairs", "implicit_outcomes",
           "implicit_reward", "judge_accuracy", "judge_state", "kl_table", "kl_tests", "likelihood_preference",
           "limits", "load_judge", "pair_rewards", "preference_by_format", "preference_contrasts", "raw_prompt",
           "recipe", "reference_accuracy",
           "reply_lengths", "reply_rewards", "rl_stage", "role_replies", "role_specs", "role_tests",
           "sample_replies", "score_pairs", "score_replies", "training_cost", "training_curves", "trajectory",
           "verdicts", "win_outcomes", "win_rates", "win_tests"]
