"""Rerun a chapter and get the same numbers, as a test: every executed quick-profile chapter is
re-executed cell by cell under `pytest --nbval` (in a fresh kernel, with the parameters papermill
injected, against the same score cache) and each cell's text output must equal the first run's,
after the sanitizers in nbval_sanitize.cfg (memory addresses, temporary paths, durations)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from rlshift import cli

SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")
QUIET = ("import os, sys\n"
         "sys.stderr = open(os.devnull, 'w')  # progress bars and library warnings: not results")


def _reference(executed: Path, out: Path) -> Path:
    """A copy of the executed notebook that nbval compares against: stderr (progress bars, load
    messages, warnings) dropped, and a first cell that sends the re-run's stderr nowhere."""
    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    quiet = nbformat.v4.new_code_cell(QUIET)
    quiet.metadata["tags"] = ["nbval-ignore-output"]
    nb.cells.insert(0, quiet)
    nbformat.write(nb, out / executed.name)
    return out / executed.name


@pytest.mark.slow
def test_every_quick_chapter_reproduces_its_text_outputs(quick_book, tmp_path):
    copies = [_reference(quick_book / "book" / "executed" / Path(e["notebook"]).name, tmp_path)
              for e in cli.studies().values()]
    env = {k: v for k, v in os.environ.items() if k != "RLSHIFT_RESULTS_DIR"}  # the re-run records nothing
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                           "--nbval-current-env", "--nbval-sanitize-with", str(SANITIZE),
                           "--nbval-cell-timeout", "900", *map(str, copies)],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert f"{sum(len([c for c in nbformat.read(p, 4).cells if c.cell_type == 'code']) for p in copies)} passed" \
        in done.stdout
