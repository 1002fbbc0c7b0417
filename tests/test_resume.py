"""A run killed with SIGKILL resumes from the cache and ends with the uninterrupted result."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

WORKER = Path(__file__).with_name("resume_worker.py")


def _run(cache, out):
    done = subprocess.run([sys.executable, str(WORKER), str(cache), "0", str(out)],
                          capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1]), pd.read_csv(out)


def _rows(cache):
    try:
        db = (Path(cache) / "scores.sqlite").resolve().as_uri() + "?mode=ro"  # never creates the file
        return sqlite3.connect(db, uri=True, timeout=30).execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_sigkill_then_resume_recomputes_only_what_was_lost(tmp_path, smollm2):
    calls_clean, clean = _run(tmp_path / "clean.sqlite", tmp_path / "clean.csv")
    cache = tmp_path / "killed.sqlite"
    proc = subprocess.Popen([sys.executable, str(WORKER), str(cache), "0.2", str(tmp_path / "x.csv")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while _rows(cache) < 10 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    committed = _rows(cache)
    assert 10 <= committed < 40, committed
    calls_resumed, resumed = _run(cache, tmp_path / "resumed.csv")
    assert 0 < calls_resumed < calls_clean  # only the lost requests were scored again
    assert _rows(cache) == 40
    pd.testing.assert_frame_equal(resumed, clean, check_exact=False, atol=1e-5)
    calls_again, _ = _run(cache, tmp_path / "again.csv")
    assert calls_again == 0
