"""Running one study notebook: its parameters checked against the study's schema before a
kernel starts, then papermill, with the run's result tables recorded beside the executed
notebook (`rlshift.results`). `rlshift run`, `rlshift book` and sweeps all run through here."""
from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path

import yaml

from rlshift import paths, results
from rlshift.errors import InputError

STUDIES_FILE = paths.REPO_ROOT / "book" / "studies.yaml"
EXECUTED = paths.REPO_ROOT / "book" / "executed"


def studies() -> dict[str, dict]:
    return yaml.safe_load(STUDIES_FILE.read_text())["studies"]


def schema_for(notebook: Path):
    """The parameter schema of the study a notebook belongs to (package named as the notebook)."""
    try:
        module = importlib.import_module(f"rlshift.studies.{notebook.stem}")
    except ModuleNotFoundError as err:
        raise InputError(f"notebook {notebook} has no study package rlshift.studies.{notebook.stem}; "
                         f"known studies: {', '.join(studies())}.") from err
    return module.PARAMS


def execute(notebook: Path, output: Path, parameters: dict, *, quiet: bool = False,
            profile: str | None = None) -> float:
    """Check parameters, then run the notebook with papermill; returns seconds taken. The tables
    it records go to `results.folder_for(output)`. Unless
    quiet, each step is announced with an estimate of the time left, and the engine's progress
    bars (the kernel's stderr) come through to this terminal."""
    import nbformat
    import papermill

    from rlshift import progress

    notebook = Path(notebook)
    if not notebook.exists():
        raise InputError(f"notebook {notebook} does not exist.")
    schema_for(notebook).validate(parameters)  # defaults filled in, so checks across parameters run too
    output = check_output(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    reporter = None
    if not quiet:
        nb = nbformat.read(notebook, as_version=4)
        durations, source = progress.earlier_durations(notebook.stem, profile, parameters, output,
                                                       len(progress.source_code_cells(nb)))
        reporter = progress.Reporter(notebook.stem, nb, durations, source)
    start = time.time()
    before = os.environ.get(results.ENV)
    recorded = results.folder_for(output)
    for stale in recorded.glob("*.parquet"):  # an earlier run's tables: this run records its own
        stale.unlink()
    os.environ[results.ENV] = str(recorded.resolve())  # the kernel inherits it
    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters,
                                   cwd=str(notebook.parent), kernel_name="python3", engine_name=progress.ENGINE,
                                   reporter=reporter, progress_bar=False, log_output=False,
                                   stderr_file=None if quiet else sys.stderr)
    finally:
        if before is None:
            os.environ.pop(results.ENV, None)
        else:
            os.environ[results.ENV] = before
    return time.time() - start


def check_output(output: Path) -> Path:
    """An executed notebook's path: new, or a notebook (an earlier run's output, which is
    replaced); never a folder or another file."""
    output = Path(output)
    if output.is_dir():
        raise InputError(f"output {str(output)!r} is a folder. Accepted: a notebook file path (.ipynb).")
    if output.suffix != ".ipynb":
        raise InputError(f"output {str(output)!r} does not end in .ipynb. Accepted: a notebook file path (.ipynb).")
    if output.exists():
        try:
            is_notebook = "cells" in json.loads(output.read_text())
        except (ValueError, UnicodeDecodeError):
            is_notebook = False
        if not is_notebook:
            raise InputError(f"output {str(output)!r} exists and is not a notebook; it is left untouched. Accepted: "
                             f"a new path, or an executed notebook to replace.")
    paths.check_folder_to_make(output.parent, "output folder")
    return output
