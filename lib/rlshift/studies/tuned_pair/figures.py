"""The tuned-pair chapter's figures, drawn from its tables with rlshift.plots."""
from __future__ import annotations

import pandas as pd

from rlshift import plots
from rlshift.studies.tuned_pair.analysis import training_curves


def training(folder, metrics, title: str):
    """One training stage's logged metrics against the optimizer step."""
    return plots.training_curves(training_curves(folder, metrics), title=title)


def implicit_reward(implicit: pd.DataFrame):
    return plots.dots_with_ci(implicit.assign(label=implicit["policy"] + " vs " + implicit["reference"]),
                              "label", "accuracy", "acc_low", "acc_high", "implicit-reward accuracy",
                              hue="set", reference={"chance": 0.5})


def likelihood_preference(summed: pd.DataFrame):
    return plots.dots_with_ci(summed.assign(label=summed["set"] + ": " + summed["role"]), "label",
                              "prefers_chosen", "low", "high", "share preferring the chosen reply (summed log-prob)",
                              hue="role", reference={"chance": 0.5})


def kl(table: pd.DataFrame):
    return plots.dots_with_ci(table.assign(label=table["policy"] + " from " + table["reference"], set="KL"), "label",
                              "kl_mean", "kl_low", "kl_high", "KL per reply (nats)", hue="set")
