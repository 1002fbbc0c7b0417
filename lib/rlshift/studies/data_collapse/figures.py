"""The collapse chapter's figures: footprint distances (excess over the permutation floor, with
intervals), the parts' and outputs' distributions of an aspect, output quality by part and role,
and how much of each input property carries into the output."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rlshift import plots


def distances(table: pd.DataFrame, hue: str, title: str = "") -> plt.Figure:
    """Excess JS distance per aspect (observed minus the permutation null's mean; 0: no more than
    sampling alone gives) with the observed distance's interval shifted alike."""
    data = table.assign(excess_low=table["js_low"] - table["null_mean"], excess_high=table["js_high"] - table["null_mean"])
    return plots.dots_with_ci(data, "aspect", "excess", "excess_low", "excess_high",
                              "Jensen-Shannon distance above the permutation floor", hue=hue,
                              reference={"no difference": 0.0}, title=title)


def aspect_shares(table: pd.DataFrame, title: str) -> plt.Figure:
    """Shares of an aspect's most frequent units, one bar per group of texts."""
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    sns.barplot(data=table, x="unit", y="share", hue="group", ax=ax)
    ax.set_xlabel("")
    ax.set_ylabel("share")
    ax.tick_params(axis="x", rotation=45, labelsize=7)
    ax.legend(fontsize=7, title=None)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def property_by_part(frame: pd.DataFrame, prop: str, label: str) -> plt.Figure:
    """Distribution of a per-text property (inputs and each role's outputs) in the two parts."""
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    sns.boxplot(data=frame, x="texts", y=prop, hue="part", ax=ax, fliersize=2)
    ax.set_xlabel("")
    ax.set_ylabel(label)
    ax.legend(fontsize=7, title=None)
    fig.tight_layout()
    return fig


def quality(cells: pd.DataFrame, metric: str, label: str) -> plt.Figure:
    data = cells[cells["metric"] == metric].assign(cell=lambda d: d["role"] + " · " + d["part"])
    return plots.dots_with_ci(data, "cell", "mean", "low", "high", label, hue="part")


def transfer(table: pd.DataFrame) -> plt.Figure:
    data = table[~table["row"].str.contains(" - ")]
    return plots.dots_with_ci(data, "property", "rho", "low", "high",
                              "Spearman's rho, input property vs its output's", hue="row", reference={"none": 0.0})
