"""The reward-collapse chapter's figures, drawn from its tables (matplotlib, seaborn's palette).
Each returns None where its table is empty (nothing was trained, or nothing answered)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from rlshift import plots


def _panel(frame: pd.DataFrame) -> pd.Series:
    return np.where(frame["task_type"] == "closed", frame["task"] + " · " + frame["format"].astype(str), frame["task"])


def training(curves: pd.DataFrame):
    """One panel per reward model: training loss per step (faint) and its running mean, and the
    held-out loss per epoch (the utilities differ, so do the loss scales); a last panel with the
    held-out pairwise accuracy per epoch."""
    if curves.empty:
        return None
    names = list(dict.fromkeys(curves["reward_model"]))
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(3.6 * (len(names) + 1), 3.2), squeeze=False)
    ax_acc = axes[0, -1]
    for k, model in enumerate(names):
        part = curves[curves["reward_model"] == model]
        colour, ax = f"C{k}", axes[0, k]
        train = part[part["split"] == "train"]
        held = part[part["split"] == "held-out"]
        ax.plot(train["epoch"], train["loss"], color=colour, alpha=0.25, lw=0.8)
        ax.plot(train["epoch"], train["loss"].rolling(8, min_periods=1).mean(), color=colour, lw=1.5,
                label="training (running mean of 8 steps)")
        ax.plot(held["epoch"], held["loss"], "o--", color="black", ms=4, label="held-out")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss = -utility")
        ax.legend(fontsize=7)
        ax_acc.plot(held["epoch"], held["accuracy"], "o-", color=colour, label=model)
    ax_acc.axhline(0.5, ls=":", c="grey")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("held-out pairwise accuracy")
    ax_acc.set_ylim(0, 1)
    ax_acc.legend(fontsize=7)
    fig.tight_layout()
    return fig


def distributions(frame: pd.DataFrame, hue: str = "outcome", title: str = ""):
    """Histograms of rewards: one row per reward model, one column per task (and BoolQ answer
    format), coloured by outcome (correct / incorrect, chosen / rejected)."""
    if frame.empty:
        return None
    data = frame.assign(panel=_panel(frame))
    panels = list(dict.fromkeys(data["panel"]))
    models_ = list(dict.fromkeys(data["reward_model"]))
    hues = list(dict.fromkeys(data[hue]))
    palette = {h: c for h, c in zip(hues, sns.color_palette("colorblind", len(hues)))}
    fig, axes = plt.subplots(len(models_), len(panels), figsize=(2.6 * len(panels) + 0.5, 2.2 * len(models_) + 0.6),
                             squeeze=False)
    for i, model in enumerate(models_):
        for j, panel in enumerate(panels):
            ax = axes[i, j]
            part = data[(data["reward_model"] == model) & (data["panel"] == panel)]
            if len(part):
                bins = np.histogram_bin_edges(part["reward"], bins="auto")
                for h, sub in part.groupby(hue, sort=False):
                    ax.hist(sub["reward"], bins=bins, alpha=0.55, color=palette[h], label=str(h))
            if i == 0:
                ax.set_title(panel, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{model}\ncount", fontsize=8)
            ax.tick_params(labelsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[h], alpha=0.55) for h in hues]
    fig.legend(handles, hues, loc="upper right", fontsize=8, ncol=len(hues))
    fig.supxlabel("reward", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def ground_truth(table: pd.DataFrame):
    """Pairwise accuracy (Wilson 95% interval) per task and answer format, one colour per
    reward model; the dotted line is chance."""
    data = table.assign(panel=_panel(table))
    panels = list(dict.fromkeys(data["panel"]))
    models_ = list(dict.fromkeys(data["reward_model"]))
    fig, ax = plt.subplots(figsize=(6.5, 0.42 * len(panels) + 1.3))
    for k, model in enumerate(models_):
        part = data[data["reward_model"] == model].set_index("panel").reindex(panels)
        y = np.arange(len(panels)) + (k - (len(models_) - 1) / 2) * 0.22
        ax.errorbar(part["accuracy"], y, xerr=[part["accuracy"] - part["acc_low"], part["acc_high"] - part["accuracy"]],
                    fmt="o", capsize=2, color=f"C{k}", label=model)
    ax.axvline(0.5, ls=":", c="grey")
    ax.set_yticks(range(len(panels)), panels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("pairwise accuracy (correct / preferred rewarded higher)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def polarised_shares(shares: pd.DataFrame):
    """Share of prompts whose sampled answers' rewards are polarised (dip test), per task type,
    one colour per reward model and sampler, with Wilson 95% intervals."""
    if shares.empty:
        return None
    data = shares.assign(who=shares["reward_model"] + " · " + shares["sampler"] + " answers")
    return plots.dots_with_ci(data, "task_type", "share", "share_low", "share_high",
                              "share of prompts with polarised rewards (dip test)", hue="who",
                              title="Within one prompt: many sampled answers, each rewarded")


def within_prompt_pooled(z: pd.DataFrame):
    """The secondary, pooled view: every answer's reward standardised within its prompt, pooled
    over prompts, one row per reward model and one column per task type and sampler."""
    data = z.dropna(subset=["z"])
    if data.empty:
        return None
    data = data.assign(panel=data["task_type"] + " · " + data["sampler"] + " answers")
    grid = sns.displot(data, x="z", row="reward_model", col="panel", kind="hist", bins=20, stat="density",
                       common_norm=False, height=2.1, aspect=1.2, facet_kws={"sharey": False})
    grid.set_titles("{row_name}\n{col_name}", size=8)
    grid.set_xlabels("reward, z-scored within its prompt")
    return grid.figure
