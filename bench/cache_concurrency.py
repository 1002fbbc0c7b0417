"""Is one score cache safe when a sweep's jobs share it? Prints what survived (not a test).

Several processes write batches of scores at once, in the two ways a sweep can keep them:
- shared:  every job writes one SQLite (WAL) cache, as runs on one machine do;
- per_job: every job writes its own cache, merged afterwards (`rlshift collect`).

Each --path is a view of one folder. Give one local folder for one machine; give two mounts of the
same network folder to stand in for two cluster nodes (here: two sshfs mounts of one folder, each
with its own page cache and its own locks, as two NFS clients have). Workers are spread over the
views round-robin. Reported: rows expected and found, SQLite's integrity_check, and the errors
the writers met.

    python bench/cache_concurrency.py --path /tmp/cc                      # one machine
    python bench/cache_concurrency.py --path /mnt/hostA --path /mnt/hostB # two "nodes"
"""
from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sqlite3
import time
import uuid
from pathlib import Path

from rlshift import cache


def _rows(worker: int, batch: int, size: int) -> list[dict]:
    return [{"key": f"w{worker}-b{batch}-r{r}", "model": "bench", "verb": "logprob", "template": "t",
             "data_version": "v", "item_id": f"{worker}-{batch}-{r}", "params": {}, "value": [worker, batch, r]}
            for r in range(size)]


def _writer(folder: str, worker: int, batches: int, size: int, queue) -> None:
    errors = []
    try:
        store = cache.ScoreCache(folder)
        for b in range(batches):
            try:
                store.put_many(_rows(worker, b, size))
            except Exception as err:  # counted, the worker goes on
                errors.append(f"{type(err).__name__}: {err}"[:120])
        store.close()
    except Exception as err:
        errors.append(f"{type(err).__name__}: {err}"[:120])
    queue.put(errors)


def _count(folder: Path) -> tuple[int, str]:
    try:
        db = sqlite3.connect(folder / cache.FILE, timeout=60)
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        n = db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
        db.close()
        return n, check
    except sqlite3.DatabaseError as err:
        return -1, f"{type(err).__name__}: {err}"


def trial(mode: str, views: list[Path], workers: int, batches: int, size: int) -> dict:
    name = f"cc-{mode}-{uuid.uuid4().hex[:6]}"
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    folders = [views[w % len(views)] / name / ("shared" if mode == "shared" else f"job{w}") for w in range(workers)]
    start = time.time()
    procs = [ctx.Process(target=_writer, args=(str(f), w, batches, size, queue)) for w, f in enumerate(folders)]
    for p in procs:
        p.start()
    errors = []
    for p in procs:
        p.join(timeout=900)
        if p.is_alive():
            p.kill()
            errors.append("a writer hung for 15 min and was killed")
        elif p.exitcode != 0:
            errors.append(f"a writer died (exit code {p.exitcode})")
    while not queue.empty():
        errors += queue.get()
    target = views[0] / name / "shared"
    if mode == "per_job":
        merged = cache.ScoreCache(target)
        for f in folders:
            merged.merge_from(views[0] / name / f.name)
        merged.close()
    seconds = time.time() - start
    found, check = _count(target)
    shutil.rmtree(views[0] / name, ignore_errors=True)
    return {"mode": mode, "views": len(views), "workers": workers, "expected": workers * batches * size,
            "found": found, "integrity": check, "errors": len(errors), "first error": errors[0] if errors else "",
            "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", action="append", type=Path, required=True, help="a view of the shared folder")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import pandas as pd

    rows = [trial(mode, args.path, args.workers, args.batches, args.rows)
            for mode in ("shared", "per_job") for _ in range(args.repeats)]
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
