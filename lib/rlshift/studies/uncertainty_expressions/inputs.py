"""The chapter's inputs: the experiments' design, each state told in words (`wordings`), the
requests (speaker, content-free context for the PMI reading, listener, beliefs), every role's
scores through the engine in each prompt format, and their normalization into distributions."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from rlshift import manifest, metrics, prompts
from rlshift.cache import ScoreCache
from rlshift.data.people import N_BALLS, human_meanings
from rlshift.errors import InputError, closest
from rlshift.requests import Request
from rlshift.studies import common
from rlshift.studies.uncertainty_expressions.wordings import (FIELDS, NUMBER_CUE, NUMBER_OPTION, OPTIONS_HINT,
                                                             ROWS)

# ------------------------------------------------------------------ the design

STATES = [(2, 0), (2, 2), (4, 1), (4, 2), (4, 3), (8, 0), (8, 2), (8, 4), (8, 6), (8, 8),
          (10, 2), (10, 3), (10, 5), (10, 7), (10, 8)]
LEVELS = ("none", "low", "high")
SIMPLE = ("certainly not", "probably not", "possibly", "probably", "certainly")
VERBS = ("is", "is probably", "might be", "is certainly")
ADJECTIVES = ("probable", "possible", "unlikely", "likely")
MESSAGES = {"simple": SIMPLE, "complex": tuple(f"{v} {a}" for v in VERBS for a in ADJECTIVES)}
MESSAGE_SETS = tuple(MESSAGES)
CERTAIN = ("certainly", "certainly not")  # the simple messages that leave no doubt
NORMS = ("sum", "token", "char", "pmi")
ROLES = ("base", "tuned")  # the chapter compares base and tuned (the 2x2 with the formats)
FORMATS = prompts.RENDERINGS  # raw, chat
CELLS = tuple(f"{r} {f}" for r in ROLES for f in FORMATS)  # the 2x2, in this order


def cell(role: str, fmt: str) -> str:
    """A model source's name: its role and the format it read ('tuned chat')."""
    return f"{role} {fmt}"


def level(access: int) -> str:
    """Higher-order uncertainty of a state: none (saw all 10 balls), low (8), high (2 or 4)."""
    return {10: "none", 8: "low"}.get(int(access), "high")


def state_label(access: int, observation: int) -> str:
    return f"{observation} of {access}"


def sentence(message_set: str, message: str) -> str:
    """The message as people saw it (the blank filled in)."""
    if message_set == "simple":
        return f"The next ball will {message} be red."
    return f"It {message} that the next ball will be red."


def meaning_key(message: str) -> str:
    """The interpretation experiments had no 'probable'; the authors merged it with 'likely'."""
    return message.replace("probable", "likely")


def certain_messages(message_set: str) -> tuple[str, ...]:
    """The messages that leave no doubt: 'certainly (not)', or 'is certainly ...'."""
    return CERTAIN if message_set == "simple" else tuple(m for m in MESSAGES[message_set] if m.startswith("is certainly"))


def posterior(access: int, observation: int, n_balls: int = N_BALLS) -> np.ndarray:
    """P(R red balls in the urn | o red among a drawn), R = 0..n, under a uniform prior
    (draws without replacement: hypergeometric likelihood)."""
    like = sps.hypergeom.pmf(observation, n_balls, np.arange(n_balls + 1), access)
    return like / like.sum()


def p_red(access: int, observation: int, n_balls: int = N_BALLS) -> float:
    """The probability that the next ball is red after seeing o red among a drawn balls (drawn
    without replacement, then put back), under a uniform prior on the number of red balls."""
    return float(posterior(access, observation, n_balls) @ np.arange(n_balls + 1) / n_balls)


def chosen_states(states) -> list[tuple[int, int]]:
    """The states in the experiment's order (access, then observation)."""
    if states is None:
        return list(STATES)
    wanted = {tuple(s) for s in states}
    return [s for s in STATES if s in wanted]


def people_table(human: dict, states) -> pd.DataFrame:
    """Per message set: people's production data as loaded (`rlshift.data.people`), and where
    it comes from."""
    entries = manifest.entries()
    return pd.DataFrame([{"message set": m, "messages": len(MESSAGES[m]),
                          "participants": trials["participant"].nunique(), "choices": len(trials),
                          "states": len(states), "source": entries[f"hf_{m}_production.csv"]["source"],
                          "license": entries[f"hf_{m}_production.csv"]["license"]}
                         for m, (_, trials) in human.items()])


# ------------------------------------------------------------------ contexts as text

@dataclass(frozen=True)
class Paraphrase:
    name: str
    setting: str
    evidence: str  # {drawn} {seen}
    hidden: str  # the evidence withheld: the content-free context
    drawn_all: str
    drawn_some: str  # {a}
    then: str
    ask: str
    speaker: str  # raw text's lead-in to the answer
    belief: str
    listener: str  # {sentence}
    urn_question: str
    access_question: str


PARAPHRASES = {row[0]: Paraphrase(**dict(zip(FIELDS, row))) for row in ROWS}
TEMPLATE_VERSION = hashlib.sha256("\x1f".join(
    [repr(p) for p in PARAPHRASES.values()] + list(OPTIONS_HINT.values())
    + [NUMBER_CUE, NUMBER_OPTION, sentence("simple", "{m}"), sentence("complex", "{m}"), "v2"]).encode()).hexdigest()[:10]
DATA_VERSION = "herbstritt-franke-design-v1"
LISTENER_TASKS = ("interpretation", "critical")  # filler trials (red balls), critical trials (balls drawn)
# each scored task and the task of its content-free context (the PMI reading's reference)
NEUTRAL_OF = {"production": "neutral", "interpretation": "interpretation_neutral",
              "critical": "critical_neutral", "belief": "belief_neutral"}
WITHHELD = "..."  # the quoted message, withheld in the listener's content-free context


def seen(access: int, observation: int) -> str:
    if observation == 0:
        return "neither of them is red" if access == 2 else "none of them is red"
    if observation == access:
        return "both of them are red" if access == 2 else "all of them are red"
    return "1 of them is red" if observation == 1 else f"{observation} of them are red"


def evidence(paraphrase: str, access: int, observation: int) -> str:
    p = PARAPHRASES[paraphrase]
    drawn = p.drawn_all if access == N_BALLS else p.drawn_some.format(a=access)
    return p.evidence.format(drawn=drawn, seen=seen(access, observation))


def situation(paraphrase: str, access: int | None, observation: int | None, message_set: str,
              show_options: bool = True) -> str:
    """The state told in words, with the question; the same words for raw and chat. With
    access None, the content-free version: the speaker saw some balls, the text says not which."""
    p = PARAPHRASES[paraphrase]
    seen_text = p.hidden if access is None else evidence(paraphrase, access, observation)
    text = f"{p.setting} {seen_text} {p.then}"
    if show_options:
        text += " " + OPTIONS_HINT[message_set]
    return f"{text} {p.ask}"


def _numbers(fmt: str) -> list[str]:
    numbers = [NUMBER_OPTION.format(n=n) for n in range(N_BALLS + 1)]
    return [f" {n}" for n in numbers] if fmt == "raw" else numbers


def _context(text: str, fmt: str, tokenizer, lead_in: str) -> str:
    return f"{text}\n{lead_in}" if fmt == "raw" else prompts.chat_context(tokenizer, [("user", text)])


def render_production(paraphrase: str, access: int | None, observation: int | None, message_set: str, fmt: str,
                      tokenizer=None, show_options: bool = True) -> tuple[str, list[str]]:
    """(context, continuations): raw text ends in the speaker's lead-in and each message
    follows after a space; in chat form the message is the assistant's reply. access None:
    the content-free context of the PMI reading."""
    text = situation(paraphrase, access, observation, message_set, show_options)
    sentences = [sentence(message_set, m) for m in MESSAGES[message_set]]
    context = _context(text, fmt, tokenizer, PARAPHRASES[paraphrase].speaker)
    return context, [f" {s}" for s in sentences] if fmt == "raw" else sentences


def render_interpretation(paraphrase: str, message_set: str, message: str | None, fmt: str, tokenizer=None,
                          question: str = "interpretation") -> tuple[str, list[str]]:
    """(context, continuations '0 out of 10.'..'10 out of 10.'): how many red balls the
    listener infers (filler trials), or with question 'critical' how many balls the speaker drew.
    message None: the content-free context (the quoted message withheld)."""
    p = PARAPHRASES[paraphrase]
    ask = p.urn_question if question == "interpretation" else p.access_question
    heard = WITHHELD if message is None else sentence(message_set, message)
    text = f"{p.listener.format(sentence=heard)} {ask} {NUMBER_CUE}"
    return _context(text, fmt, tokenizer, prompts.ANSWER_CUE), _numbers(fmt)


def render_belief(paraphrase: str, access: int | None, observation: int | None, fmt: str,
                  tokenizer=None) -> tuple[str, list[str]]:
    """(context, '0 out of 10.'..): the speaker's belief about the urn after the evidence
    (experiment 0 asked people this); access None: the content-free context (evidence withheld)."""
    p = PARAPHRASES[paraphrase]
    seen_text = p.hidden if access is None else evidence(paraphrase, access, observation)
    text = f"{p.setting} {seen_text} {p.belief} {NUMBER_CUE}"
    return _context(text, fmt, tokenizer, prompts.ANSWER_CUE), _numbers(fmt)


def template_id(task: str, message_set: str, paraphrase: str, fmt: str, show_options: bool) -> str:
    hint = "-options" if show_options and task in ("production", "neutral") else ""
    return f"ue-{task}-{message_set}-{paraphrase}-{fmt}{hint}-{TEMPLATE_VERSION}"


# ------------------------------------------------------------------ scoring

def listener_subset(paraphrases, listener_paraphrases: int | None) -> list[str]:
    """The paraphrases the listener and belief questions use: the first N (None: all)."""
    return list(paraphrases)[:listener_paraphrases] if listener_paraphrases else list(paraphrases)


def requests(fmt: str, tokenizer, message_sets, paraphrases, states, interpretation: bool = True,
             show_options: bool = True, beliefs: bool = True,
             listener_paraphrases: int | None = None) -> list[tuple[str, list[dict], list[Request]]]:
    """(template id, per-request metadata, requests) per task x message set x paraphrase."""
    out = []

    def add(task, mset, para, rows):
        meta = [dict(m, task=task, message_set=mset, paraphrase=para) for m, _ in rows]
        out.append((template_id(task, mset, para, fmt, show_options), meta, [r for _, r in rows]))

    listeners = listener_subset(paraphrases, listener_paraphrases)
    for mset in message_sets:
        for para in paraphrases:
            rows = []
            for a, o in states:
                item = f"production:{mset}:{para}:{a}-{o}"
                rows.append(({"item_id": item, "access": a, "observation": o},
                             Request(item, *_pack(render_production(para, a, o, mset, fmt, tokenizer, show_options)))))
            add("production", mset, para, rows)
            item = f"neutral:{mset}:{para}"
            add("neutral", mset, para, [({"item_id": item}, Request(item, *_pack(
                render_production(para, None, None, mset, fmt, tokenizer, show_options))))])
            for task in LISTENER_TASKS if interpretation and para in listeners else ():
                rows = [({"item_id": f"{task}:{mset}:{para}:{m}", "heard": m},
                         Request(f"{task}:{mset}:{para}:{m}", *_pack(
                             render_interpretation(para, mset, m, fmt, tokenizer, task))))
                        for m in human_meanings(mset)["message"]]
                add(task, mset, para, rows)
                item = f"{NEUTRAL_OF[task]}:{mset}:{para}"
                add(NEUTRAL_OF[task], mset, para, [({"item_id": item}, Request(item, *_pack(
                    render_interpretation(para, mset, None, fmt, tokenizer, task))))])
    for para in listeners if beliefs else ():
        rows = [({"item_id": f"belief:{para}:{a}-{o}", "access": a, "observation": o},
                 Request(f"belief:{para}:{a}-{o}", *_pack(render_belief(para, a, o, fmt, tokenizer))))
                for a, o in states]
        add("belief", "-", para, rows)
        item = f"belief_neutral:{para}"
        add("belief_neutral", "-", para, [({"item_id": item}, Request(item, *_pack(
            render_belief(para, None, None, fmt, tokenizer))))])
    return out


def _pack(rendered: tuple[str, list[str]]) -> tuple[str, tuple[str, ...]]:
    return rendered[0], tuple(rendered[1])


def score_roles(specs: dict[str, str], *, message_sets, paraphrases, states, interpretation=True,
                show_options=True, beliefs=True, listener_paraphrases=None, quantize="auto",
                prompt_format="both", batch_size=8, cache: ScoreCache | None = None) -> tuple[pd.DataFrame, dict]:
    """One row per role x format x request x option (log-likelihood, tokens, characters), with
    the design columns; and what was loaded per role, with an example context per format."""
    def score(scorer, fmt):
        frames, example = [], None
        for template, meta, reqs in requests(fmt, scorer.loaded.tokenizer, message_sets, paraphrases, states,
                                             interpretation, show_options, beliefs, listener_paraphrases):
            example = example or reqs[0].context + reqs[0].options[-1]
            frame = scorer.continuation_logprobs(reqs, chat=fmt == "chat", template=template,
                                                 data_version=DATA_VERSION)
            frames.append(frame.merge(pd.DataFrame(meta), on="item_id", how="left"))
        records = pd.concat(frames, ignore_index=True)
        speaker = records["task"].isin(["production", "neutral"])
        sets = records["message_set"].map(lambda s: MESSAGES.get(s, ()))
        records["message"] = [m[i] if p else None for m, i, p in zip(sets, records["option_index"], speaker)]
        records["number"] = np.where(speaker, -1, records["option_index"])
        for col in ("access", "observation"):
            records[col] = records[col].astype("Int64") if col in records else pd.array([pd.NA] * len(records),
                                                                                         dtype="Int64")
        if "heard" not in records:
            records["heard"] = None
        return records, {"example_context": example}

    return common.score_roles(specs, score, quantize=quantize, prompt_format=prompt_format,
                              batch_size=batch_size, cache=cache)


def distributions(records: pd.DataFrame, norm: str = "sum") -> pd.DataFrame:
    """Each request's options normalized to probabilities (softmax of the score), per role and
    format: the summed log-likelihood ('sum'), its mean per token ('token') or per character
    ('char'), or the domain-conditional PMI ('pmi', Holtzman et al. 2021): an option's
    log-likelihood after its context minus after the content-free context of the same task,
    paraphrase, format and menu (the state, the message heard, or the evidence withheld:
    `NEUTRAL_OF`). Adds `source` ('tuned chat')."""
    if norm not in NORMS:
        raise InputError(f"norm {norm!r} is not accepted.{closest(norm, NORMS)} Accepted: {', '.join(NORMS)}.")
    frame = records.copy()
    if "format" not in frame:
        frame["format"] = "raw"
    if norm == "pmi":
        keys = ["role", "format", "message_set", "paraphrase", "option_index"]
        frame["score"] = frame["logprob"]
        for task, neutral_task in NEUTRAL_OF.items():
            scored = frame["task"] == task
            if not scored.any():
                continue
            neutral = frame[frame["task"] == neutral_task].set_index(keys)["logprob"]
            if neutral.empty:
                raise InputError(f"norm 'pmi' needs the content-free contexts (task {neutral_task!r}); score "
                                 "with score_roles.")
            offset = pd.Series(list(zip(*[frame.loc[scored, k] for k in keys])), dtype=object).map(neutral)
            if offset.isna().any():
                raise InputError(f"norm 'pmi': {int(offset.isna().sum())} {task} scores have no content-free "
                                 "score of the same role, format, message set and paraphrase; score with score_roles.")
            frame.loc[scored, "score"] = frame.loc[scored, "logprob"].to_numpy() - offset.to_numpy()
    else:
        frame["score"] = frame["logprob"] / {"sum": 1, "token": frame["n_tokens"], "char": frame["n_chars"]}[norm]
    frame["source"] = frame["role"] + " " + frame["format"]
    by = frame["source"] + "|" + frame["item_id"]
    return metrics.normalize_options(frame.assign(_item=by), column="score", by="_item").drop(columns="_item")
