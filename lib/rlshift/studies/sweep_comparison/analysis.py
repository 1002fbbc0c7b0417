"""Tables across a sweep's runs: one recorded metric per run and stage, and one paired effect
pooled over tasks per compared value (the chapters' own per-task tests, counted as they were)."""
from __future__ import annotations

import pandas as pd

from rlshift import stats
from rlshift.errors import InputError


def recorded(collected: pd.DataFrame, table: str, filters: dict) -> pd.DataFrame:
    """The rows of one recorded table, filtered; unknown tables and columns are named."""
    tables = sorted(collected["table"].unique()) if len(collected) else []
    if table not in tables:
        raise InputError(f"table {table!r} was not recorded by any finished run of this sweep. Recorded: "
                         f"{', '.join(tables) or 'nothing (no run has finished)'}.")
    rows = collected[collected["table"] == table].dropna(axis=1, how="all")
    for column, value in filters.items():
        if column not in rows:
            raise InputError(f"filters: {column!r} is not a column of {table!r}. Its columns: {', '.join(rows.columns)}.")
        rows = rows[rows[column] == value]
    return rows


def metric_table(rows: pd.DataFrame, metric: str, interval: list | None, label: list, hue: str,
                 compare: str) -> pd.DataFrame:
    """One row per run x label x stage: the compared value, the metric and its interval."""
    low, high = interval or (f"{metric}_low", f"{metric}_high")
    compared = f"param.{compare}"
    for column in (metric, low, high, hue, compared, *label):
        if column not in rows:
            raise InputError(f"column {column!r} is not in the table (parameters 'metric', 'interval', 'rows', "
                             f"'hue', 'compare'). Its columns: {', '.join(rows.columns)}.")
    out = rows[["run", compared, *label, hue, metric, low, high]].rename(
        columns={compared: "compared", metric: "value", low: "low", high: "high", hue: "hue"})
    out["row"] = out[label].astype(str).agg(" · ".join, axis=1)
    return out.reset_index(drop=True)


def pooled_effects(rows: pd.DataFrame, compare: str, alpha: float) -> pd.DataFrame:
    """Per compared value: the per-task effects pooled by a random-effects meta-analysis (with
    its CI), and how many per-task tests (Holm within their run) were below alpha, by sign."""
    out = []
    for value, group in rows.groupby(f"param.{compare}", sort=False):
        pooled = stats.random_effects(group["estimate"], group["ci_low"], group["ci_high"])
        significant = group[group["p_holm"] < alpha]
        out.append({"compared": value, "runs": group["run"].nunique(), "tasks": len(group), **pooled,
                    "tasks_up": int((significant["estimate"] > 0).sum()),
                    "tasks_down": int((significant["estimate"] < 0).sum())})
    return pd.DataFrame(out)
