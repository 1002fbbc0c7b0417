"""Where things live on disk: one cache root, one optional local data mirror.

RLSHIFT_CACHE_DIR   cache root (wheels, converted models, scores); default ~/.cache/rlshift
RLSHIFT_DATA_MIRROR a local copy of hub datasets (for example ../shared/data); default none
RLSHIFT_WHEELHOUSE  a folder of already-downloaded wheels to use before asking PyPI
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"


def cache_dir() -> Path:
    path = Path(os.environ.get("RLSHIFT_CACHE_DIR", Path.home() / ".cache" / "rlshift"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_mirror() -> Path | None:
    value = os.environ.get("RLSHIFT_DATA_MIRROR")
    return Path(value) if value else None


def wheelhouse() -> Path | None:
    value = os.environ.get("RLSHIFT_WHEELHOUSE")
    return Path(value) if value else None
