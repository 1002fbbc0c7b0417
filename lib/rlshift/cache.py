"""A crash-safe store of scored items, keyed by everything that made the score.

SQLite in WAL mode: each batch is one transaction, so a run killed at any moment (SIGKILL
included) loses at most the batch in flight, and several processes may share one file. Damage
is detected and contained: a row that no longer decodes is dropped and recomputed; a file that
SQLite reports as damaged is moved aside, the rows that can still be read are carried into a
fresh file, and only the rest is recomputed.

The cache lives in a folder of its own (`cache_dir`): the database, its journal files and a
marker that says the folder is a score cache. A path that is a file, or a folder holding anything
else, is refused before anything is written; only a file that is recognisably a score cache
(the marker beside it, or an SQLite file with the `scores` table) is ever moved aside.
"""
from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import time
import warnings
from pathlib import Path
from typing import Iterable

from rlshift import paths
from rlshift.errors import InputError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    verb TEXT NOT NULL,
    template TEXT NOT NULL,
    data_version TEXT NOT NULL,
    item_id TEXT NOT NULL,
    params TEXT NOT NULL,
    value TEXT NOT NULL,
    created TEXT DEFAULT CURRENT_TIMESTAMP
)"""
_COLUMNS = "key, model, verb, template, data_version, item_id, params, value"
FILE = "scores.sqlite"
MARKER = "rlshift-score-cache"  # beside the database: this folder is a score cache the project made
_OWN = (FILE, FILE + "-wal", FILE + "-shm", FILE + "-journal", MARKER)  # -journal: before WAL mode is set
_WAIT_S = 120  # how long a process waits for another to release the file
_ACCEPTED = f"a folder (created if missing) that holds only the score cache ({FILE}, its journal files, {MARKER})"


class CacheWriteError(RuntimeError):
    """The cache could not store a finished batch (disk full, read-only, locked too long)."""


def _busy(err: Exception) -> bool:
    """SQLite's 'busy' or 'locked': another process holds the file, which is not damage."""
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return isinstance(err, sqlite3.OperationalError) and "locked" in str(err)


def make_key(**parts) -> str:
    """sha256 over the sorted JSON of the parts: model key, verb, the exact text scored and the
    parameters (engine.caching says what goes in)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def check_folder(folder: str | Path) -> Path:
    """The score cache's folder as given, checked without touching anything: refused when it is
    a file, or a folder holding anything but the score cache's own files."""
    path = paths.check_folder_to_make(folder, "cache_dir")
    foreign = sorted(p.name for p in path.iterdir()
                     if p.name not in _OWN and not p.name.startswith(FILE + ".damaged-")) if path.is_dir() else []
    if foreign:
        raise InputError(f"cache_dir {str(path)!r} holds files that are not the score cache's "
                         f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); nothing in it "
                         f"is touched. Accepted: {_ACCEPTED}; give a new or empty folder.")
    return path


def _recognised(db: Path) -> bool:
    """Whether an existing database file is a score cache: the marker beside it, or an SQLite
    file with the `scores` table (read without locking or writing anything)."""
    if (db.parent / MARKER).exists():
        return True
    with open(db, "rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            return False
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?immutable=1", uri=True)
        try:
            return ("scores",) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return False


class ScoreCache:
    def __init__(self, folder: str | Path | None = None):
        self.folder = check_folder(folder) if folder else _default_folder()
        self.path = self.folder / FILE
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and not _recognised(self.path):
                raise InputError(f"cache_dir {str(self.folder)!r}: {FILE} there is not a score cache (no "
                                 f"{MARKER} beside it, no scores table); it is left untouched. Accepted: {_ACCEPTED}.")
            (self.folder / MARKER).touch()
        except OSError as err:
            raise InputError(f"cache_dir {str(self.folder)!r} cannot be written ({err.strerror or err}). "
                             f"Accepted: {_ACCEPTED}, in a place this user may write.") from err
        try:
            self._db = self._open(self.path)
            if self._db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                self._db.close()
                raise sqlite3.DatabaseError("quick_check failed")
        except sqlite3.DatabaseError as err:
            if _busy(err):
                raise CacheWriteError(f"score cache {self.path} stayed locked by another process for "
                                      f"{_WAIT_S} s ({err}); nothing was changed. Try again when it is free.") from err
            self._db = self._salvage(err)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        """Connect, set WAL mode and the schema. Another process opening the same new file at the same
        moment makes SQLite answer 'locked' at once, whatever the busy timeout (changing the journal
        mode takes an exclusive lock), so busy answers are retried here: they are not damage."""
        deadline = time.monotonic() + _WAIT_S
        while True:
            db = sqlite3.connect(path, timeout=_WAIT_S, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(_SCHEMA)
                return db
            except sqlite3.DatabaseError as err:
                db.close()
                if not _busy(err) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.02, 0.2))

    def _salvage(self, err: Exception) -> sqlite3.Connection:
        """Move the damaged file aside and carry every still-readable row into a fresh one."""
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                src.replace(Path(str(aside) + suffix))
        rows = []
        try:
            old = sqlite3.connect(aside)
            cursor = old.execute(f"SELECT {_COLUMNS} FROM scores")
            while True:
                try:
                    row = cursor.fetchone()
                except sqlite3.DatabaseError:
                    break
                if row is None:
                    break
                rows.append(row)
            old.close()
        except sqlite3.DatabaseError:
            pass
        db = self._open(self.path)
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(f"INSERT OR REPLACE INTO scores ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        warnings.warn(f"score cache {self.path} was damaged ({err}); moved to {aside}, "
                      f"{len(rows)} readable rows kept, the rest will be recomputed.", stacklevel=3)
        return db

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        keys = list(keys)
        found: dict[str, dict] = {}
        damaged: list[str] = []
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self._db.execute(
                f"SELECT key, value FROM scores WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            for key, value in rows:
                try:
                    found[key] = json.loads(value)
                except (TypeError, ValueError):
                    damaged.append(key)
        if damaged:
            self.drop(damaged)
        return found

    def drop(self, keys: list[str]) -> None:
        """Forget rows found damaged, so they are recomputed; says so."""
        warnings.warn(f"{self.path}: {len(keys)} damaged cache rows dropped; they will be "
                      f"recomputed.", stacklevel=3)
        self._db.executemany("DELETE FROM scores WHERE key = ?", [(k,) for k in keys])

    def put_many(self, rows: list[dict]) -> None:
        """rows: dicts with key, model, verb, template, data_version, item_id, params, value."""
        if not rows:
            return
        try:
            with self._db:  # one transaction per batch: all of it lands or none of it
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    f"INSERT OR REPLACE INTO scores ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(r["key"], r["model"], r["verb"], r["template"], r["data_version"],
                      str(r["item_id"]), json.dumps(r["params"], sort_keys=True), json.dumps(r["value"]))
                     for r in rows])
        except sqlite3.OperationalError as err:
            raise CacheWriteError(
                f"could not write {len(rows)} scores to the cache {self.path} ({err}). Everything "
                f"scored before this batch is stored; free disk space (or point cache_dir / "
                f"RLSHIFT_CACHE_DIR elsewhere) and run again to resume.") from err

    def merge_from(self, folder: str | Path) -> int:
        """Copy in every row of another score cache (one sweep job's) that this one lacks; returns
        how many were added. Keys name everything that made a score, so rows never conflict."""
        source = Path(folder) / FILE
        if not source.exists() or not _recognised(source):
            raise InputError(f"{folder} holds no score cache ({FILE}); nothing merged.")
        other = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        added = 0
        try:
            cursor = other.execute(f"SELECT {_COLUMNS} FROM scores")
            while rows := cursor.fetchmany(5000):
                with self._db:
                    self._db.execute("BEGIN IMMEDIATE")
                    before = self._db.total_changes
                    self._db.executemany(f"INSERT OR IGNORE INTO scores ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                    added += self._db.total_changes - before
        finally:
            other.close()
        return added

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]

    def close(self) -> None:
        self._db.close()


def _default_folder() -> Path:
    """The rlshift cache's `scores/` folder; a score cache left at the cache root by earlier
    versions (the project's own file) is moved into it once."""
    folder = paths.cache_dir() / "scores"
    legacy = paths.cache_dir() / FILE
    if legacy.exists() and not (folder / FILE).exists():
        folder.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            if Path(str(legacy) + suffix).exists():
                Path(str(legacy) + suffix).replace(folder / (FILE + suffix))
        (folder / MARKER).touch()
    return folder
