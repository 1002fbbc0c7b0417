"""People's answers in Herbstritt & Franke's experiments (2016, 2019), read from the shipped
derived tables (`data/hf_*.csv`, made from the published raw files by
`data/scripts/derive_herbstritt_franke.py`), each checked against `data/MANIFEST.yaml` on load.

In production, a speaker who drew `access` of an urn's 10 balls and saw `observation` red ones
chose a message; in interpretation, a listener who heard a message said how many of the 10 balls
are red (filler trials) or how many balls the speaker drew and saw red (critical trials); in
experiment 0, people who saw a state rated how likely each number of red balls in the urn is."""
from __future__ import annotations

import numpy as np
import pandas as pd

from rlshift import manifest

N_BALLS = 10  # balls in the experiments' urn


def human_production(message_set: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per state x message counts and proportions, per participant choices), checked against
    the manifest."""
    agg = pd.read_csv(manifest.verified(f"hf_{message_set}_production.csv"))
    trials = pd.read_csv(manifest.verified(f"hf_{message_set}_participants.csv"))
    return agg, trials


def human_interpretation(message_set: str) -> pd.DataFrame:
    return pd.read_csv(manifest.verified(f"hf_{message_set}_interpretation.csv"))


def human_critical(message_set: str) -> pd.DataFrame:
    """Critical interpretation trials: per message, the <access, observation> people inferred
    for the speaker (`count` of `n` answers), checked against the manifest."""
    return pd.read_csv(manifest.verified(f"hf_{message_set}_critical.csv"))


def human_beliefs() -> pd.DataFrame:
    """Experiment 0: per state <access, observation> and number of red balls 0..10, people's
    mean normalized rating (`mean`, a belief distribution over the urn), its sd, and trials `n`."""
    return pd.read_csv(manifest.verified("hf_beliefs.csv"))


def human_meanings(message_set: str) -> pd.DataFrame:
    """Per message people heard: the mean number of red balls they inferred (filler trials),
    and its proportion of the urn, the probability the message conveys."""
    table = human_interpretation(message_set)
    table = table.assign(weighted=table["n_red"] * table["count"])
    out = table.groupby("message", sort=False).agg(total=("weighted", "sum"), n=("count", "sum")).reset_index()
    out["mean_red"] = out["total"] / out["n"]
    out["conveyed"] = out["mean_red"] / N_BALLS
    return out[["message", "n", "mean_red", "conveyed"]]


def participant_tensor(trials: pd.DataFrame, states, messages) -> np.ndarray:
    """[participants, states, messages] 0/1: who chose what where (participants in order)."""
    people = {p: i for i, p in enumerate(sorted(trials["participant"].unique()))}
    s_index = {s: i for i, s in enumerate(states)}
    m_index = {m: i for i, m in enumerate(messages)}
    out = np.zeros((len(people), len(states), len(messages)))
    for p, a, o, m in trials[["participant", "access", "observation", "message"]].itertuples(index=False):
        if (a, o) in s_index:
            out[people[p], s_index[(a, o)], m_index[m]] += 1
    return out
