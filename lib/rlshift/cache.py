"""A crash-safe store of scored items, keyed by everything that made the score.

SQLite in WAL mode: each batch is one transaction, so a run killed at any moment (SIGKILL
included) loses at most the batch in flight, and several processes may share one file. Damage
is detected and contained: a row that no longer decodes is dropped and recomputed; a file that
SQLite reports as damaged is moved aside, the rows that can still be read are carried into a
fresh file, and only the rest is recomputed.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import warnings
from pathlib import Path
from typing import Iterable

from rlshift import paths

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


class CacheWriteError(RuntimeError):
    """The cache could not store a finished batch (disk full, read-only, locked too long)."""


def make_key(**parts) -> str:
    """sha256 over the sorted JSON of the parts: model key, verb, template, data version, item
    id, the exact text scored and the scoring parameters."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class ScoreCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else paths.cache_dir() / "scores.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open(self.path)
            if self._db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
        except sqlite3.DatabaseError as err:
            self._db = self._salvage(err)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=120, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(_SCHEMA)
        return db

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

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]

    def close(self) -> None:
        self._db.close()
