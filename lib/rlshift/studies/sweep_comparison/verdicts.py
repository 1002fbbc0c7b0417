"""The comparison page's sentences, computed from its tables."""
from __future__ import annotations

import math

import pandas as pd


def verdicts(pooled: pd.DataFrame, compare: str, contrast: str, metric: str, alpha: float,
             caveats: dict | None = None) -> str:
    """`caveats`: a sentence per compared value (a pair's own caveat), said after its result."""
    if pooled.empty:
        return f"No run recorded the effect '{contrast}' on {metric}; nothing is pooled."
    lines = [f"**{contrast} on {metric}, pooled over tasks per {compare}** (random-effects meta-analysis "
             f"of each run's paired per-task effects):"]
    for r in pooled.itertuples():
        if math.isnan(r.ci_low):
            pooled_text = f"{r.estimate:+.3f} from {r.k} task(s): too few to pool"
        else:
            word = "differs from zero" if r.p_value < alpha else "is not distinguishable from zero"
            pooled_text = (f"{r.estimate:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] over {r.k} tasks, p = "
                           f"{r.p_value:.3g}: it {word} at {alpha}")
        caveat = (caveats or {}).get(r.compared)
        lines.append(f"- `{r.compared}`: {pooled_text}; per task (Holm within the run), {r.tasks_up} up and "
                     f"{r.tasks_down} down of {r.tasks}." + (f" *{caveat}*" if caveat else ""))
    lines.append(f"The values of `{compare}` are compared side by side, not tested against each other: their runs "
                 f"share items (and, between pairs, often the base model), so their effects are not independent.")
    return "\n".join(lines)
