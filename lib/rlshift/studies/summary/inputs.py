"""The chapters' recorded headline tables and what each chapter ran with (its executed notebook's
parameters, as papermill injected them)."""
from __future__ import annotations

import importlib
from pathlib import Path

import nbformat
import pandas as pd

from rlshift import paths, results
from rlshift.errors import InputError

CHAPTERS = ("tuned_pair", "calibration", "uncertainty_expressions", "reward_collapse", "abstention", "linguistic",
            "data_collapse", "logit_lens")


def folder(results_root: str) -> Path:
    """The results_root parameter as a path (relative: from the repo root)."""
    return paths.REPO_ROOT / results_root  # an absolute path stays as it is


def missing(results_root: str, chapters) -> list[str]:
    """The chapters that have not recorded their headline in results_root (all, where the folder
    does not exist yet: a fresh clone, a Colab runtime)."""
    root = folder(results_root)
    return [c for c in chapters if not (results.folder_for(root / f"{c}.ipynb") / "headline.parquet").exists()]


def _root(results_root: str) -> Path:
    root = folder(results_root)
    if not root.is_dir():
        raise InputError(f"parameter 'results_root' = {results_root!r}: {root} is not a folder. Accepted: the "
                         f"folder the chapters were executed into (book/executed after `rlshift book`).")
    return root


def headlines(results_root: str, chapters) -> pd.DataFrame:
    """Every chosen chapter's headline rows (results.HEADLINE), with a `chapter` column."""
    root = _root(results_root)
    absent = missing(results_root, chapters)
    if absent or not chapters:
        raise InputError(f"no recorded headline for {', '.join(absent) or 'any chapter'} in {root}: execute those "
                         f"chapters first (`rlshift book --studies {' '.join(absent) or '...'} --no-build`, or "
                         f"run_missing = True here), or leave them out of 'chapters'.")
    frames = [pd.read_parquet(results.folder_for(root / f"{c}.ipynb") / "headline.parquet").assign(chapter=c)
              for c in chapters]
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
