"""The calibration chapter's figures, drawn from its tables with rlshift.plots; each model x
format cell is one colour ("role · format")."""
from __future__ import annotations

import pandas as pd

from rlshift import plots


def _cells(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(role=table["role"] + " · " + table["format"])


def accuracy(summary: pd.DataFrame):
    """Accuracy per task and cell with its Wilson 95% interval; chance as a black bar."""
    part = summary[summary["reading"] == "options"]
    return plots.metric_with_ci(_cells(part), "accuracy", "acc_low", "acc_high", "accuracy", chance="chance")


def reliability(points: pd.DataFrame, title: str):
    return plots.reliability_diagrams(_cells(points), None, title=title)


def ece(summary: pd.DataFrame, reading: str = "options"):
    part = summary[summary["reading"] == reading]
    return plots.metric_with_ci(_cells(part), "ece", "ece_low", "ece_high", f"ECE ({reading}, equal mass)")


def contrasts(table: pd.DataFrame, metric: str = "ece", reading: str = "options"):
    """Forest plot: each 2x2 effect per task with its paired bootstrap 95% CI."""
    part = table[(table["metric"] == metric) & (table["reading"] == reading)]
    return plots.dots_with_ci(part, "task", "estimate", "ci_low", "ci_high", f"effect on {metric} ({reading})",
                              hue="contrast", reference={"no effect": 0.0})


def selective(table: pd.DataFrame):
    return plots.lines_by_task(_cells(table), "coverage", "accuracy", "coverage", "accuracy")


def temperature_sweep(sweep: pd.DataFrame):
    """ECE against the temperature; the dotted line marks Kadavath et al.'s T = 2.5."""
    return plots.lines_by_task(_cells(sweep), "temperature", "ece_mass_all", "temperature T", "ECE", reference=2.5)
