"""The summary page's figure: one forest plot of every headline effect, a panel per chapter and
measure (an estimate is only comparable with others in its unit), contrasts in their colours
(the stages in the book's role colours), zero marked, clear effects filled."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from rlshift import plots


def _palette(contrasts) -> dict:
    """A stage contrast ("sft - base") in its role's colour; any other contrast (a reward model
    against chance) in a colour of its own."""
    others = plots.source_palette([c for c in contrasts if c.split(" - ")[0] not in plots.ROLE_PALETTE])
    return {c: plots.ROLE_PALETTE.get(c.split(" - ")[0], others.get(c)) for c in contrasts}


def forest(glance: pd.DataFrame) -> plt.Figure:
    panels = list(dict.fromkeys(zip(glance["chapter"], glance["measure"], glance["unit"])))
    sizes = [int(((glance["chapter"] == c) & (glance["measure"] == m) & (glance["unit"] == u)).sum())
             for c, m, u in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 0.28 * sum(sizes) + 0.75 * len(panels) + 0.8),
                             squeeze=False, gridspec_kw={"height_ratios": [s + 1.2 for s in sizes]})
    palette = _palette(list(dict.fromkeys(glance["contrast"])))
    for ax, (chapter, measure, unit) in zip(axes[:, 0], panels):
        part = glance[(glance["chapter"] == chapter) & (glance["measure"] == measure) & (glance["unit"] == unit)]
        part = part.reset_index(drop=True)
        for i, row in part.iterrows():
            colour = palette[row["contrast"]]
            err = None if pd.isna(row["ci_low"]) else [[max(row["estimate"] - row["ci_low"], 0)],
                                                       [max(row["ci_high"] - row["estimate"], 0)]]
            ax.errorbar(row["estimate"], i, xerr=err, fmt="o", ms=4, capsize=2, color=colour,
                        mfc=colour if row["clear"] else "white")
        labels = [" · ".join(str(v) for v in (r.where, r.format) if v) for r in part.itertuples()]
        ax.axvline(0, color="grey", lw=1, ls=":")
        ax.set_yticks(range(len(part)), labels, fontsize=7)
        ax.set_ylim(len(part) - 0.5, -0.5)
        ax.set_title(f"{chapter.replace('_', ' ')}: {measure} [{unit}]", fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=name) for name, c in palette.items()]
    handles.append(plt.Line2D([], [], marker="o", ls="", color="grey", mfc="white", label="interval includes 0"))
    fig.legend(handles=handles, fontsize=7, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.6 / fig.get_figheight() + 0.02, 1, 1))
    return fig
