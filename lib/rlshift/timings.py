"""Seconds spent per engine verb, training run and model load, for `bench/book_budget.py`:
one JSON line per timed block, appended to the file named by RLSHIFT_TIMINGS (nothing is
written when it is unset). The benchmark sums them per chapter and verb."""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager


@contextmanager
def timed(verb: str, **info):
    path = os.environ.get("RLSHIFT_TIMINGS")
    start = time.perf_counter()
    try:
        yield
    finally:
        if path:
            with open(path, "a") as f:
                f.write(json.dumps({"verb": verb, "seconds": time.perf_counter() - start} | info) + "\n")
