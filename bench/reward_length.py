"""Do the committed reward models pay for length? Their held-out accuracy beside a length baseline (issue 14).

    RLSHIFT_DATA_MIRROR=../shared/data python bench/reward_length.py [--models gemma-3-270m-linear gemma-3-270m-lora]

Reads each committed reward model's record (its rewards of every evaluation-half pair) and the
pairs' texts, and prints per evaluation half: the model's pairwise accuracy; the accuracy of
"the longer reply wins" (words), the baseline a reward model must beat to be more than a length
counter; the share of pairs whose reply the model prefers is the longer one; the model's accuracy
on the pairs whose chosen reply is the shorter one (where length misleads); and Spearman's rho
between reward difference and length difference. Wilson 95% intervals. With several models, the
Spearman correlation of their reward differences on the same pairs (how alike they judge). No
model runs: seconds.
"""
from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from rlshift import stats
from rlshift.training import linear_reward


def _share(hits: np.ndarray) -> str:
    if not len(hits):
        return "-"
    lo, hi = stats.wilson(int(hits.sum()), len(hits))
    return f"{hits.mean():.3f} [{lo:.2f}, {hi:.2f}]"


def length_table(heldout: pd.DataFrame, pairs: dict) -> pd.DataFrame:
    """Per source and over all: the reward model's accuracy beside the longer-reply baseline."""
    words = lambda t: len(t.split())  # noqa: E731
    frame = heldout.assign(
        len_chosen=[words(pairs[i].chosen) for i in heldout["pair_id"]],
        len_rejected=[words(pairs[i].rejected) for i in heldout["pair_id"]])
    rows = []
    for source, part in [("all", frame)] + list(frame.groupby("source", sort=True)):
        dr = (part["r_chosen"] - part["r_rejected"]).to_numpy()
        dl = (part["len_chosen"] - part["len_rejected"]).to_numpy()
        differ = dl != 0
        rows.append({"source": source, "n": len(part), "rm_accuracy": _share(dr > 0),
                     "longer_wins": _share(dl[differ] > 0), "rm_prefers_longer": _share((dr * dl)[differ] > 0),
                     "rm_accuracy_chosen_shorter": _share(dr[dl < 0] > 0), "n_chosen_shorter": int((dl < 0).sum()),
                     "spearman_reward_length": round(float(spearmanr(dr[differ], dl[differ])[0]), 3)})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=linear_reward.committed())
    args = ap.parse_args()
    pd.set_option("display.width", 250)
    differences = {}
    for name in args.models:
        record = json.loads((linear_reward.DIR / name / "record.json").read_text())
        config = linear_reward.recorded_config(record)
        config = dataclasses.replace(config, sets=tuple(record.get("eval_sets", config.sets)))
        pairs = {p.pair_id: p for p in linear_reward.draw(config, "eval")}
        print(f"\n{name} (pairs whose replies have equal word counts are left out of the length columns)")
        heldout = pd.DataFrame(record["heldout"])
        print(length_table(heldout, pairs).to_string(index=False))
        differences[name] = heldout.set_index("pair_id").eval("r_chosen - r_rejected")
    if len(differences) > 1:
        print("\nSpearman correlation of reward differences on the pairs both scored")
        print(pd.DataFrame(differences).dropna().corr(method="spearman").round(3).to_string())


if __name__ == "__main__":
    main()
