"""The book's figures, from tidy tables (seaborn on matplotlib). Each returns the figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

ROLE_PALETTE = {"base": "#4C72B0", "sft": "#55A868", "dpo": "#8172B3", "tuned": "#C44E52",
                "rl": "#C44E52"}  # rl: the tuned-pair chapter's name for the pair's tuned (RL) stage


def role_palette(roles) -> dict:
    """Role colours; a "role · format" cell is its role's colour, lighter for raw text."""
    out = {}
    for r in roles:
        role, _, fmt = str(r).partition(" · ")
        colour = ROLE_PALETTE.get(role, "#777777")
        out[r] = sns.light_palette(colour, 3)[1] if fmt == "raw" else colour
    return out


def reliability_diagrams(table: pd.DataFrame, summary: pd.DataFrame | None = None,
                         col: str = "task", col_wrap: int = 3, title: str = "") -> plt.Figure:
    """Observed frequency against mean confidence per bin, with Wilson 95% intervals and the
    diagonal of perfect calibration; one panel per task, one colour per model role."""
    palette = role_palette(table["role"].unique())
    grid = sns.FacetGrid(table, col=col, col_wrap=min(col_wrap, table[col].nunique()),
                         height=3.0, sharex=True, sharey=True)
    for (task, ax) in zip(grid.col_names, grid.axes.flat):
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
        panel = table[table[col] == task]
        for role, part in panel.groupby("role", sort=False):
            ax.errorbar(part["conf"], part["freq"], yerr=_error_bars(part["freq"], part["lo"], part["hi"]),
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
    palette = role_palette(roles)
    fig, ax = plt.subplots(figsize=(6.5, 0.38 * len(tasks) + 1.2))
    for k, role in enumerate(roles):
        part = summary[summary["role"] == role].set_index("task").reindex(tasks)
        y = [i + (k - (len(roles) - 1) / 2) * 0.25 for i in range(len(tasks))]
        ax.errorbar(part[value], y, xerr=_error_bars(part[value], part[low], part[high]),
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
                       palette=role_palette(table["role"].unique()), facet_kws={"sharey": False})
    if reference is not None:
        for ax in grid.axes.flat:
            ax.axvline(reference, ls=":", c="grey")
    grid.set_axis_labels(xlabel, ylabel)
    grid.set_titles("{col_name}", size=9)
    return grid.figure


# ------------------------------------------------------------------ people and models as sources

SOURCE_PALETTE = {"people": "#4D4D4D", **ROLE_PALETTE}


def source_palette(sources) -> dict:
    """People and model roles in their fixed colours; anything else from seaborn's Set2 (8
    colours), or husl's evenly spaced hues where more than 8 are needed."""
    others = [s for s in dict.fromkeys(sources) if s not in SOURCE_PALETTE]
    extra = iter(sns.color_palette("Set2" if len(others) <= 8 else "husl", max(8, len(others))))
    return {s: SOURCE_PALETTE[s] if s in SOURCE_PALETTE else next(extra) for s in dict.fromkeys(sources)}


def dots_with_ci(table: pd.DataFrame, y: str, value: str, low: str, high: str, xlabel: str,
                 hue: str = "source", reference: dict | None = None, title: str = "") -> plt.Figure:
    """A dot per category and source with its 95% interval; `reference` draws labelled
    vertical lines (a baseline, a sampling floor)."""
    cats = list(dict.fromkeys(table[y]))
    hues = list(dict.fromkeys(table[hue]))
    palette = source_palette(hues)
    fig, ax = plt.subplots(figsize=(6.5, 0.34 * len(cats) + 1.3))
    for k, h in enumerate(hues):
        part = table[table[hue] == h].set_index(y).reindex(cats)
        pos = [i + (k - (len(hues) - 1) / 2) * 0.22 for i in range(len(cats))]
        err = None
        if low in part and part[low].notna().any():
            err = [(part[value] - part[low]).clip(lower=0), (part[high] - part[value]).clip(lower=0)]
        ax.errorbar(part[value], pos, xerr=err, fmt="o", color=palette[h], label=h, capsize=2, ms=4)
    for (name, x), ls in zip((reference or {}).items(), (":", "--", "-.")):
        ax.axvline(x, ls=ls, c="grey", lw=1, label=name)
    ax.set_yticks(range(len(cats)), cats)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8, loc="best")
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def frontier(table: pd.DataFrame, x: str, y: str, point: str, panel: str, xlabel: str, ylabel: str) -> plt.Figure:
    """One panel per `panel` value: a dot per `point` (a role) at (x, y), with the 95% intervals
    of both (columns <x>_low/_high, <y>_low/_high): the reward-KL view of the RLHF literature."""
    panels = list(dict.fromkeys(table[panel]))
    palette = role_palette(dict.fromkeys(table[point]))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    for ax, name in zip(axes[0], panels):
        part = table[table[panel] == name]
        for _, row in part.iterrows():
            ax.errorbar(row[x], row[y], xerr=[[max(row[x] - row[f"{x}_low"], 0)], [max(row[f"{x}_high"] - row[x], 0)]],
                        yerr=[[max(row[y] - row[f"{y}_low"], 0)], [max(row[f"{y}_high"] - row[y], 0)]],
                        fmt="o", color=palette[row[point]], label=row[point], capsize=2, ms=5)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def training_curves(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """One panel per logged metric (long table: step, metric, value), each with its own y axis."""
    metrics = list(dict.fromkeys(table["metric"]))
    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.4 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        part = table[table["metric"] == metric]
        sns.lineplot(data=part, x="step", y="value", ax=ax, lw=1, color="#4C72B0", alpha=0.45)
        smooth = part["value"].rolling(5, center=True, min_periods=1).mean()
        ax.plot(part["step"], smooth, color="#C44E52", lw=1.5)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("")
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _error_bars(value, low, high):
    """Bar lengths below and above, clipped at 0: a percentile bootstrap interval of a biased
    statistic (ECE) may exclude the estimate, and Wilson bounds at 0/1 differ by float noise."""
    return [(value - low).clip(lower=0), (high - value).clip(lower=0)]
