"""The score cache under damage and sharing: only damaged entries are recomputed."""
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

from rlshift.cache import ScoreCache
from rlshift.engine import Scorer
from rlshift.requests import Request

WORKER = Path(__file__).with_name("resume_worker.py")
REQUESTS = [Request(f"r{i}", f"item {i} says", (" yes", " no thanks")) for i in range(12)]


def _score(loaded, cache):
    scorer = Scorer(loaded, cache=cache, batch_size=3, progress=False)
    rows = []
    forward = loaded.model.forward

    def counting(*args, **kwargs):
        if kwargs.get("past_key_values") is None:  # a context pass: one row per request
            rows.append(kwargs["input_ids"].shape[0])
        return forward(*args, **kwargs)

    loaded.model.forward = counting
    try:
        frame = scorer.continuation_logprobs(REQUESTS, chat=False, template="t", data_version="d")
    finally:
        del loaded.model.forward
    return frame, sum(rows)  # requests whose context was encoded


def test_rows_that_do_not_decode_or_do_not_fit_are_recomputed_alone(tiny_llama, tmp_path):
    cache = ScoreCache(tmp_path / "scores")
    clean, _ = _score(tiny_llama, cache)
    keys = [k for (k,) in cache._db.execute("SELECT key FROM scores ORDER BY item_id LIMIT 3")]
    cache._db.execute("UPDATE scores SET value = '{\"logprob\": [1.0' WHERE key = ?", (keys[0],))
    cache._db.execute("UPDATE scores SET value = ? WHERE key = ?", (json.dumps({"logprob": [1.0]}), keys[1]))
    cache._db.execute("UPDATE scores SET value = ? WHERE key = ?",
                      (json.dumps({"logprob": ["x", "y"], "n_tokens": [1, 1], "n_chars": [1, 1],
                                   "is_greedy": [0, 0]}), keys[2]))
    with pytest.warns(UserWarning, match="damaged cache rows dropped"):
        again, calls = _score(tiny_llama, cache)
    assert calls == 3  # the 3 damaged requests, and nothing else
    pd.testing.assert_frame_equal(again, clean, check_exact=False, atol=1e-5)


def test_a_truncated_cache_file_is_moved_aside_and_readable_rows_kept(tiny_llama, tmp_path):
    cache = ScoreCache(tmp_path / "scores")
    clean, full_calls = _score(tiny_llama, cache)
    cache.close()
    raw = cache.path.read_bytes()
    cache.path.write_bytes(raw[: len(raw) // 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        damaged = ScoreCache(tmp_path / "scores")
    assert any("was damaged" in str(w.message) for w in caught)
    assert list((tmp_path / "scores").glob("scores.sqlite.damaged-*"))
    kept = len(damaged)
    again, calls = _score(tiny_llama, damaged)
    assert len(damaged) == len(REQUESTS)
    assert calls <= full_calls and (kept == 0 or calls < full_calls)
    pd.testing.assert_frame_equal(again, clean, check_exact=False, atol=1e-5)


def test_two_processes_share_one_cache(tmp_path, smollm2):
    cache = tmp_path / "shared"
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(cache), "0.02", str(tmp_path / f"{i}.csv")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    first, second = (pd.read_csv(tmp_path / f"{i}.csv") for i in range(2))
    pd.testing.assert_frame_equal(first, second, check_exact=False, atol=1e-5)
    assert len(ScoreCache(cache)) == 40


OPEN_AT_ONCE = """
import sys, time, warnings
warnings.simplefilter("error")  # a cache moved aside as damaged warns: that is the failure sought
from rlshift.cache import ScoreCache
folder, start, name = sys.argv[1], float(sys.argv[2]), sys.argv[3]
while time.time() < start:
    pass
cache = ScoreCache(folder)
cache.put_many([dict(key=name, model="m", verb="v", template="t", data_version="d", item_id=name,
                     params={}, value=1.0)])
"""


def test_processes_opening_one_new_cache_at_once_do_not_call_it_damaged(tmp_path):
    """Several sweep jobs starting on one new cache_dir: changing the journal mode answers 'locked' at
    once, and treating that as damage moved the live file aside under the other process."""
    for round_ in range(4):
        folder = tmp_path / f"cache{round_}"
        start = time.time() + 1.5
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT_ONCE, str(folder), str(start), f"p{i}"],
                                  stderr=subprocess.PIPE, text=True) for i in range(4)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), [e[-1500:] for e in errors if e]
        assert not list(folder.glob("*.damaged-*"))
        assert len(ScoreCache(folder)) == 4
