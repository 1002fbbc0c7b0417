"""Reward collapse (Song et al. 2023; plan section 4.3): are reward distributions polarised on
closed-ended prompts and continuous on open-ended ones, or the same shape everywhere?

Reward models: one named by the `reward_model` parameter (trained in the book, a hub id such as
OpenAssistant/reward-model-deberta-v3-large-v2, or a local folder) and the models trained in the
book with each utility in `trained_utilities` (rlshift.training.reward_model). Closed-ended: BoolQ
(correct vs incorrect answer, in several answer formats). Free-form: preference pairs
(rlshift.data.preferences), objective-preference (LLMBar, hhh_alignment's honesty items) or open
(people's taste: HH-RLHF), analysed apart. Then the base model's own samples, judged automatically (BoolQ) or by
people through an annotation sheet (open-ended) (`samples`). The notebook tells the story.
"""
from rlshift.studies.reward_collapse import figures
from rlshift.studies.reward_collapse.analysis import (headline, accuracy_board, annotation_agreement, describe, one_factor_comparison, polarised_shares,
                                                      share_difference_test, text_hash, within_prompt, within_prompt_z, ground_truth, heldout_table,
                                                      polarization, sample_summary, shape_comparison,
                                                      training_curves, training_tables)
from rlshift.studies.reward_collapse.inputs import (Prepared, RewardModelEntry, committed_accuracy, contamination, data_table,
                                                    load_external_models, model_table, prepare, reward_model_entries,
                                                    score_all, score_training, train_reward_models, training_items)
from rlshift.studies.reward_collapse.samples import (ANNOTATION_LABELS, annotation_sheet, generate_samples, judge_boolq,
                                                     open_prompt, score_samples, within_prompt_samples)
from rlshift.studies.reward_collapse.params import IMPLICIT, PARAMS, TRAINED_PREFIX, reward_model_names
from rlshift.studies.reward_collapse.verdicts import contamination_summary, verdicts

__all__ = ["headline", "ANNOTATION_LABELS", "IMPLICIT", "PARAMS", "Prepared", "RewardModelEntry", "TRAINED_PREFIX", "annotation_agreement",
           "annotation_sheet", "committed_accuracy", "contamination", "contamination_summary", "data_table", "describe", "figures", "generate_samples", "ground_truth",
           "heldout_table", "judge_boolq", "load_external_models", "model_table", "open_prompt", "polarization",
           "prepare", "reward_model_entries", "reward_model_names", "sample_summary", "score_all", "score_samples",
           "score_training", "shape_comparison", "train_reward_models", "training_curves", "training_items",
           "training_tables", "text_hash", "verdicts", "polarised_shares", "share_difference_test", "within_prompt",
           "within_prompt_samples", "within_prompt_z", "one_factor_comparison", "accuracy_board"]
