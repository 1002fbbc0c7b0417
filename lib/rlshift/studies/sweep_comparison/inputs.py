"""Where the page's sweep is (its grid file and folder) and the tables `rlshift collect` wrote."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from rlshift import paths
from rlshift.errors import InputError


def locate(P: dict) -> tuple[Path, Path]:
    """The grid file and the sweep folder; relative paths are read from the repo root."""
    grid_file = paths.REPO_ROOT / P["grid"]  # an absolute path stays as it is
    if not grid_file.is_file():
        raise InputError(f"parameter 'grid' = {P['grid']!r}: {grid_file} is not a file. Accepted: a grid file "
                         f"(YAML), e.g. book/sweeps/embedded.yaml.")
    folder = paths.REPO_ROOT / (P["sweep_dir"] or f"book/executed/sweeps/{grid_file.stem}")
    return grid_file, folder


def collected(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """runs.parquet and results.parquet of a collected sweep."""
    found = [Path(folder) / name for name in ("runs.parquet", "results.parquet")]
    missing = [p.name for p in found if not p.exists()]
    if missing:
        raise InputError(f"sweep folder {folder} has no {' or '.join(missing)}: collect it first "
                         f"(rlshift collect {folder}), or set run_missing to run and collect it here.")
    return pd.read_parquet(found[0]), pd.read_parquet(found[1])
