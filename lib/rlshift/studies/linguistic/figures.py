"""The linguistic chapter's figures: accuracy by BLiMP paradigm grouped by field, base vs tuned
accuracy per category, per-task effects with CIs (a forest plot by domain), few-shot curves, and
where the mass goes at the answer position."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rlshift import plots


def task_accuracy(acc: pd.DataFrame) -> plt.Figure:
    """Zero-shot accuracy per task (grouped by domain) and stage with Wilson intervals and chance."""
    part = acc.assign(task=acc["domain"] + " · " + acc["task"], role=acc["role"] + " · " + acc["format"])
    return plots.metric_with_ci(part.sort_values(["domain"], kind="stable"), "accuracy", "ci_low", "ci_high",
                                "zero-shot accuracy (CoQA: mean F1)", chance="chance")


def paradigms(by_cat: pd.DataFrame, task: str = "blimp") -> plt.Figure:
    """Accuracy per paradigm (rows, grouped by field), one column per stage."""
    part = by_cat[by_cat["task"] == task]
    grid = part.pivot_table(index=["field", "category"], columns="role", values="accuracy")
    grid = grid[[r for r in plots.ROLE_PALETTE if r in grid]]  # the stages in training order
    fig, ax = plt.subplots(figsize=(4.5, 1.2 + 0.16 * len(grid)))
    sns.heatmap(grid, ax=ax, vmin=0, vmax=1, cmap="viridis", cbar_kws={"label": "accuracy"},
                yticklabels=[f"{f} · {c}" for f, c in grid.index])
    ax.set_ylabel("")
    ax.tick_params(axis="y", labelsize=6)
    ax.set_title(f"{task}: accuracy per paradigm (zero-shot)", fontsize=9)
    fig.tight_layout()
    return fig


def base_vs_tuned(by_cat: pd.DataFrame, later: str = "tuned") -> plt.Figure:
    """Each category's accuracy under the base (x) and the later stage (y), one colour per task;
    points under the diagonal lost accuracy."""
    wide = by_cat.pivot_table(index=["task", "category"], columns="role", values="accuracy").reset_index()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    if later in wide and "base" in wide:
        sns.scatterplot(data=wide, x="base", y=later, hue="task", ax=ax, s=22, palette=plots.source_palette(wide["task"]))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="base accuracy", ylabel=f"{later} accuracy",
           title="Per category: base vs tuned (zero-shot)")
    ax.legend(fontsize=6, ncol=2, loc="lower right")
    fig.tight_layout()
    return fig


def task_effects(contrast_table: pd.DataFrame, fmt: str) -> plt.Figure:
    """Forest plot: each task's paired accuracy difference with its 95% CI, per contrast,
    grouped by domain."""
    part = contrast_table[contrast_table["format"] == fmt].copy()
    part["row"] = part["domain"] + " · " + part["task"]
    return plots.dots_with_ci(part.sort_values(["domain", "task"]), y="row", value="difference", low="ci_low",
                              high="ci_high", xlabel="accuracy difference (later stage - earlier)", hue="contrast",
                              reference={"no difference": 0.0})


def shot_curves(curves: pd.DataFrame) -> plt.Figure:
    """Accuracy against k, one panel per task, a line per stage, solid = shots of the item's own
    category, dashed = of the others."""
    g = sns.relplot(data=curves, x="k", y="accuracy", hue="role", style="composition", col="task", kind="line",
                    marker="o", col_wrap=min(3, curves["task"].nunique()), height=2.4, aspect=1.2,
                    palette=plots.role_palette(curves["role"].unique()))
    g.set_titles("{col_name}")
    return g.figure


def answer_mass(mass_table: pd.DataFrame) -> plt.Figure:
    """Mass on the answer words and entropy at the answer position, per task and stage."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.9 + 0.3 * mass_table["task"].nunique() * 1.2), sharey=True)
    pal = plots.role_palette(mass_table["role"].unique())
    sns.barplot(data=mass_table, y="task", x="option_mass", hue="role", ax=axes[0], palette=pal)
    sns.barplot(data=mass_table, y="task", x="entropy", hue="role", ax=axes[1], palette=pal, legend=False)
    axes[0].set(xlabel="probability on the answer words", ylabel="", xlim=(0, 1))
    axes[1].set(xlabel="entropy of the next token (nats)", ylabel="")
    fig.tight_layout()
    return fig
