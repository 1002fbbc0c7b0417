"""The tuned-pair chapter's figures, drawn from its tables with rlshift.plots."""
from __future__ import annotations

import pandas as pd

from rlshift import plots
from rlshift.studies.tuned_pair.analysis import training_curves


def training(folder, metrics, title: str):
    """One training stage's logged metrics against the optimizer step."""
    return plots.training_curves(training_curves(folder, metrics), title=title)


def implicit_reward(implicit: pd.DataFrame):
    label = implicit["policy"] + " vs " + implicit["reference"] + " (" + implicit["format"] + ")"
    return plots.dots_with_ci(implicit.assign(label=label), "label", "accuracy", "acc_low", "acc_high",
                              "implicit-reward accuracy", hue="set", reference={"chance": 0.5})


def likelihood_preference(summed: pd.DataFrame):
    return plots.dots_with_ci(summed.assign(label=summed["set"] + ": " + summed["role"]), "label",
                              "prefers_chosen", "low", "high", "share preferring the chosen reply (summed log-prob)",
                              hue="format", reference={"chance": 0.5})


def kl(table: pd.DataFrame):
    long = pd.concat([table.assign(average="pool (every reply)", value=table["kl_pool"], low=table["pool_low"],
                                   high=table["pool_high"]),
                      table.assign(average="policy's own replies", value=table["kl_own"], low=table["own_low"],
                                   high=table["own_high"])], ignore_index=True)
    label = long["contrast"] + ": " + long["policy"] + " || " + long["reference"]
    return plots.dots_with_ci(long.assign(label=label).dropna(subset=["value"]), "label", "value", "low", "high",
                              "token-level KL summed over a reply (nats)", hue="average")


def win_rate(rates: pd.DataFrame, judge_accuracy: float | None = None):
    ref = {"even with the chosen reply": 0.5}
    if judge_accuracy is not None:
        ref["judge's own accuracy"] = judge_accuracy
    return plots.dots_with_ci(rates, "role", "rate", "low", "high", "share of prompts beating the chosen reply",
                              hue="reading", reference=ref)


def frontier(table: pd.DataFrame):
    """Each stage's mean reward of its own held-out replies against their KL from SFT, one panel per reading."""
    return plots.frontier(table, "kl", "reward", "role", "reading", "KL from SFT (nats per reply)",
                          "mean reward of own replies")
