"""The reward-model components chapter's parameters: which sets, the annotation split, the sizes
of the machine first pass (proxies, the tuned model as judge, reward models, candidate answers),
and where the annotators' sheets live."""
from __future__ import annotations

from rlshift import paths
from rlshift.errors import InputError
from rlshift.params import Param, Schema
from rlshift.studies import common

# Offline: FineGrainedRLHF's qa-feedback dev set and BIG-bench hhh_alignment; dolly from the hub.
SOURCES = ("finegrained_rlhf", "hhh_alignment", "dolly")


def _sources(value) -> None:
    bad = [s for s in value if s not in SOURCES]
    if bad or not value or len(set(value)) != len(value):
        raise InputError(f"parameter 'sources': {bad or value} not accepted. Accepted: a non-empty list of distinct "
                         f"names from {list(SOURCES)}.")


PARAMS = Schema(
    *common.pair_params(),
    Param("sources", list, ["finegrained_rlhf", "hhh_alignment"], "The sets annotated: 'finegrained_rlhf' "
          "(people's error spans and preferences), 'hhh_alignment' (helpful / honest / harmless / other), "
          "'dolly' (databricks-dolly-15k from the hub, CC BY-SA 3.0).", check=_sources),
    Param("split_fraction", float, 0.25, "The annotation split: this share of each task type, drawn with a fixed "
          "seed (everyone annotates the same items).", minimum=0.01, maximum=1.0),
    Param("n_items", int, 40, "Split items per task type in the machine first pass (proxies and reward models).",
          minimum=2),
    Param("n_judge", int, 12, "Of those, pairs per task type the tuned model judges aspect by aspect (0: none).",
          minimum=0),
    Param("n_generate", int, 6, "Split items per task type answered by the base and the tuned model (candidate "
          "answers for the sheet; 0: none).", minimum=0),
    Param("max_new_tokens", int, 64, "Length of the candidate answers.", minimum=8, maximum=512),
    common.prompt_format("auto"),
    *common.reward_model_params(["trained:standard"], "Reward models of the machine pass: 'trained:<utility>' "
                                "(the reward-collapse chapter's, shared through the cache), hub ids or folders; [] "
                                "for none."),
    Param("annotators", int, 2, "Annotation sheets exported, one per annotator.", minimum=1, maximum=20),
    Param("annotation_dir", str, None, "Folder of the annotators' sheets (annotator-<k>.csv; default: in the "
          "rlshift cache, named by the split).", optional=True,
          check=lambda v: paths.check_folder_to_make(v, "annotation_dir")),
    common.data_mirror("Folder holding finegrained-rlhf/ (else RLSHIFT_DATA_MIRROR, else the authors' file by URL)."),
    common.seed(),
    common.quantize(),
    common.batch_size(),
    Param("n_boot", int, 1000, "Bootstrap resamples (CIs).", minimum=50, maximum=20000),
    Param("alpha", float, 0.05, "Family-wise error rate of each family of tests (Holm).", minimum=0.001,
          maximum=0.5),
    common.cache_dir(),
)
