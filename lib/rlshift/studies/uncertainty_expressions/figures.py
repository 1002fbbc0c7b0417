"""The uncertainty-expressions chapter's figures, drawn from its tables with seaborn and
rlshift.plots: people and models in fixed colours (`plots.source_palette`)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rlshift import plots


def message_distributions(table: pd.DataFrame, messages, title: str = "") -> plt.Figure:
    """The proportions of each message per state: bars for a small set, heatmaps for a large one."""
    draw = message_proportions if len(messages) <= 5 else message_heatmaps
    return draw(table, messages, title=title)


def message_proportions(table: pd.DataFrame, messages, title: str = "") -> plt.Figure:
    """Herbstritt & Franke's figure: one panel per state <a, o> (rows by access), the share of
    each message among people's choices and in each model's distribution."""
    table = table.assign(panel=[f"{o} red of {a} seen ({u})" for a, o, u in
                                zip(table["access"], table["observation"], table["uncertainty"])])
    panels = list(dict.fromkeys(table.sort_values(["access", "observation"], kind="stable")["panel"]))
    sources = list(dict.fromkeys(table["source"]))
    grid = sns.catplot(data=table, x="message", y="proportion", hue="source", col="panel", kind="bar",
                       col_wrap=min(5, len(panels)), order=list(messages), col_order=panels,
                       hue_order=sources, palette=plots.source_palette(sources), errorbar=None,
                       height=2.5, aspect=1.0 if len(messages) <= 5 else 1.8, sharex=True, sharey=True)
    grid.set_titles("{col_name}", size=8)
    grid.set_axis_labels("", "proportion")
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    if title:
        grid.figure.suptitle(title, y=1.02)
    return grid.figure


def message_heatmaps(table: pd.DataFrame, messages, title: str = "") -> plt.Figure:
    """The same proportions as heatmaps, for sets too large for bars: one panel per source,
    states as rows (ordered by access, then observation), messages as columns."""
    table = table.assign(row=[f"{o} of {a} ({u})" for a, o, u in
                              zip(table["access"], table["observation"], table["uncertainty"])])
    rows = list(dict.fromkeys(table.sort_values(["access", "observation"], kind="stable")["row"]))
    sources = list(dict.fromkeys(table["source"]))
    fig, axes = plt.subplots(1, len(sources), figsize=(4.2 * len(sources), 0.3 * len(rows) + 2.6),
                             sharey=True, squeeze=False)
    vmax = float(table["proportion"].max())
    for k, (ax, source) in enumerate(zip(axes[0], sources)):
        grid = table[table["source"] == source].pivot(index="row", columns="message", values="proportion")
        sns.heatmap(grid.reindex(index=rows, columns=list(messages)), ax=ax, vmin=0, vmax=vmax,
                    cmap="Greys" if source == "people" else "Blues" if source == "base" else "Reds",
                    cbar=k == len(sources) - 1, cbar_kws={"label": "proportion"},
                    xticklabels=True, yticklabels=True)
        ax.set_title(source, fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel("o red of a seen" if k == 0 else "")
        ax.tick_params(axis="x", labelrotation=90, labelsize=7)
        ax.tick_params(axis="y", labelsize=7)
    if title:
        fig.suptitle(title, y=1.0)
    fig.tight_layout()
    return fig



def interpretation_curves(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Per message heard: people's answers for the number of red balls (bars) and each model's
    distribution over 0..10 (lines)."""
    messages = list(dict.fromkeys(table["message"]))
    grid = sns.FacetGrid(table, col="message", col_order=messages, col_wrap=min(4, len(messages)),
                         height=2.2, aspect=1.3, sharey=False)
    palette = plots.source_palette(table["source"].unique())
    for message, ax in zip(grid.col_names, grid.axes.flat):
        part = table[table["message"] == message]
        people = part[part["source"] == "people"]
        ax.bar(people["n_red"], people["proportion"], color=palette.get("people"), alpha=0.35, label="people")
        for source, line in part[part["source"] != "people"].groupby("source", sort=False):
            ax.plot(line["n_red"], line["proportion"], "o-", ms=3, lw=1.2, color=palette[source], label=source)
        ax.set_title(f"\u201c{message}\u201d", fontsize=8)
        ax.set_xticks(range(0, 11, 2))
    grid.set_axis_labels("red balls in the urn", "probability")
    grid.axes.flat[0].legend(fontsize=7)
    if title:
        grid.figure.suptitle(title, y=1.02)
    return grid.figure


def conveyed_vs_evidence(table: pd.DataFrame) -> plt.Figure:
    """Per state: the probability of red conveyed in words (people's reading of the messages,
    weighted by each source's message distribution) against the Bayesian probability; the
    diagonal is words that say exactly what the evidence supports."""
    sets = list(dict.fromkeys(table["message_set"]))
    sources = list(dict.fromkeys(table["source"]))
    palette = plots.source_palette(sources)
    fig, axes = plt.subplots(1, len(sets), figsize=(3.4 * len(sets), 3.3), squeeze=False)
    for ax, mset in zip(axes[0], sets):
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
        for source in sources:
            part = table[(table["message_set"] == mset) & (table["source"] == source)].sort_values("p_red")
            ax.plot(part["p_red"], part["conveyed"], "o", ms=4, alpha=0.8, color=palette[source], label=source)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{mset} messages", fontsize=9)
        ax.set_xlabel("Bayesian P(next ball red)")
    axes[0][0].set_ylabel("probability conveyed in words")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig



def state_jsd(states_t: pd.DataFrame, overall_t: pd.DataFrame, message_set: str) -> plt.Figure:
    """Each model's JSD to people per state with its 95% interval; the dotted line is the
    state-blind baseline's mean JSD."""
    blind = overall_t[(overall_t.message_set == message_set) & (overall_t.source == "state_blind")]["jsd"].item()
    part = states_t[(states_t.message_set == message_set) & (states_t.source != "people")]
    return plots.dots_with_ci(part, "state", "jsd", "jsd_low", "jsd_high", "JSD to people (bits)",
                              reference={"state-blind": blind}, title=f"{message_set} messages (o red of a seen)")


def overall_jsd(overall_t: pd.DataFrame) -> plt.Figure:
    """Mean JSD to people per source (models, baselines, sampling floor), one colour per message set."""
    return plots.dots_with_ci(overall_t, "source", "jsd", "jsd_low", "jsd_high", "mean JSD to people (bits)",
                              hue="message_set")


def _by_level(levels_t: pd.DataFrame) -> pd.DataFrame:
    return levels_t.assign(row=levels_t["message_set"] + ": " + levels_t["uncertainty"])


def level_entropy(levels_t: pd.DataFrame) -> plt.Figure:
    """Mean entropy of each source's message distributions per level of higher-order uncertainty."""
    return plots.dots_with_ci(_by_level(levels_t), "row", "entropy", "entropy_low", "entropy_high",
                              "mean entropy of the message distribution (bits)")


def level_jsd(levels_t: pd.DataFrame) -> plt.Figure:
    """Each model's mean JSD to people per level of higher-order uncertainty."""
    return plots.dots_with_ci(_by_level(levels_t[levels_t.source != "people"]), "row", "jsd", "jsd_low", "jsd_high",
                              "mean JSD to people (bits)")
