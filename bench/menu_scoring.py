"""Time the uncertainty chapter's speaker menus: options that open alike, scored as continuations.

    RLSHIFT_DATA_MIRROR=../shared/data python bench/menu_scoring.py [--model embedded:gemma-3-270m]
    # the engine before prefix trees, for comparison:
    git worktree add /tmp/before 1757948 && PYTHONPATH=/tmp/before/lib python bench/menu_scoring.py

Builds the production menus of both message sets for two paraphrases (raw text, 13 evidence
states each), scores them with `Scorer.continuation_logprobs` (batch 'auto', a fresh data
version each round, so nothing comes from the cache) and prints the best of `--rounds`. Each
menu's options share an opening ("The next ball will ...", "It is ..."), which the engine runs
once per menu. A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import time

from rlshift import models
from rlshift.engine import Scorer
from rlshift.studies.uncertainty_expressions import inputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded:gemma-3-270m")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    loaded = models.load(args.model)
    states = [(a, o) for a in (3, 6, 10) for o in range(0, a + 1, 2)]
    groups = inputs.requests("raw", loaded.tokenizer, ["simple", "complex"], ["urn", "game"], states,
                             interpretation=False, beliefs=False)
    reqs = [r for _, _, rs in groups for r in rs]
    scorer = Scorer(loaded, batch_size="auto", progress=False)
    best = float("inf")
    for _ in range(args.rounds):
        start = time.time()
        scorer.continuation_logprobs(reqs, chat=False, template="bench", data_version=f"bench-{start}")
        best = min(best, time.time() - start)
    print(f"{args.model}: {len(reqs)} menus, {sum(len(r.options) for r in reqs)} options, best of "
          f"{args.rounds}: {best:.1f} s", flush=True)


if __name__ == "__main__":
    main()
