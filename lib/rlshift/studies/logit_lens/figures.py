"""The logit-lens chapter's figures: layer x task heatmaps per stage and their differences from
the base, answer curves by layer, stage agreement by layer, the intervention by start layer."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import pandas as pd
import seaborn as sns

from rlshift import plots


def rank_heatmaps(curves: pd.DataFrame, condition: str, component: str = "resid", token: str = "answer") -> plt.Figure:
    """Mean reciprocal rank of the answer per task x layer, one panel per stage, then each
    stage minus the base (diverging colours: red where the stage ranks the answer higher)."""
    part = curves[(curves["condition"] == condition) & (curves["component"] == component) & (curves["token"] == token)]
    cells = list(dict.fromkeys(zip(part["role"], part["format"])))
    grids = {c: part[(part["role"] == c[0]) & (part["format"] == c[1])].pivot(index="task", columns="layer", values="rr")
             for c in cells}
    diffs = {c: grids[c] - grids[("base", c[1])] for c in cells if c[0] != "base" and ("base", c[1]) in grids}
    fig, axes = plt.subplots(len(grids) + len(diffs), 1, figsize=(7.5, 1.0 + 0.42 * len(part["task"].unique()) *
                                                                       (len(grids) + len(diffs))), squeeze=False)
    for ax, (c, grid) in zip(axes[:, 0], list(grids.items()) + [((f"{r} - base", f), d) for (r, f), d in diffs.items()]):
        diverging = c[0].endswith("- base")
        sns.heatmap(grid, ax=ax, vmin=-1 if diverging else 0, vmax=1, cmap="RdBu_r" if diverging else "viridis",
                    cbar_kws={"label": "Δ recip. rank" if diverging else "recip. rank"})
        ax.set_title(f"{c[0]} · {c[1]}", fontsize=9)
        ax.set_ylabel("")
    axes[-1, 0].set_xlabel("layer")
    fig.suptitle(f"{token} token, {component}, {condition}", fontsize=10)
    fig.tight_layout()
    return fig


def answer_curves(curves: pd.DataFrame, component: str = "resid") -> plt.Figure:
    """The answer's (solid) and the argument's (dashed) mean reciprocal rank by layer, one panel per
    task, one colour per stage x format, one-shot and few-shot prompts side by side."""
    part = curves[(curves["component"] == component) & ~curves["condition"].str.startswith("framed")].copy()
    part["model"] = part["role"] + " · " + part["format"]
    tasks, conditions = list(dict.fromkeys(part["task"])), list(dict.fromkeys(part["condition"]))
    fig, axes = plt.subplots(len(tasks), len(conditions), figsize=(3.3 * len(conditions), 2.3 * len(tasks)),
                             squeeze=False, sharex=True, sharey=True)
    palette = plots.role_palette(part["model"].unique())
    for i, task in enumerate(tasks):
        for j, cond in enumerate(conditions):
            ax = axes[i, j]
            cell = part[(part["task"] == task) & (part["condition"] == cond)]
            sns.lineplot(data=cell, x="layer", y="rr", hue="model", style="token", style_order=["answer", "argument"],
                         palette=palette, ax=ax, legend=(i, j) == (0, len(conditions) - 1))
            ax.set_title(f"{task}, {cond}", fontsize=9)
            ax.set_ylabel("recip. rank" if j == 0 else "")
    if axes[0, -1].get_legend():
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1, 1), fontsize=7)
    fig.tight_layout()
    return fig


def agreement(table: pd.DataFrame) -> plt.Figure:
    """Share of prompts whose top residual token is the base's, by layer (Wilson 95% bands)."""
    fig, ax = plt.subplots(figsize=(6.5, 3))
    for (stage, fmt), part in table.groupby(["stage", "format"], sort=False):
        colour = plots.role_palette([stage])[stage]
        ax.plot(part["layer"], part["agreement"], marker="o", ms=3, color=colour, label=f"{stage} · {fmt}",
                ls="-" if fmt == "raw" else "--")
        ax.fill_between(part["layer"], part["ci_low"], part["ci_high"], color=colour, alpha=0.15)
    ax.set_xlabel("layer")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("same top token as base")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def intervention(success: pd.DataFrame, baseline: pd.DataFrame, starts: pd.DataFrame) -> plt.Figure:
    """The answer's mean reciprocal rank when every MLP update from the start layer on is the o
    vector (solid) or a random vector of its norm (dotted); the thin line is the untouched model,
    the star each stage's function-application layer."""
    part = success[success["token"] == "answer"]
    tasks = list(dict.fromkeys(part["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.4 * len(tasks), 2.8), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks):
        for (role, fmt, vector), cell in part[part["task"] == task].groupby(["role", "format", "vector"], sort=False):
            colour = plots.role_palette([role])[role]
            ax.plot(cell["from_layer"], cell["rr"], color=colour, ls="-" if vector == "o" else ":", marker="o", ms=3,
                    label=f"{role} · {fmt}, {vector}")
            mark = starts[(starts["role"] == role) & (starts["format"] == fmt) & (starts["task"] == task)]
            for layer in mark["layer"]:
                hit = cell[cell["from_layer"] == layer]["rr"]
                if vector == "o" and len(hit):
                    ax.plot([layer], hit, marker="*", ms=11, color=colour)
            base = baseline[(baseline["task"] == task) & (baseline["role"] == role)]["rr"]
            if vector == "o" and len(base):
                ax.axhline(float(base.mean()), color=colour, lw=0.8, alpha=0.5)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("first replaced layer")
    axes[0, 0].set_ylabel("answer's recip. rank")
    axes[0, -1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig


def framing(effects: pd.DataFrame) -> plt.Figure:
    """Framing contrasts of the capital's log-probability per stage, with 95% intervals."""
    part = effects.assign(label=effects["contrast"] + " (" + effects["format"] + ")")
    return plots.dots_with_ci(part.assign(source="estimate"), "label", "estimate", "ci_low", "ci_high",
                              "Δ log p(capital)", reference={"no effect": 0.0})
