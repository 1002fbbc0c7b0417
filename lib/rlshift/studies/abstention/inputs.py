"""The "I don't know" chapter's inputs: the shipped set (data/abstention.jsonl) with each dated
question decided by the cut-off, the prompts, and what each stage does with them: the menu of
abstentions and answers scored as continuations, free greedy answers, and the reward view."""
from __future__ import annotations

import json

import pandas as pd

from rlshift import manifest, prompts
from rlshift.cache import ScoreCache
from rlshift.engine import GenerationSettings, Scorer
from rlshift.requests import Request, Text
from rlshift.studies import common
from rlshift.studies.abstention.params import INSTRUCTIONS, cutoff_year
from rlshift.studies.tuned_pair import judging

FILE = "abstention.jsonl"
TEMPLATE = "abstention-v1"
GROUPS = {"answerable": "answerable", "unanswerable": "unanswerable", "polite": "polite",
          "before_cutoff": "dated: up to the cut-off", "after_cutoff": "dated: after the cut-off"}
SHOULD_ABSTAIN = ("unanswerable", "polite", "after_cutoff")  # the groups where "I don't know" is right
IDK = "I don't know."


def load_set() -> tuple[pd.DataFrame, dict]:
    path = manifest.verified(FILE)
    entry = manifest.entries()[FILE]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return pd.DataFrame(rows), {"dataset": FILE, "source": entry["source"], "license": entry["license"],
                                "rows": entry["rows"], "version": entry["sha256"][:12]}


def group_of(row, cutoff: int) -> str:
    """Which of the analysis groups a question is in; dated events split by the cut-off."""
    if row["category"] != "dated_event":
        return row["category"]
    return "before_cutoff" if row["event_year"] <= cutoff and row["answers"] else "after_cutoff"


def prepare(P: dict) -> tuple[pd.DataFrame, dict]:
    """The questions the run asks: up to n_items per group (a seeded sample, in item order), with
    `group` and `should_abstain`."""
    table, provenance = load_set()
    table = table[table["category"].isin(P["categories"])].copy()
    cutoff = cutoff_year(P) if "dated_event" in P["categories"] else None
    table["group"] = [group_of(r, cutoff) for r in table.to_dict("records")]
    parts = [g.sample(min(len(g), P["n_items"]), random_state=P["seed"]).sort_values("item_id")
             for _, g in table.groupby("group", sort=True)]
    items = pd.concat(parts, ignore_index=True)
    items["should_abstain"] = items["group"].isin(SHOULD_ABSTAIN)
    provenance = dict(provenance, cutoff_year=cutoff)
    return items, provenance


def question_text(question: str, instruction: str) -> str:
    return f"{INSTRUCTIONS[instruction]}\n\n{question}".strip() if INSTRUCTIONS[instruction] else question


def context(question: str, instruction: str, fmt: str, tokenizer) -> str:
    """Raw: 'Q: ... A:' after the instruction; chat: the same text as the user's turn."""
    if fmt == "raw":
        head = f"{INSTRUCTIONS[instruction]}\n\n" if INSTRUCTIONS[instruction] else ""
        return f"{head}Q: {question}\nA:"
    return prompts.chat_context(tokenizer, [("user", question_text(question, instruction))])


def _given(value) -> bool:
    """An answer on record: a non-empty list of answers or a non-empty string (not None or NaN)."""
    return bool(value) if isinstance(value, (list, str)) else False


def menu(row: dict, forms: list[str]) -> list[tuple[str, str]]:
    """(kind, text) of the menu: every abstention (each with an apostrophe also with the typographic
    one, which tuned models often write), then the right and the wrong answer where known."""
    variants = list(dict.fromkeys(forms + [f.replace("'", "\u2019") for f in forms if "'" in f]))
    out = [("abstain", f) for f in variants]
    if _given(row["answers"]):
        out.append(("right", f"{row['answers'][0]}."))
    if _given(row["wrong_answer"]):
        out.append(("wrong", f"{row['wrong_answer']}."))
    return out


def generation_sample(items: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return pd.concat([g.sample(min(len(g), n), random_state=seed + 1) for _, g in items.groupby("group")]
                     ) if n else items.iloc[:0]


def score_roles(specs: dict, items: pd.DataFrame, P: dict, cache: ScoreCache | None, version: str):
    """Each stage in turn: the menu's log-probabilities (one row per item x option) and the greedy
    free answers of the generation sample (under extra 'replies')."""
    rows = items.to_dict("records")
    asked = generation_sample(items, P["n_generate"], P["seed"]).to_dict("records")
    settings = GenerationSettings(max_new_tokens=P["max_new_tokens"], temperature=0.0, stop=("\nQ:", "\n\n"),
                                  seed=P["seed"])

    def score(scorer: Scorer, fmt: str):
        tok, chat = scorer.loaded.tokenizer, fmt == "chat"
        lead = " " if fmt == "raw" else ""
        menus = {r["item_id"]: menu(r, P["abstain_forms"]) for r in rows}
        requests = [Request(r["item_id"], context(r["question"], P["instruction"], fmt, tok),
                            tuple(lead + text for _, text in menus[r["item_id"]])) for r in rows]
        frame = scorer.continuation_logprobs(requests, chat=chat, template=f"{TEMPLATE}-{P['instruction']}",
                                             data_version=version)
        frame["kind"] = [menus[i][j][0] for i, j in zip(frame["item_id"], frame["option_index"])]
        replies = pd.DataFrame()
        if asked:
            texts = [Text(r["item_id"], context(r["question"], P["instruction"], fmt, tok)) for r in asked]
            replies = scorer.generate(texts, settings, chat=chat, template=f"{TEMPLATE}-{P['instruction']}",
                                      data_version=version)
        return frame[["item_id", "option_index", "option", "kind", "logprob", "n_tokens"]], {"replies": replies}

    return common.score_roles(specs, score, quantize=P["quantize"], prompt_format=P["prompt_format"],
                              batch_size=P["batch_size"], cache=cache)


def replies_table(infos: dict) -> pd.DataFrame:
    """Every stage's free answers (role, format, item_id, text)."""
    parts = [extra["replies"].assign(role=role, format=fmt)
             for role, info in infos.items() for fmt, extra in info["by_format"].items() if len(extra["replies"])]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["role", "format", "item_id", "text"])


def reward_model_rewards(P: dict, items: pd.DataFrame, cache: ScoreCache | None, version: str):
    """Each reward model's score of "I don't know.", the right and the wrong answer to each question
    (the question alone as the prompt), and the models as loaded (their held-out accuracy where
    trained here); empty for reward_models = []."""
    frames, loaded = [], {}
    for name in P["reward_models"]:
        judge = judging.load_judge(dict(P, judge=name))
        loaded[name] = judge
        for kind, column in (("idk", None), ("right", "answers"), ("wrong", "wrong_answer")):
            rows = items if column is None else items[items[column].map(_given)]
            responses = [IDK if column is None else (r[column][0] if column == "answers" else r[column])
                         for r in rows.to_dict("records")]
            rewards = judging.rewards(judge, list(zip(rows["item_id"], rows["question"], responses)),
                                      version, cache, f"abstention-{kind}")
            frames.append(pd.DataFrame({"reward_model": name, "item_id": rows["item_id"].to_numpy(), "kind": kind,
                                        "reward": rewards.loc[rows["item_id"]].to_numpy()}))
    rewards = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["reward_model", "item_id", "kind", "reward"])
    return rewards, loaded
