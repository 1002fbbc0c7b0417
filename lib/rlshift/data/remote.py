"""The authors' published files, fetched once by URL at a pinned commit and checked against a
pinned sha256: how a user without a local mirror or the hub gets a dataset that is on neither
PyPI nor in data/."""
from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rlshift import paths, wheels
from rlshift.errors import InputError

TIMEOUT_S = 60


@dataclass(frozen=True)
class PinnedFile:
    name: str  # the local file name (what the dataset's reader sees)
    url: str  # a commit-pinned URL of the authors' file
    sha256: str  # of the bytes served


def github(repo: str, commit: str, path: str, name: str, sha256: str) -> PinnedFile:
    """A file of a public GitHub repository at a commit, by its raw URL."""
    return PinnedFile(name, f"https://raw.githubusercontent.com/{repo}/{commit}/{path}", sha256)


def download(url: str) -> bytes:
    """The bytes at url (tests replace this with a stand-in: no network there)."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        return response.read()


def fetch(file: PinnedFile, folder: str) -> Path:
    """The verified local copy of `file` in the cache (`<cache>/data/<folder>/`), downloaded once."""
    target = paths.cache_dir() / "data" / folder / file.name
    repair = f"Delete {target} and run again to download {file.url} afresh."
    if target.exists():
        return wheels.verify(target, file.sha256, repair)
    try:
        body = download(file.url)
    except OSError as err:
        raise InputError(f"could not download {file.url} ({err}). Check the network, or set "
                         f"RLSHIFT_DATA_MIRROR to a folder holding {folder}/ (a local copy of the authors' files)."
                         ) from err
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    partial.write_bytes(body)
    try:
        wheels.verify(partial, file.sha256, f"The server sent different bytes than the pinned file ({file.url}).")
    except Exception:
        partial.unlink()
        raise
    partial.replace(target)
    return target
