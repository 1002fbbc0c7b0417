"""A sweep's runs gathered into tables: one row per run (its status and varied values), and every
table the finished runs recorded, stacked long, with each run's parameters as columns."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rlshift import cache, results
from rlshift.errors import InputError
from rlshift.sweep.executors import FAILED, FINISHED

PARAM = "param."  # prefix of the parameter columns, so they never collide with a table's own


def _status(run_dir: Path) -> str:
    if (run_dir / FINISHED).exists():
        return "finished"
    if (run_dir / FAILED).exists():
        return "failed"
    return "started, not finished" if (run_dir / "started.json").exists() else "not started"


def _cell(value):
    return value if value is None or isinstance(value, (str, int, float, bool)) else json.dumps(value, sort_keys=True)


def run_dirs(folder: Path) -> list[Path]:
    folder = Path(folder)
    found = sorted(p.parent for p in (folder / "runs").glob("*/run.json"))
    if not found:
        raise InputError(f"{folder} is not a sweep folder: no runs/*/run.json in it. Accepted: the folder "
                         f"`rlshift sweep` wrote (its --dir).")
    return found


def runs_table(folder: Path) -> pd.DataFrame:
    rows = []
    for run_dir in run_dirs(folder):
        spec = json.loads((run_dir / "run.json").read_text())
        done = json.loads((run_dir / FINISHED).read_text()) if (run_dir / FINISHED).exists() else {}
        rows.append({"run": run_dir.name, "study": spec["study"], "status": _status(run_dir),
                     "seconds": done.get("seconds"), **{PARAM + k: _cell(v) for k, v in spec["point"].items()}})
    return pd.DataFrame(rows)


def results_table(folder: Path) -> pd.DataFrame:
    """Every finished run's recorded tables, stacked: `run`, `study`, `table`, the run's
    parameters (`param.<name>`), then the table's own columns."""
    parts = []
    for run_dir in run_dirs(folder):
        if not (run_dir / FINISHED).exists():
            continue
        spec = json.loads((run_dir / "run.json").read_text())
        params = {PARAM + k: _cell(v) for k, v in spec["parameters"].items() if k != "cache_dir"}
        recorded = results.folder_for(run_dir / f"{spec['study']}.ipynb")
        for name, table in results.read(recorded).items():
            front = pd.DataFrame({"run": run_dir.name, "study": spec["study"], "table": name, **params},
                                 index=table.index)
            parts.append(pd.concat([front, table], axis=1))
    if not parts:
        return pd.DataFrame(columns=["run", "study", "table"])
    return pd.concat(parts, ignore_index=True)


def merge_scores(folder: Path) -> tuple[int, int]:
    """The per-job score caches (`runs/*/scores`) merged into `SWEEP/scores`; (jobs, rows added)."""
    jobs = [d / "scores" for d in run_dirs(folder) if (d / "scores" / cache.FILE).exists()]
    if not jobs:
        return 0, 0
    target = cache.ScoreCache(Path(folder) / "scores")
    try:
        return len(jobs), sum(target.merge_from(job) for job in jobs)
    finally:
        target.close()


def collect(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write `runs.parquet` and `results.parquet` into the sweep folder; returns both tables."""
    folder = Path(folder)
    runs = runs_table(folder)
    table = results_table(folder)
    runs.to_parquet(folder / "runs.parquet", index=False)
    table.to_parquet(folder / "results.parquet", index=False)
    return runs, table
