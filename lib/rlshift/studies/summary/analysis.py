"""The headline table read across chapters: which effects are distinguishable from zero, and in
which direction."""
from __future__ import annotations

import numpy as np
import pandas as pd


def at_a_glance(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Each headline row with a label and a decision: `clear` when its 95% interval excludes 0 and
    its Holm-adjusted p-value (where the chapter gives one) is below alpha; `direction` is the
    estimate's sign for clear effects, else "no clear change"."""
    out = table.copy()
    out["label"] = (out["measure"] + " · " + out["where"] + " · " + out["format"].fillna("")).str.rstrip(" ·")
    excludes_zero = (out["ci_low"] > 0) | (out["ci_high"] < 0)
    tested = out["p_holm"].isna() | (out["p_holm"] < alpha)
    out["clear"] = excludes_zero & tested & out["ci_low"].notna()
    out["direction"] = np.where(~out["clear"], "no clear change", np.where(out["estimate"] > 0, "up", "down"))
    return out


def by_chapter(glance: pd.DataFrame) -> pd.DataFrame:
    """Per chapter: how many headline effects, how many clear, and the clear ones named."""
    rows = []
    for chapter, g in glance.groupby("chapter", sort=False):
        clear = g[g["clear"]]
        rows.append({"chapter": chapter, "effects": len(g), "clear": len(clear),
                     "without_interval": int(g["ci_low"].isna().sum()),
                     "clear_effects": "; ".join(f"{r.measure} ({r.where}, {r.format}): {r.contrast} "
                                                f"{r.estimate:+.3g} [{r.ci_low:+.3g}, {r.ci_high:+.3g}] {r.unit}"
                                                for r in clear.itertuples()) or "none"})
    return pd.DataFrame(rows)
