"""Tidy result tables a chapter records, so runs can be compared after the fact (a sweep's
`rlshift collect`, pages that read several chapters).

A run started by `rlshift run`, `rlshift book` or `rlshift sweep` points RLSHIFT_RESULTS_DIR at
a folder beside its executed notebook, and `record(name, table)` writes the table there as
Parquet. Opened by hand (Jupyter, Colab) with the variable unset, `record` writes nothing and
returns the table: the notebook shows the same numbers either way.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd

from rlshift.errors import InputError

ENV = "RLSHIFT_RESULTS_DIR"
_NAME = re.compile(r"[a-z][a-z0-9_]*")
# A chapter's headline effects, in the one shape the summary page reads: each row a later stage
# against the base (`contrast`, e.g. "tuned - base") on one measure, with its 95% interval, the
# Holm-adjusted p-value of the chapter's family (NaN where none), the units it rests on (`n`) and
# what the estimate is measured in (`unit`, e.g. "share of pairs", "nats", "ECE").
HEADLINE = ("measure", "where", "contrast", "format", "estimate", "ci_low", "ci_high", "p_holm", "n", "unit")


def folder_for(executed: Path) -> Path:
    """Where the run that writes the executed notebook `executed` records its tables."""
    executed = Path(executed)
    return executed.with_name(f"{executed.stem}.results")


def _parquet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Columns Parquet can store: an object column of mixed values (lists, dicts, numbers beside
    text) becomes JSON text; index levels become columns."""
    table = table.reset_index(drop=isinstance(table.index, pd.RangeIndex))
    table.columns = [" / ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in table.columns]
    for col in table.columns:
        if table[col].dtype == object:
            kinds = {type(v) for v in table[col].dropna()}
            if kinds - {str}:
                table[col] = [None if v is None else v if isinstance(v, str) else json.dumps(v, default=str)
                              for v in table[col]]
    return table


def record(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """Write `table` as `<RLSHIFT_RESULTS_DIR>/<name>.parquet` when the variable is set; returns
    the table unchanged, so a notebook cell can end with `results.record("summary", summary)`."""
    if not _NAME.fullmatch(name):
        raise InputError(f"result name {name!r} is not accepted: lower-case letters, digits and '_', "
                         f"starting with a letter.")
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"result {name!r} must be a pandas DataFrame, got {type(table).__name__}.")
    folder = os.environ.get(ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tmp = Path(folder) / f".{name}.parquet.tmp"
        _parquet_safe(table.copy()).to_parquet(tmp, index=False)
        tmp.replace(Path(folder) / f"{name}.parquet")  # a reader never sees half a file
    return table


def headline(table: pd.DataFrame) -> pd.DataFrame:
    """Record a chapter's headline effects (columns HEADLINE) as `headline`; returns them."""
    if table.empty and not len(table.columns):  # a run too small for any effect: an empty table
        table = pd.DataFrame(columns=list(HEADLINE))
    missing = [c for c in HEADLINE if c not in table.columns]
    if missing:
        raise InputError(f"a headline table needs the columns {', '.join(HEADLINE)}; it lacks {', '.join(missing)}.")
    out = table[list(HEADLINE)].reset_index(drop=True)
    for col in ("estimate", "ci_low", "ci_high", "p_holm"):
        out[col] = pd.to_numeric(out[col], errors="raise").astype(float)
    out["n"] = pd.to_numeric(out["n"], errors="raise").astype(int)
    return record("headline", out)


def read(folder: Path) -> dict[str, pd.DataFrame]:
    """Every table a run recorded, by name."""
    return {p.stem: pd.read_parquet(p) for p in sorted(Path(folder).glob("*.parquet"))}
