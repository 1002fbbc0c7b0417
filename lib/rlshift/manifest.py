"""The sha256 manifest of the data this repo ships (data/MANIFEST.yaml).

Shipped files are checked on load: a damaged or edited file is an error that names the file
and how to restore it, never a silently different number.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import yaml

from rlshift import paths
from rlshift.errors import InputError
from rlshift.wheels import ArtifactError, sha256_file

MANIFEST = paths.DATA_DIR / "MANIFEST.yaml"


def entries() -> dict[str, dict]:
    doc = yaml.safe_load(MANIFEST.read_text())
    return {e["file"]: e for e in doc["files"]}


def verified(filename: str) -> Path:
    table = entries()
    if filename not in table:
        raise InputError(f"data file {filename!r} is not in {MANIFEST}; listed: {', '.join(table)}.")
    path = paths.DATA_DIR / filename
    if not path.exists():
        raise ArtifactError(f"{path} is missing. Restore it with `git checkout -- data/{filename}` "
                            f"or regenerate it with `{table[filename]['command']}`.")
    actual = sha256_file(path)
    if actual != table[filename]["sha256"]:
        raise ArtifactError(
            f"{path}: sha256 {actual} does not match {MANIFEST.name} ({table[filename]['sha256']}). "
            f"Restore it with `git checkout -- data/{filename}` or regenerate it with "
            f"`{table[filename]['command']}` (which also rewrites the manifest).")
    return path


def update(new_entries: Iterable[dict], manifest_path: Path | None = None) -> None:
    """Replace or add these entries (by file); every other entry is kept as it is."""
    path = manifest_path or MANIFEST
    doc = yaml.safe_load(path.read_text()) if path.exists() else {"files": []}
    table = {e["file"]: e for e in doc["files"]}
    table.update({e["file"]: e for e in new_entries})
    doc["files"] = [table[k] for k in sorted(table)]
    path.write_text(
        "# Files this repo ships in data/: source, license, sha256, rows, and the command that\n"
        "# regenerates each. Checked on every load (rlshift.manifest).\n"
        + yaml.safe_dump(doc, sort_keys=False, width=100))
