"""What `rlshift book` shows while a chapter runs: each step as it starts, with the time left
estimated from the same cells' durations in the last run, and the kernel's stderr (the
engine's bars) passed through."""
from __future__ import annotations

import io
import re

import nbformat
import papermill

from rlshift import progress


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter\n## Loading"),
                nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_markdown_cell("Some prose, no heading."),
                nbformat.v4.new_code_cell("import sys; print('bar 50%', file=sys.stderr)"),
                nbformat.v4.new_markdown_cell("## Scoring"),
                nbformat.v4.new_code_cell("y = x + 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return nb


def test_steps_are_the_headings_above_each_cell(tmp_path):
    nb = _notebook(tmp_path / "n.ipynb")
    assert progress.step_names(nb) == ["Loading", "Loading", "Loading", "Loading", "Scoring", "Scoring"]


def test_each_step_is_announced_with_the_time_left_by_the_last_run(tmp_path):
    nb = _notebook(tmp_path / "n.ipynb")
    out, err = tmp_path / "out.ipynb", io.StringIO()
    durations, source = progress.earlier_durations("n", None, {"x": 2}, out, 3)
    assert durations is None  # no earlier run: no estimate is made up
    papermill.execute_notebook(str(tmp_path / "n.ipynb"), str(out), engine_name=progress.ENGINE, parameters={"x": 2},
                               reporter=progress.Reporter("n", nb, None, "", stream=err),
                               progress_bar=False, stderr_file=err, kernel_name="python3")
    lines = err.getvalue()
    assert re.search(r"^\[n\] cell 1/3: Loading \(\d+ s in\)$", lines, re.M)
    assert "cell 2/3" not in lines  # papermill's injected parameters cell is not a step of its own
    assert re.search(r"^\[n\] cell 3/3: Scoring \(\d+ s in\)$", lines, re.M)
    assert lines.count("Loading") == 1  # a step is announced once, not per cell
    assert "bar 50%" in lines  # the kernel's stderr reaches the terminal
    durations, source = progress.earlier_durations("n", None, {"x": 2}, out, 3)
    assert len(durations) == 3 and source == "the last run here"
    assert progress.earlier_durations("n", None, {"other": 1}, out, 3)[0] is None  # other parameters: not the same run
    err2 = io.StringIO()
    rep = progress.Reporter("n", nb, [10.0, 50.0, 120.0], "the last run here", stream=err2)
    rep.cell_start(1)
    rep.cell_start(5)
    assert "~3.0 min left by the last run here" in err2.getvalue()
    assert "~2.0 min left" in err2.getvalue().splitlines()[1]
