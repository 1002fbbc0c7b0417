"""The judge of the win rate: a reward model, loaded the way the reward-collapse chapter loads
its own (a hub id, a local folder, or one of the reward models that chapter trains, with its
settings, so both chapters share the trained model through the cache), and its rewards for the
held-out pairs' replies and for each role's replies to the same prompts."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rlshift.cache import ScoreCache
from rlshift.requests import RewardItem
from rlshift.studies import reward_collapse as rc
from rlshift.studies.common import BOOK_PREFIX
from rlshift.studies.reward_collapse.inputs import RewardModelEntry, score as score_rewards
from rlshift.studies.tuned_pair.params import NO_JUDGE, TRAINED_PREFIX

JUDGE_TEMPLATE = "tp-judge-v1"


@dataclass
class Judge:
    entry: RewardModelEntry
    settings: dict  # the reward-collapse chapter's parameters it was loaded or trained with
    training_accuracy: pd.DataFrame  # a trained judge's accuracy on its own held-out share, a committed
    # head's on the evaluation halves (else empty)
    committed: bool = False  # a reward model committed with the book (book:<name>)

    @property
    def name(self) -> str:
        return self.entry.name

    def table(self) -> pd.DataFrame:
        e = self.entry
        return pd.DataFrame([{"judge": e.name, "utility": e.utility, "trained on": e.training_data(),
                              "revision": e.loaded.info["revision"], "parameters": e.loaded.info["n_params"],
                              "reads at most (tokens)": e.max_length}])


def judge_settings(P: dict) -> dict:
    """The reward-collapse chapter's parameters for this judge: its defaults, the chapter's
    overrides (judge_settings), and this run's seed, mirror, model folder and quantisation."""
    return rc.PARAMS.validate(dict(P["judge_settings"], reward_model=P["judge"], trained_utilities=[],
                                   seed=P["seed"], data_mirror=P["data_mirror"], model_dir=P["model_dir"],
                                   quantize=P["quantize"], open_data=["hh_rlhf"], n_open=1, n_boolq=1))


def load_judge(P: dict, progress: bool = False) -> Judge | None:
    """The judge named by P['judge'] (None for 'none'): trained now or loaded from the cache
    (trained:<utility>), built from a committed head (book:<name>), else loaded from the hub or a
    folder (which fails fast offline)."""
    if P["judge"] == NO_JUDGE:
        return None
    settings = judge_settings(P)
    if not P["judge"].startswith(TRAINED_PREFIX):
        entry = rc.load_external_models([P["judge"]], settings)[0]
        committed = P["judge"].startswith(BOOK_PREFIX)  # its accuracy on the evaluation halves, from its record
        return Judge(entry, settings, rc.committed_accuracy(entry) if committed else pd.DataFrame(), committed)
    prep = rc.prepare(settings)
    trained = rc.train_reward_models(settings, prep, progress=progress)
    entry = rc.reward_model_entries([], trained, [P["judge"]])[0]
    return Judge(entry, settings, entry.trained.accuracy())


def reference_accuracy(judge: Judge, chapter: pd.DataFrame) -> pd.DataFrame:
    """The accuracy a judge is read by. A committed head's record holds its accuracy on the whole of
    HH-RLHF's evaluation half, from which the chapter's held-out pairs are drawn: the same reading
    on more pairs, so that one; else the chapter's own (`chapter`, analysis.judge_accuracy's)."""
    if not judge.committed or "hh_rlhf" not in set(judge.training_accuracy.get("source", ())):
        return chapter
    row = judge.training_accuracy.set_index("source").loc["hh_rlhf"]
    return pd.DataFrame([{"reading": "judge accuracy on HH-RLHF's whole evaluation half (its record)",
                          "n": int(row["n"]), "rate": row["accuracy"], "low": row["acc_low"], "high": row["acc_high"],
                          "ties": 0}])


def rewards(judge: Judge, items: list[tuple[str, str, str]], data_version: str, cache: ScoreCache | None,
            what: str) -> pd.Series:
    """The judge's reward of each (item_id, prompt, response), indexed by item_id."""
    batch = [(RewardItem(i, prompt, response), {"what": what}) for i, prompt, response in items]
    frame = score_rewards(judge.entry, batch, template=f"{JUDGE_TEMPLATE}-{what}", data_version=data_version,
                            P=judge.settings, cache=cache, progress=False)
    return frame.set_index("item_id")["reward"]


def pair_rewards(judge: Judge, pairs, data_version: str, cache: ScoreCache | None) -> pd.DataFrame:
    """Per held-out pair: the judge's reward of the chosen and of the rejected reply."""
    chosen = rewards(judge, [(p.pair_id, p.prompt, p.chosen) for p in pairs], data_version, cache, "chosen")
    rejected = rewards(judge, [(p.pair_id, p.prompt, p.rejected) for p in pairs], data_version, cache, "rejected")
    return pd.DataFrame({"pair_id": [p.pair_id for p in pairs],
                         "r_chosen": chosen.loc[[p.pair_id for p in pairs]].to_numpy(),
                         "r_rejected": rejected.loc[[p.pair_id for p in pairs]].to_numpy()})


def reply_rewards(judge: Judge, replies: pd.DataFrame, pairs, data_version: str,
                  cache: ScoreCache | None) -> pd.Series:
    """The judge's reward of each role's reply (`replies`: item_id, role, text), indexed like it."""
    by_id = {p.pair_id: p for p in pairs}
    ids = [f"{r.item_id}:{r.role}" for r in replies.itertuples()]
    got = rewards(judge, [(i, by_id[r.item_id].prompt, r.text) for i, r in zip(ids, replies.itertuples())],
                  data_version, cache, "replies")
    return pd.Series(got.loc[ids].to_numpy(), index=replies.index)
