"""The comparison page's parameters: which sweep (a grid file, run here or elsewhere), which of
its recorded tables and metric, and how the rows are labelled and compared."""
from __future__ import annotations

from rlshift.errors import InputError
from rlshift.params import Param, Schema
from rlshift.studies import common


def _two_names(value) -> None:
    if value is not None and (len(value) != 2 or not all(isinstance(v, str) for v in value)):
        raise InputError(f"parameter 'interval' = {value!r}: accepted null (the table's '<metric>_low' and "
                         f"'<metric>_high') or two column names [low, high].")


PARAMS = Schema(
    Param("grid", str, "book/sweeps/embedded.yaml", "The sweep's grid file (relative: from the repo root)."),
    Param("sweep_dir", str, None, "The sweep's folder (relative: from the repo root; default: "
          "book/executed/sweeps/<grid file name>).",
          optional=True),
    Param("run_missing", bool, True, "Run the grid's missing runs here first (local executors); false: only "
          "collect what the folder holds (a SLURM sweep, collected after its jobs)."),
    Param("table", str, "summary", "The recorded table compared across runs (a chapter's `results.record` name)."),
    Param("metric", str, "ece", "Its column to compare."),
    Param("interval", list, None, "Its 95% interval's columns [low, high]; null: '<metric>_low', '<metric>_high'.",
          optional=True, check=_two_names),
    Param("rows", list, ["task", "format"], "The table's columns that label one row of the figure."),
    Param("hue", str, "role", "The table's column drawn in colours (the stage)."),
    Param("compare", str, "model_pair", "The run parameter the page compares (one figure and one pooled effect "
          "per value)."),
    Param("filters", dict, {"reading": "options"}, "Rows kept: {column: value} of the table."),
    Param("contrast_table", str, "contrasts", "The recorded table of paired effects (estimate, ci_low, ci_high, "
          "p_holm per task), pooled per compared value; '' to skip."),
    Param("contrast", str, "tuning | raw", "The effect pooled from it (its 'contrast' column): here, tuning with "
          "the prompt format held fixed."),
    Param("alpha", float, 0.05, "Level of the per-task Holm-corrected tests counted.", minimum=0.001, maximum=0.5),
    common.cache_dir(),
)
