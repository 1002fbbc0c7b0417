"""The summary page's parameters: where the chapters recorded their tables, which chapters, and
the level at which an effect counts as distinguishable from zero."""
from __future__ import annotations

from rlshift.errors import InputError
from rlshift.params import Param, Schema
from rlshift.studies import common
from rlshift.studies.summary.inputs import CHAPTERS


def _chapters(value) -> None:
    bad = [c for c in value if c not in CHAPTERS]
    if not value or bad:
        raise InputError(f"parameter 'chapters': {bad or value} not accepted. Accepted: a non-empty list from "
                         f"{', '.join(CHAPTERS)}.")


PARAMS = Schema(
    Param("results_root", str, "book/executed", "Folder holding each chapter's executed notebook and its "
          "recorded tables (`<chapter>.results/`; relative: from the repo root)."),
    Param("chapters", list, list(CHAPTERS), "Chapters whose headline effects the page shows.", check=_chapters),
    Param("run_missing", bool, True, "Execute first the chapters that have not recorded their headline in "
          "results_root (a fresh clone, a Colab runtime: hours on a CPU) with `profile`'s parameters; false: the "
          "page shows the chapters that have."),
    Param("profile", str, "book", "The book/studies.yaml profile those chapters run with.",
          choices=("book", "full", "quick")),
    Param("alpha", float, 0.05, "An effect is distinguishable from zero when its 95% interval excludes 0 and its "
          "Holm-adjusted p-value (within its chapter) is below alpha.", minimum=0.001, maximum=0.5),
    common.cache_dir(),
)
