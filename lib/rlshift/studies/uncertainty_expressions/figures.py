"""The uncertainty-expressions chapter's figures, drawn from its tables with seaborn and
rlshift.plots: people and the four model cells in fixed colours (`palette`: base blue, tuned
red, light for raw text and dark for the chat template)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rlshift import plots

CELL_COLOURS = {"people": "#4D4D4D", "base raw": "#9DB9E0", "base chat": "#2F5597", "tuned raw": "#EEA2A4",
                "tuned chat": "#A52A2D", "bayes": "#55A868", "uniform": "#BBBBBB", "state_blind": "#888888",
                "people_resampled": "#DDDDDD"}


def palette(sources) -> dict:
    """Fixed colours for people, the model cells and the references; others from plots."""
    other = plots.source_palette([s for s in sources if s not in CELL_COLOURS])
    return {s: CELL_COLOURS.get(s, other.get(s)) for s in sources}


def dots(table: pd.DataFrame, y: str, value: str, low: str, high: str, xlabel: str, hue: str = "source",
         reference: dict | None = None, title: str = "") -> plt.Figure:
    """plots.dots_with_ci in this chapter's colours (people, cells, references)."""
    fig = plots.dots_with_ci(table, y, value, low, high, xlabel, hue=hue, reference=reference, title=title)
    colours = palette(list(dict.fromkeys(table[hue])))
    ax = fig.axes[0]
    for container, name in zip(ax.containers, list(dict.fromkeys(table[hue]))):
        for artist in container.get_children():
            artist.set_color(colours[name])
    ax.legend(fontsize=8, loc="best")
    return fig


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
                       hue_order=sources, palette=palette(sources), errorbar=None,
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
    fig, axes = plt.subplots(1, len(sources), figsize=(3.6 * len(sources), 0.3 * len(rows) + 2.6),
                             sharey=True, squeeze=False)
    vmax = float(table["proportion"].max())
    for k, (ax, source) in enumerate(zip(axes[0], sources)):
        grid = table[table["source"] == source].pivot(index="row", columns="message", values="proportion")
        sns.heatmap(grid.reindex(index=rows, columns=list(messages)), ax=ax, vmin=0, vmax=vmax,
                    cmap="Greys" if source == "people" else "Blues" if source.startswith("base") else "Reds",
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



def number_curves(table: pd.DataFrame, xlabel: str = "red balls in the urn", title: str = "") -> plt.Figure:
    """Per key (a message heard, or a state seen): people's answers over 0..10 (bars) and each
    model cell's distribution (lines; the Bayesian posterior dashed, where present)."""
    keys = list(dict.fromkeys(table["key"]))
    grid = sns.FacetGrid(table, col="key", col_order=keys, col_wrap=min(4, len(keys)),
                         height=2.2, aspect=1.3, sharey=False)
    colours = palette(table["source"].unique())
    for key, ax in zip(grid.col_names, grid.axes.flat):
        part = table[table["key"] == key]
        people = part[part["source"] == "people"]
        ax.bar(people["number"], people["proportion"], color=colours["people"], alpha=0.35, label="people")
        for source, line in part[part["source"] != "people"].groupby("source", sort=False):
            ax.plot(line["number"], line["proportion"], "--" if source == "bayes" else "o-", ms=3, lw=1.2,
                    color=colours[source], label=source)
        ax.set_title(f"\u201c{key}\u201d" if not key[0].isdigit() else f"{key} seen", fontsize=8)
        ax.set_xticks(range(0, 11, 2))
    grid.set_axis_labels(xlabel, "probability")
    grid.axes.flat[0].legend(fontsize=6)
    if title:
        grid.figure.suptitle(title, y=1.02)
    return grid.figure


def conveyed_vs_evidence(table: pd.DataFrame) -> plt.Figure:
    """Per state: the probability of red conveyed in words (people's reading of the messages,
    weighted by each source's message distribution) against the Bayesian probability; the
    diagonal is words that say exactly what the evidence supports."""
    sets = list(dict.fromkeys(table["message_set"]))
    sources = list(dict.fromkeys(table["source"]))
    colours = palette(sources)
    fig, axes = plt.subplots(1, len(sets), figsize=(3.4 * len(sets), 3.3), squeeze=False)
    for ax, mset in zip(axes[0], sets):
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
        for source in sources:
            part = table[(table["message_set"] == mset) & (table["source"] == source)].sort_values("p_red")
            ax.plot(part["p_red"], part["conveyed"], "o", ms=4, alpha=0.8, color=colours[source], label=source)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{mset} messages", fontsize=9)
        ax.set_xlabel("Bayesian P(next ball red)")
    axes[0][0].set_ylabel("probability conveyed in words")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig



def state_jsd(states_t: pd.DataFrame, overall_t: pd.DataFrame, message_set: str) -> plt.Figure:
    """Each model cell's JSD to people per state with its 95% interval; the dotted line is the
    state-blind baseline's mean JSD."""
    blind = overall_t[(overall_t.message_set == message_set) & (overall_t.source == "state_blind")]["jsd"].iloc[0]
    part = states_t[(states_t.message_set == message_set) & (states_t.source != "people")]
    return dots(part, "state", "jsd", "jsd_low", "jsd_high", "JSD to people (bits)",
                              reference={"state-blind": blind}, title=f"{message_set} messages (o red of a seen)")


def overall_jsd(overall_t: pd.DataFrame) -> plt.Figure:
    """Mean JSD to people per source (models, baselines, sampling floor), one colour per message set."""
    return dots(overall_t, "source", "jsd", "jsd_low", "jsd_high", "mean JSD to people (bits)",
                              hue="message_set")


def _by_level(levels_t: pd.DataFrame) -> pd.DataFrame:
    return levels_t.assign(row=levels_t["message_set"] + ": " + levels_t["uncertainty"])


def level_entropy(levels_t: pd.DataFrame) -> plt.Figure:
    """Mean entropy of each source's message distributions per level of higher-order uncertainty."""
    return dots(_by_level(levels_t), "row", "entropy", "entropy_low", "entropy_high",
                              "mean entropy of the message distribution (bits)")


def level_jsd(levels_t: pd.DataFrame) -> plt.Figure:
    """Each model's mean JSD to people per level of higher-order uncertainty."""
    return dots(_by_level(levels_t[levels_t.source != "people"]), "row", "jsd", "jsd_low", "jsd_high",
                              "mean JSD to people (bits)")


# ------------------------------------------------------------------ the 2x2, paraphrases, RSA

def factorial_effects(table: pd.DataFrame, metric: str = "JSD to people") -> plt.Figure:
    """The 2x2's contrasts of one metric with their 95% intervals (units: paraphrases), one
    colour per analysis x message set x reading; 0 is no effect."""
    part = table[table["metric"] == metric]
    part = part.assign(group=[", ".join(x for x in (a, m, r) if x != "-")
                              for a, m, r in zip(part["analysis"], part["message_set"], part["reading"])])
    fig = plots.dots_with_ci(part, "contrast", "estimate", "ci_low", "ci_high", f"effect on {metric}", hue="group",
                             title=f"tuning x format: {metric}")
    fig.axes[0].axvline(0, c="black", lw=0.8)
    return fig


def paraphrase_spread(table: pd.DataFrame) -> plt.Figure:
    """Each paraphrase's mean JSD to people (dots) per model cell, one panel per message set:
    how far the wording alone moves the fit, beside the cells' differences."""
    sets = list(dict.fromkeys(table["message_set"]))
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 2.8), squeeze=False, sharex=True)
    for ax, mset in zip(axes[0], sets):
        part = table[table["message_set"] == mset]
        order = list(dict.fromkeys(part["source"]))
        sns.stripplot(data=part, x="jsd", y="source", order=order, hue="source", palette=palette(order),
                      ax=ax, size=5, jitter=0.15, legend=False)
        means = part.groupby("source", sort=False)["jsd"].mean().reindex(order)
        ax.scatter(means, range(len(order)), marker="|", s=300, color="black", label="mean")
        ax.set_title(f"{mset} messages", fontsize=9)
        ax.set_xlabel("mean JSD to people (bits), one dot per paraphrase")
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


def thresholds(table: pd.DataFrame) -> plt.Figure:
    """The RSA speaker's fitted thresholds (theta: the share of red balls above which a
    message is true) per source with 95% intervals; a source the speaker fits no better than
    ignoring the state (gain interval at or below 0) has no identified thresholds and is named
    in the title instead."""
    part = table[table["parameter"].str.startswith("theta")]
    unidentified = sorted(set(part.loc[part.get("gain_low", pd.Series(1.0, index=part.index)) <= 0, "source"]))
    part = part[~part["source"].isin(unidentified)]
    title = "threshold semantics + RSA speaker (simple messages)"
    if unidentified:
        title += "\nnot identified (no better than ignoring the state): " + ", ".join(unidentified)
    fig = dots(part, "parameter", "estimate", "low", "high", "fitted threshold (share of red balls)", title=title)
    ax = fig.axes[0]
    ax.set_xlim(0, 1)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig
