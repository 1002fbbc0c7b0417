"""The reward-model components chapter's figures: the odds ratios of people's preference against
each labelled defect (a forest plot), and heatmaps of how often a component coincides with the
generic preference (and, from the sheets, how often it is relevant) by task type."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rlshift import plots


def preference_odds(model: pd.DataFrame) -> plt.Figure:
    fig = plots.dots_with_ci(model.assign(who="people (FineGrainedRLHF)"), "term", "odds_ratio", "ci_low", "ci_high",
                             "odds ratio of prediction 1 winning (log scale; < 1: people prefer the other answer)",
                             hue="who", reference={"no effect": 1.0})
    fig.axes[0].set_xscale("log")
    return fig


def coincidence_heatmap(table: pd.DataFrame, value: str, rows: str, columns: str, title: str,
                        center: float = 0.5) -> plt.Figure:
    """A task type x component heatmap of shares, centred on `center` (chance for a coincidence)."""
    grid = table.pivot_table(index=rows, columns=columns, values=value, sort=False)
    fig, ax = plt.subplots(figsize=(1.0 * grid.shape[1] + 2.5, 0.45 * grid.shape[0] + 1.5))
    sns.heatmap(grid, annot=True, fmt=".2f", cmap="RdBu_r", center=center, vmin=0, vmax=1, ax=ax,
                cbar_kws={"label": value})
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def agreement_with_people(table: pd.DataFrame, who: str) -> plt.Figure:
    data = table.assign(row=table[who] + " · " + table["task_type"])
    return plots.dots_with_ci(data, "row", "share", "ci_low", "ci_high",
                              "share of pairs where it prefers people's preferred response", hue="task_type",
                              reference={"chance": 0.5})
