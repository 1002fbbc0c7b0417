"""The summary page's verdict, every number from the headline table."""
from __future__ import annotations

import pandas as pd


def verdicts(glance: pd.DataFrame, chapters: pd.DataFrame, runs: pd.DataFrame, alpha: float) -> str:
    """`chapters`: analysis.by_chapter; `runs`: inputs.runs_table."""
    n, clear = len(glance), int(glance["clear"].sum())
    pairs = sorted(set(runs["model_pair"]))
    lines = [f"**Verdict, at a glance.** Of {n} headline effects in {glance['chapter'].nunique()} chapters "
             f"(model pair{'s' if len(pairs) > 1 else ''}: {', '.join(pairs)}), {clear} "
             f"{'is' if clear == 1 else 'are'} distinguishable from zero (95% interval excluding 0, Holm-adjusted "
             f"p < {alpha} within its chapter); the other {n - clear} are not at these sample sizes, which is not "
             f"evidence of no change: their intervals in the figure say how large a change they leave open."]
    for row in chapters.itertuples():
        word = "none" if row.clear == 0 else f"{row.clear} of {row.effects}"
        lines.append(f"- **{row.chapter.replace('_', ' ')}**: clear effects: {word}"
                     + (f" ({row.clear_effects})" if row.clear else "") + ".")
    if len(pairs) > 1:
        lines.append("The chapters ran on different model pairs; compare effects within a pair.")
    return "\n".join(lines)
