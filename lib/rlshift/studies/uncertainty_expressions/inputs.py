"""The chapter's inputs: the experiments' design, each state told in words (raw text for base
models, the chat template for tuned ones), the requests, every role's message scores through
the engine, and their normalization into message distributions."""
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
NORMS = ("sum", "token", "char")
ROLES = tuple(r for r in common.ROLES if r != "sft")  # the chapter compares base and tuned


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


def p_red(access: int, observation: int, n_balls: int = N_BALLS) -> float:
    """The probability that the next ball is red after seeing o red among a drawn balls (drawn
    without replacement, then put back), under a uniform prior on the number of red balls."""
    reds = np.arange(n_balls + 1)
    like = sps.hypergeom.pmf(observation, n_balls, reds, access)
    post = like / like.sum()
    return float((post * reds).sum() / n_balls)


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
    situation: str  # {drawn} {seen}
    drawn_all: str
    drawn_some: str  # {a}
    ask: str
    speaker: str  # raw text's lead-in to the answer
    interpretation: str  # {sentence}


PARAPHRASES = {p.name: p for p in [
    Paraphrase(
        "urn",
        "There is an urn with 10 balls in it; each ball is either red or blue. You draw {drawn} "
        "from the urn and see that {seen}. You put them back and mix the urn. Now a new ball will "
        "be drawn, and your friend, who has not seen anything, asks you whether it will be red.",
        "all 10 balls", "{a} balls at random",
        "What do you answer? Reply with one sentence.", "You answer:",
        "There is an urn with 10 balls in it; each ball is either red or blue. Your friend drew "
        "some of the balls, looked at them and put them back. About the next ball to be drawn, "
        "your friend tells you: \"{sentence}\" How many of the 10 balls in the urn do you think "
        "are red?"),
    Paraphrase(
        "game",
        "Anna plays a game with a box of ten balls, some red and some blue. She takes out {drawn} "
        "and finds that {seen}. She puts them back and shakes the box. One more ball will now be "
        "picked from the box, and her brother asks her whether it will be red.",
        "all ten balls", "{a} balls without looking",
        "What does Anna tell her brother? Give her answer as one sentence.", "Anna says:",
        "Anna plays a game with a box of ten balls, some red and some blue. She has taken out "
        "some of the balls, looked at them and put them back. About the next ball to be picked, "
        "she tells her brother: \"{sentence}\" How many of the ten balls in the box are red, do "
        "you think?"),
    Paraphrase(
        "report",
        "An urn contains 10 balls. Each of them is red or blue. A person draws {drawn} from the "
        "urn, observes that {seen}, and returns them. Another ball is about to be drawn. The "
        "person is asked whether it will be red, and answers in one sentence.",
        "all 10 balls", "{a} of the balls",
        "What is the person's answer?", "The person's answer:",
        "An urn contains 10 balls. Each of them is red or blue. A person has drawn some of the "
        "balls, observed them and returned them. Asked about the next ball to be drawn, the "
        "person says: \"{sentence}\" How many of the 10 balls in the urn are red?"),
]}
OPTIONS_HINT = {
    "simple": "The answer must be one of: \"The next ball will certainly not / probably not / "
              "possibly / probably / certainly be red.\"",
    "complex": "The answer must read \"It ... that the next ball will be red\", with \"is\", "
               "\"is probably\", \"might be\" or \"is certainly\" followed by \"probable\", "
               "\"possible\", \"unlikely\" or \"likely\".",
}
NUMBER_CUE = "Answer with a number from 0 to 10."
# "7 out of 10." rather than "7": as bare digits, "1" would be a prefix of "10" and take its mass
NUMBER_OPTION = "{n} out of 10."
TEMPLATE_VERSION = hashlib.sha256("\x1f".join(
    [repr(p) for p in PARAPHRASES.values()] + list(OPTIONS_HINT.values())
    + [NUMBER_CUE, NUMBER_OPTION, sentence("simple", "{m}"), sentence("complex", "{m}"), "v1"]).encode()).hexdigest()[:10]
DATA_VERSION = "herbstritt-franke-design-v1"


def seen(access: int, observation: int) -> str:
    if observation == 0:
        return "neither of them is red" if access == 2 else "none of them is red"
    if observation == access:
        return "both of them are red" if access == 2 else "all of them are red"
    return "1 of them is red" if observation == 1 else f"{observation} of them are red"


def situation(paraphrase: str, access: int, observation: int, message_set: str,
              show_options: bool = False) -> str:
    """The state told in words, with the question; the same words for raw and chat."""
    p = PARAPHRASES[paraphrase]
    drawn = p.drawn_all if access == N_BALLS else p.drawn_some.format(a=access)
    text = p.situation.format(drawn=drawn, seen=seen(access, observation))
    if show_options:
        text += " " + OPTIONS_HINT[message_set]
    return f"{text} {p.ask}"


def render_production(paraphrase: str, access: int, observation: int, message_set: str, fmt: str,
                      tokenizer=None, show_options: bool = False) -> tuple[str, list[str]]:
    """(context, continuations): raw text ends in the speaker's lead-in and each message
    follows after a space; in chat form the message is the assistant's reply."""
    text = situation(paraphrase, access, observation, message_set, show_options)
    sentences = [sentence(message_set, m) for m in MESSAGES[message_set]]
    if fmt == "raw":
        return f"{text}\n{PARAPHRASES[paraphrase].speaker}", [f" {s}" for s in sentences]
    return prompts.chat_context(tokenizer, [("user", text)]), sentences


def render_interpretation(paraphrase: str, message_set: str, message: str, fmt: str,
                          tokenizer=None) -> tuple[str, list[str]]:
    """(context, continuations '0 out of 10.'..'10 out of 10.'): how many red balls the
    listener infers."""
    text = PARAPHRASES[paraphrase].interpretation.format(sentence=sentence(message_set, message))
    text = f"{text} {NUMBER_CUE}"
    numbers = [NUMBER_OPTION.format(n=n) for n in range(N_BALLS + 1)]
    if fmt == "raw":
        return f"{text}\n{prompts.ANSWER_CUE}", [f" {n}" for n in numbers]
    return prompts.chat_context(tokenizer, [("user", text)]), numbers


def template_id(task: str, message_set: str, paraphrase: str, fmt: str, show_options: bool) -> str:
    hint = "-options" if show_options and task == "production" else ""
    return f"ue-{task}-{message_set}-{paraphrase}-{fmt}{hint}-{TEMPLATE_VERSION}"


# ------------------------------------------------------------------ scoring

def requests(fmt: str, tokenizer, message_sets, paraphrases, states, interpretation: bool = True,
             show_options: bool = False) -> list[tuple[str, list[dict], list[Request]]]:
    """(template id, per-request metadata, requests) per message set x paraphrase x task."""
    out = []
    for mset in message_sets:
        for para in paraphrases:
            meta, reqs = [], []
            for a, o in states:
                context, options = render_production(para, a, o, mset, fmt, tokenizer, show_options)
                item = f"production:{mset}:{para}:{a}-{o}"
                reqs.append(Request(item, context, tuple(options)))
                meta.append({"item_id": item, "task": "production", "message_set": mset,
                             "paraphrase": para, "access": a, "observation": o})
            out.append((template_id("production", mset, para, fmt, show_options), meta, reqs))
            if not interpretation:
                continue
            meta, reqs = [], []
            for message in human_meanings(mset)["message"]:
                context, options = render_interpretation(para, mset, message, fmt, tokenizer)
                item = f"interpretation:{mset}:{para}:{message}"
                reqs.append(Request(item, context, tuple(options)))
                meta.append({"item_id": item, "task": "interpretation", "message_set": mset,
                             "paraphrase": para, "heard": message})
            out.append((template_id("interpretation", mset, para, fmt, False), meta, reqs))
    return out


def score_roles(specs: dict[str, str], *, message_sets, paraphrases, states, interpretation=True,
                show_options=False, quantize="auto", prompt_format="auto", batch_size=8,
                cache: ScoreCache | None = None) -> tuple[pd.DataFrame, dict]:
    """One row per role x request x option (log-likelihood, tokens, characters), with the
    design columns; and what was loaded per role, with an example context."""
    def score(scorer, fmt):
        frames, example = [], None
        for template, meta, reqs in requests(fmt, scorer.loaded.tokenizer, message_sets, paraphrases, states,
                                             interpretation, show_options):
            example = example or reqs[0].context + reqs[0].options[-1]
            frame = scorer.continuation_logprobs(reqs, chat=fmt == "chat", template=template,
                                                 data_version=DATA_VERSION)
            frames.append(frame.merge(pd.DataFrame(meta), on="item_id", how="left"))
        records = pd.concat(frames, ignore_index=True)
        production = records["task"] == "production"
        sets = records["message_set"].map(lambda s: MESSAGES[s])
        records["message"] = [m[i] if p else None for m, i, p in zip(sets, records["option_index"], production)]
        records["n_red"] = np.where(production, -1, records["option_index"])
        records[["access", "observation"]] = records[["access", "observation"]].astype("Int64")
        return records, {"example_context": example}

    return common.score_roles(specs, score, quantize=quantize, prompt_format=prompt_format,
                              batch_size=batch_size, cache=cache)


def distributions(records: pd.DataFrame, norm: str = "sum") -> pd.DataFrame:
    """Each request's options normalized to probabilities (softmax of the score): the summed
    log-likelihood ('sum'), or its mean per token ('token') or per character ('char')."""
    if norm not in NORMS:
        raise InputError(f"norm {norm!r} is not accepted.{closest(norm, NORMS)} Accepted: {', '.join(NORMS)}.")
    frame = records.copy()
    frame["score"] = frame["logprob"] / {"sum": 1, "token": frame["n_tokens"], "char": frame["n_chars"]}[norm]
    by = frame["role"] + "|" + frame["item_id"]
    return metrics.normalize_options(frame.assign(_item=by), column="score", by="_item").drop(columns="_item")
