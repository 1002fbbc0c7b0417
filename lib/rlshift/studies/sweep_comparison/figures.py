"""The comparison page's figure: one forest of the metric with its 95% intervals per compared value."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from rlshift import plots


def forest(table: pd.DataFrame, compared, metric: str) -> plt.Figure:
    part = table[table["compared"] == compared]
    return plots.dots_with_ci(part, "row", "value", "low", "high", f"{metric} (95% interval)", hue="hue",
                              title=f"{compared}")
