"""A crash-safe store of scored items, keyed by everything that made the score.

SQLite in WAL mode: each batch is one transaction, so a run killed at any moment loses at most
the batch in flight; several processes may share one file. A row that no longer decodes is
reported, dropped, and recomputed.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
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


def make_key(**parts) -> str:
    """sha256 over the sorted JSON of the parts: model key, verb, template, data version, item
    id, the exact text scored and the scoring parameters."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class ScoreCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else paths.cache_dir() / "scores.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=120, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

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
            warnings.warn(f"{self.path}: {len(damaged)} damaged cache rows dropped; they will be "
                          f"recomputed.", stacklevel=2)
            self._db.executemany("DELETE FROM scores WHERE key = ?", [(k,) for k in damaged])
        return found

    def put_many(self, rows: list[dict]) -> None:
        """rows: dicts with key, model, verb, template, data_version, item_id, params, value."""
        if not rows:
            return
        with self._db:  # one transaction per batch: all of it lands or none of it
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR REPLACE INTO scores (key, model, verb, template, data_version, item_id, "
                "params, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(r["key"], r["model"], r["verb"], r["template"], r["data_version"],
                  str(r["item_id"]), json.dumps(r["params"], sort_keys=True), json.dumps(r["value"]))
                 for r in rows])

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]

    def close(self) -> None:
        self._db.close()
