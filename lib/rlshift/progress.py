"""What `rlshift book` shows while a chapter runs: which chapter and which step (the section
heading above the running cell), the time spent, and an estimate of the time left from the
durations of the same cells in the last run (the earlier executed notebook, else the committed
`book/timings.json` that `bench/book_budget.py` writes). The engine's own tqdm bars come
through the kernel's stderr. A papermill engine, so nothing of papermill is patched.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from papermill.engines import NBClientEngine, papermill_engines

from rlshift import paths

TIMINGS = paths.REPO_ROOT / "book" / "timings.json"
ENGINE = "rlshift"


def step_names(nb) -> list[str]:
    """Per cell, the last markdown heading at or above it (the step a reader would name)."""
    names, current = [], "setup"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heads = [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")]
            current = heads[-1] if heads else current
        names.append(current)
    return names


def source_code_cells(nb) -> list[int]:
    """Indices of the notebook's own code cells (not papermill's injected parameters cell)."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
            and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]


def code_durations(nb) -> list[float] | None:
    """Seconds of each of the source notebook's code cells in an executed one; None where any
    is missing."""
    out = [nb.cells[i].get("metadata", {}).get("papermill", {}).get("duration") for i in source_code_cells(nb)]
    return None if not out or any(d is None for d in out) else [float(d) for d in out]


def earlier_durations(study: str, profile: str | None, parameters: dict, executed: Path,
                      n_code: int) -> tuple[list[float] | None, str]:
    """The per-cell seconds of the last run with these parameters (the executed notebook here),
    else of the profile's committed measurement, and where they come from."""
    import nbformat

    if executed.exists():
        try:
            old = nbformat.read(executed, as_version=4)
            got = code_durations(old)
            if got and len(got) == n_code and old.metadata.get("papermill", {}).get("parameters") == parameters:
                return got, "the last run here"
        except (ValueError, OSError, KeyError, AttributeError):
            pass
    if profile and TIMINGS.exists():
        rec = json.loads(TIMINGS.read_text()).get(study, {}).get(profile)
        if rec and len(rec["cells"]) == n_code:
            return rec["cells"], f"book/timings.json ({rec['machine']})"
    return None, ""


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


class Reporter:
    """Prints one line as each step starts: chapter, step, elapsed, estimated time left."""

    def __init__(self, label: str, nb, durations: list[float] | None, source: str, stream=sys.stderr):
        self.label, self.stream, self.source, self.earlier = label, stream, source, durations
        self.start = time.time()
        self.last_step = None
        self.attach(nb)

    def attach(self, nb) -> None:
        """Index cells as in the notebook that runs (papermill inserts its parameters cell)."""
        self.steps = step_names(nb)
        self.code = source_code_cells(nb)
        self.durations = dict(zip(self.code, self.earlier)) if self.earlier else None

    def cell_start(self, index: int) -> None:
        step = self.steps[index]
        if step == self.last_step:
            return
        self.last_step = step
        done = sum(1 for i in self.code if i < index)
        left = (f", ~{minutes(sum(d for i, d in self.durations.items() if i >= index))} left by {self.source}"
                if self.durations else "")
        print(f"[{self.label}] cell {done + 1}/{len(self.code)}: {step} "
              f"({minutes(time.time() - self.start)} in{left})", file=self.stream, flush=True)


class ReportingEngine(NBClientEngine):
    """nbclient's engine, with the manager's cell-start hook also telling the reporter."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, reporter: Reporter | None = None, **kwargs):
        if reporter is not None:
            reporter.attach(nb_man.nb)
            started = nb_man.cell_start

            def cell_start(cell, cell_index=None, **kw):
                if cell_index is not None:
                    reporter.cell_start(cell_index)
                return started(cell, cell_index, **kw)

            nb_man.cell_start = cell_start
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


papermill_engines.register(ENGINE, ReportingEngine)
