"""The book's figures, from tidy tables (seaborn on matplotlib). Each returns the figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

ROLE_PALETTE = {"base": "#4C72B0", "sft": "#55A868", "tuned": "#C44E52"}


def _palette(roles) -> dict:
    return {r: ROLE_PALETTE.get(r, "#777777") for r in roles}


def reliability_diagrams(table: pd.DataFrame, summary: pd.DataFrame | None = None,
                         col: str = "task", col_wrap: int = 3, title: str = "") -> plt.Figure:
    """Observed frequency against mean confidence per bin, with Wilson 95% intervals and the
    diagonal of perfect calibration; one panel per task, one colour per model role."""
    palette = _palette(table["role"].unique())
    grid = sns.FacetGrid(table, col=col, col_wrap=min(col_wrap, table[col].nunique()),
                         height=3.0, sharex=True, sharey=True)
    for (task, ax) in zip(grid.col_names, grid.axes.flat):
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
        panel = table[table[col] == task]
        for role, part in panel.groupby("role", sort=False):
            ax.errorbar(part["conf"], part["freq"], yerr=[part["freq"] - part["lo"], part["hi"] - part["freq"]],
                        fmt="o-", ms=4, lw=1.2, capsize=2, color=palette[role], label=role)
        if summary is not None:
            lines = [f"{r}: acc {s.accuracy:.2f} (chance {s.chance:.2f}), ECE {s.ece_mass_all:.3f}"
                     for r, s in summary[summary["task"] == task].set_index("role").iterrows()]
            ax.text(0.02, 0.98, "\n".join(lines), va="top", fontsize=6.5, transform=ax.transAxes)
        ax.set_title(task, fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    grid.set_axis_labels("predicted probability", "frequency correct")
    grid.axes.flat[0].legend(loc="lower right", fontsize=7)
    if title:
        grid.figure.suptitle(title, y=1.02)
    return grid.figure


def metric_with_ci(summary: pd.DataFrame, value: str, low: str, high: str, xlabel: str,
                   chance: str | None = None) -> plt.Figure:
    """A dot per task and role with its 95% interval (and chance, where given)."""
    tasks = list(dict.fromkeys(summary["task"]))
    roles = list(dict.fromkeys(summary["role"]))
    palette = _palette(roles)
    fig, ax = plt.subplots(figsize=(6.5, 0.38 * len(tasks) + 1.2))
    for k, role in enumerate(roles):
        part = summary[summary["role"] == role].set_index("task").reindex(tasks)
        y = [i + (k - (len(roles) - 1) / 2) * 0.25 for i in range(len(tasks))]
        ax.errorbar(part[value], y, xerr=[part[value] - part[low], part[high] - part[value]],
                    fmt="o", color=palette[role], label=role, capsize=2)
    if chance:
        base = summary.drop_duplicates("task").set_index("task").reindex(tasks)
        ax.scatter(base[chance], range(len(tasks)), marker="|", s=200, color="black", label="chance")
    ax.set_yticks(range(len(tasks)), tasks)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8, loc="best")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def lines_by_task(table: pd.DataFrame, x: str, y: str, xlabel: str, ylabel: str,
                  col_wrap: int = 3, reference: float | None = None) -> plt.Figure:
    """One panel per task, one line per role (temperature sweeps, selective accuracy)."""
    grid = sns.relplot(data=table, x=x, y=y, hue="role", col="task", kind="line", marker="o",
                       col_wrap=min(col_wrap, table["task"].nunique()), height=2.6,
                       palette=_palette(table["role"].unique()), facet_kws={"sharey": False})
    if reference is not None:
        for ax in grid.axes.flat:
            ax.axvline(reference, ls=":", c="grey")
    grid.set_axis_labels(xlabel, ylabel)
    grid.set_titles("{col_name}", size=9)
    return grid.figure
