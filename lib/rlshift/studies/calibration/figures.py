"""The calibration chapter's figures, drawn from its tables with rlshift.plots."""
from __future__ import annotations

import pandas as pd

from rlshift import plots


def accuracy(summary: pd.DataFrame):
    """Accuracy per task and role with its Wilson 95% interval; chance as a black bar."""
    return plots.metric_with_ci(summary, "accuracy", "acc_low", "acc_high", "accuracy", chance="chance")


def reliability(points: pd.DataFrame, summary: pd.DataFrame, title: str):
    return plots.reliability_diagrams(points, summary, title=title)


def ece(summary: pd.DataFrame):
    return plots.metric_with_ci(summary, "ece_mass_all", "ece_low", "ece_high", "ECE (all options, equal mass)")


def selective(table: pd.DataFrame):
    return plots.lines_by_task(table, "coverage", "accuracy", "coverage", "accuracy")


def temperature_sweep(sweep: pd.DataFrame):
    """ECE against the temperature; the dotted line marks Kadavath et al.'s T = 2.5."""
    return plots.lines_by_task(sweep, "temperature", "ece_mass_all", "temperature T", "ECE", reference=2.5)
