"""The chapters' recorded headline tables and what each chapter ran with (its executed notebook's
parameters, as papermill injected them)."""
from __future__ import annotations

import importlib
from pathlib import Path

import nbformat
import pandas as pd

from rlshift import paths, results
from rlshift.errors import InputError

CHAPTERS = ("tuned_pair", "calibration", "uncertainty_expressions", "reward_collapse", "abstention", "logit_lens")


def _root(results_root: str) -> Path:
    root = paths.REPO_ROOT / results_root  # an absolute path stays as it is
    if not root.is_dir():
        raise InputError(f"parameter 'results_root' = {results_root!r}: {root} is not a folder. Accepted: the "
                         f"folder the chapters were executed into (book/executed after `rlshift book`).")
    return root


def headlines(results_root: str, chapters) -> pd.DataFrame:
    """Every chosen chapter's headline rows (results.HEADLINE), with a `chapter` column."""
    root = _root(results_root)
    frames, missing = [], []
    for chapter in chapters:
        path = results.folder_for(root / f"{chapter}.ipynb") / "headline.parquet"
        if not path.exists():
            missing.append(chapter)
            continue
        frames.append(pd.read_parquet(path).assign(chapter=chapter))
    if missing:
        raise InputError(f"no recorded headline for {', '.join(missing)} in {root}: execute those chapters first "
                         f"(`rlshift book --studies {' '.join(missing)} --no-build`), or leave them out of "
                         f"'chapters'.")
    table = pd.concat(frames, ignore_index=True)
    return table[["chapter", *results.HEADLINE]]


def runs_table(results_root: str, chapters) -> pd.DataFrame:
    """Per chapter: the pair it ran on (the injected value, else the chapter's default) and the
    parameters its run set, from its executed notebook."""
    root = _root(results_root)
    rows = []
    for chapter in chapters:
        nb = nbformat.read(root / f"{chapter}.ipynb", as_version=4)
        injected = nb.metadata.get("papermill", {}).get("parameters", {})
        study = importlib.import_module(f"rlshift.studies.{chapter}")
        pair = injected.get("model_pair", study.PARAMS.defaults().get("model_pair", getattr(study, "PAIR", "-")))
        rows.append({"chapter": chapter, "model_pair": pair,
                     "parameters set": ", ".join(f"{k}={v}" for k, v in injected.items()
                                                 if k not in ("cache_dir", "model_dir", "annotation_sheet"))})
    return pd.DataFrame(rows)
