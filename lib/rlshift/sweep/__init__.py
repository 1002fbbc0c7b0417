"""Sweeps: a grid of study runs (pairs x tasks x shots x seeds) executed locally or on a SLURM
cluster through submitit, resumable, and collected into one table.

    rlshift sweep GRID.yaml [--dir SWEEP] [--dry-run] [--wait]
    rlshift collect SWEEP
"""
from rlshift.sweep.collect import PARAM, collect, merge_scores, results_table, runs_table
from rlshift.sweep.executors import execute_run, finished, run_folder, run_sweep
from rlshift.sweep.grid import Run, Sweep, load

__all__ = ["PARAM", "Run", "Sweep", "collect", "execute_run", "finished", "load", "merge_scores",
           "results_table", "run_folder", "run_sweep", "runs_table"]
