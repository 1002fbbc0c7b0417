"""A page across a sweep's runs: one chapter's recorded metric compared between pairs, models or
settings (e.g. ECE by pair and stage), from `rlshift sweep` and `rlshift collect`."""
from rlshift.studies.sweep_comparison import figures
from rlshift.studies.sweep_comparison.analysis import metric_table, pooled_effects, recorded
from rlshift.studies.sweep_comparison.inputs import collected, locate
from rlshift.studies.sweep_comparison.params import PARAMS
from rlshift.studies.sweep_comparison.verdicts import verdicts

__all__ = ["PARAMS", "collected", "figures", "locate", "metric_table", "pooled_effects", "recorded", "verdicts"]
