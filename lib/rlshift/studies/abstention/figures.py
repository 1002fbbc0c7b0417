"""The "I don't know" chapter's figures: abstention mass by group and stage, discrimination
with its intervals, free answers by group, and the reward model's margins."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rlshift import plots
from rlshift.studies.abstention.inputs import GROUPS


def abstention_mass(prop: pd.DataFrame) -> plt.Figure:
    """Per group, the distribution of the menu's abstention log-mass, one box per stage."""
    data = prop.assign(group=prop["group"].map(GROUPS), stage=prop["role"] + " · " + prop["format"])
    roles = plots.role_palette(data["role"].unique())
    palette = ({s: roles[r] for s, r in zip(data["stage"], data["role"])} if data["format"].nunique() == 1 else None)
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    sns.boxplot(data=data, x="group", y="abstain", hue="stage", ax=ax, fliersize=2,
                order=[GROUPS[g] for g in GROUPS if g in set(prop["group"])], palette=palette)
    ax.set_xlabel("")
    ax.set_ylabel("log P(an abstention on the menu)")
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(fontsize=7, title=None)
    fig.tight_layout()
    return fig


def discrimination(table: pd.DataFrame) -> plt.Figure:
    data = table.assign(stage=table["role"] + " · " + table["format"])
    return plots.dots_with_ci(data, "contrast", "auroc", "ci_low", "ci_high",
                              "AUROC of the abstention mass (0.5: no discrimination)", hue="stage",
                              reference={"chance": 0.5})


def free_rates(table: pd.DataFrame) -> plt.Figure:
    data = table.assign(group=table["group"].map(GROUPS), stage=table["role"] + " · " + table["format"])
    return plots.dots_with_ci(data, "group", "abstain", "ci_low", "ci_high",
                              "share of free answers that abstain", hue="stage")


def reward_margins(table: pd.DataFrame) -> plt.Figure:
    return plots.dots_with_ci(table, "reading", "share", "ci_low", "ci_high",
                              "share of questions where \"I don't know.\" gets the higher reward", hue="reward_model",
                              reference={"half": 0.5})
