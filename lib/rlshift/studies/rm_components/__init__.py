"""What "helpful and honest" is made of, per task (plan 4.2): the eight aspects as data with an
annotation guide, people's fine-grained labels (FineGrainedRLHF) against their generic
preference, measurable components and machine judges by task type, and sheets for annotators
with their agreement; the notebook tells the story."""
from rlshift.studies.rm_components import aspects, figures
from rlshift.studies.rm_components.analysis import (cluster_share, defect_rates, fg_comparisons, fg_defects,
                                                    generic_vs_aspects, judge_agreement, kappas, preference_model,
                                                    proxy_coincidence, relevance_by_task, reward_agreement,
                                                    win_rates_by_defect)
from rlshift.studies.rm_components.inputs import (SHEET_LABELS, annotation_split, candidate_pairs, export_and_read,
                                                  export_machine_labels, load, machine_sample, model_pass, proxy_table, reward_scores,
                                                  sheet_rows)
from rlshift.studies.rm_components.params import PARAMS, SOURCES
from rlshift.studies.rm_components.verdicts import verdicts

__all__ = ["PARAMS", "SHEET_LABELS", "SOURCES", "annotation_split", "aspects", "candidate_pairs", "cluster_share",
           "defect_rates", "export_and_read", "export_machine_labels", "fg_comparisons", "fg_defects", "figures", "generic_vs_aspects",
           "judge_agreement", "kappas", "load", "machine_sample", "model_pass", "preference_model", "proxy_coincidence",
           "proxy_table", "relevance_by_task", "reward_agreement", "reward_scores", "sheet_rows", "verdicts",
           "win_rates_by_defect"]
