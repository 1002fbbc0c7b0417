"""Running one study notebook: its parameters checked against the study's schema before a
kernel starts, then papermill, with the run's result tables recorded beside the executed
notebook (`rlshift.results`). `rlshift run`, `rlshift book` and sweeps all run through here.

Each executed notebook carries the fingerprint of what it was computed from (`fingerprint`), so
`rlshift book` re-executes only the chapters whose inputs changed, as Jupyter Book's own
execution cache does; a chapter's outputs are a function of these inputs (test_reproducible)."""
from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
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


# What every chapter's outputs depend on besides its own parameters: the library, every notebook
# (the summary and sweep pages run others), the profiles and grids, the shipped data and adapters.
FINGERPRINT_INPUTS = ("lib/rlshift/**/*.py", "notebooks/*.ipynb", "book/studies.yaml", "book/sweeps/*.yaml",
                      "data/**/*", "requirements.txt", "pyproject.toml")
FINGERPRINT_PACKAGES = ("torch", "transformers", "peft", "trl", "numpy", "pandas", "scipy", "scikit-learn",
                        "statsmodels", "spacy", "bertopic", "papermill", "matplotlib", "seaborn")


@functools.lru_cache(maxsize=1)
def _inputs_digest() -> str:
    h = hashlib.sha256()
    files = sorted({f for pattern in FINGERPRINT_INPUTS for f in paths.REPO_ROOT.glob(pattern) if f.is_file()})
    for f in files:
        h.update(str(f.relative_to(paths.REPO_ROOT)).encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    for name in FINGERPRINT_PACKAGES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{name}=={version}\0".encode())
    return h.hexdigest()


def fingerprint(notebook: Path, parameters: dict, profile: str | None = None) -> str:
    """The sha256 of a run's inputs: the repo's code, notebooks, profiles and data, the key
    packages' versions, the data mirror, and this run's notebook, parameters and profile."""
    run = {"notebook": Path(notebook).name, "parameters": parameters, "profile": profile,
           "data_mirror": os.environ.get("RLSHIFT_DATA_MIRROR")}
    return hashlib.sha256((_inputs_digest() + json.dumps(run, sort_keys=True, default=str)).encode()).hexdigest()


def up_to_date(output: Path, fingerprint_: str) -> bool:
    """Whether `output` is an executed notebook that finished a run with these inputs."""
    try:
        meta = json.loads(Path(output).read_text())["metadata"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return meta.get("rlshift", {}).get("fingerprint") == fingerprint_


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
    inputs = fingerprint(notebook, parameters, profile)  # before the run: what it starts from
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
    done = nbformat.read(output, as_version=4)  # finished: stamp what it was computed from
    done.metadata["rlshift"] = {"fingerprint": inputs}
    nbformat.write(done, output)
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
