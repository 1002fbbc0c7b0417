"""The one cache-first loop around every verb (as lm-evaluation-harness's `CachingLM` wraps an
`LM`): look each request up under its full key, compute only what is missing, batch by batch,
and commit each finished batch at once, so a killed run resumes where it stopped.

A key is what determines the value: the model, the verb, the exact texts and the settings (and
the item id only where the value depends on it: a sampled generation's noise). The template,
data version and item id of the request that first computed it are stored beside it as
provenance, so the same (model, text) scored by two chapters, or by two items, is one entry.

A verb describes one call as a `Call`: its requests, what of each request goes into the key,
the settings that change the value, how to compute values for a list of requests (yielding
finished batches), what a well-formed stored value looks like, and how values become a table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import pandas as pd

from rlshift.cache import ScoreCache, make_key
from rlshift.timings import timed


@dataclass
class Call:
    verb: str
    requests: Sequence
    key_parts: Callable[[object], dict]  # request -> the texts (and flags) it is keyed by
    params: dict  # settings that change the value: in every key
    compute: Callable[[list[int]], Iterator[list[tuple[int, dict]]]]  # request indices -> (index, value), a batch at a time
    valid: Callable[[object, object], bool]  # (stored value, request) -> well formed?
    table: Callable[[list, list], pd.DataFrame]  # (requests, values) -> records


def run(call: Call, cache: ScoreCache | None, model_key: str, model_spec: str, *, template: str,
        data_version: str) -> pd.DataFrame:
    """The call's table, every value from the cache where it is stored and well formed."""
    keys = [make_key(model=model_key, verb=call.verb, **call.key_parts(req), params=call.params)
            for req in call.requests]
    stored = cache.get_many(keys) if cache is not None else {}
    bad = [k for k, req in zip(keys, call.requests) if k in stored and not call.valid(stored[k], req)]
    if bad:  # decodes, but is not what this verb stores: recompute those only
        cache.drop(bad)
        for k in bad:
            del stored[k]
    todo, seen = [], set()
    for i, k in enumerate(keys):  # the same text twice (two items, two chapters) is computed once
        if k not in stored and k not in seen:
            seen.add(k)
            todo.append(i)
    with timed(call.verb, model=model_spec, computed=len(todo), stored=len(keys) - len(todo)):
        for batch in call.compute(todo) if todo else ():
            rows = []
            for i, value in batch:
                stored[keys[i]] = value
                rows.append({"key": keys[i], "model": model_key, "verb": call.verb, "template": template,
                             "data_version": data_version, "item_id": call.requests[i].item_id,
                             "params": call.params, "value": value})
            if cache is not None:
                cache.put_many(rows)
    frame = call.table(list(call.requests), [stored[k] for k in keys])
    for name, val in (("model", model_spec), ("model_key", model_key), ("template", template),
                      ("data_version", data_version)):
        frame[name] = val
    return frame


def option_rows(requests, values) -> pd.DataFrame:
    """One row per request x option, the value's per-option lists as columns."""
    records = []
    for req, value in zip(requests, values):
        for j, option in enumerate(req.options):
            rec = {"item_id": req.item_id, "option_index": j, "option": option}
            rec.update({name: column[j] for name, column in value.items()})
            records.append(rec)
    return pd.DataFrame.from_records(records)


def per_option_lists(fields: tuple[str, ...]):
    """A `valid` check: every field a list with one entry per option, log-probs finite."""
    def valid(value, req) -> bool:
        return (isinstance(value, dict) and all(isinstance(value.get(f), list) and len(value[f]) == len(req.options)
                                                for f in fields)
                and all(isinstance(v, (int, float)) and v == v for v in value["logprob"]))
    return valid
