"""Collapse onto the RL fine-tuning data (plan 4.5): do RL-tuned models do worse on inputs unlike
their training inputs, and do their outputs carry one property footprint whatever the input? Two
settings: PPO summarisation (InstructGPT's published samples, or CarperAI's PPO model on the hub)
and the book's own SFT -> {RL, DPO} pair on HH-RLHF dialogues."""
from rlshift.studies.data_collapse import analysis, figures, inputs, reading
from rlshift.studies.data_collapse.params import PARAMS, SETTINGS
from rlshift.studies.data_collapse.steps import RATINGS, SettingRun, export_and_read, run_setting, sheet_folder
from rlshift.studies.data_collapse.verdicts import verdicts

__all__ = ["PARAMS", "RATINGS", "SETTINGS", "SettingRun", "analysis", "export_and_read", "figures", "inputs",
           "reading", "run_setting", "sheet_folder", "verdicts"]
