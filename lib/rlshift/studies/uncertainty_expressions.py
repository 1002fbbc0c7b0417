"""Uncertainty expressions in context (Herbstritt & Franke 2016, 2019), base vs tuned, against
people: as data and a few functions; the notebook tells the story.

The situation: an urn holds 10 red or blue balls; someone draws `access` = a of them, sees
`observation` = o red ones, puts them back; a new ball will be drawn, and the speaker says how
likely it is to be red. The 15 states <a, o> of the experiments carry higher-order uncertainty
none (a = 10), low (a = 8) or high (a = 2, 4). Each state is told in words (several
paraphrases; raw text for base models, the chat template for tuned ones), and every message of
a set is scored as the continuation that follows (its full multi-token log-likelihood through
`Scorer.continuation_logprobs`), then normalized over the set: the model's message
distribution in that state. People's distributions come from the shipped derived tables
(`data/hf_*.csv`, `data/scripts/derive_herbstritt_franke.py`).

Divergences are Jensen-Shannon divergences in bits (`metrics.js_divergence`: the square of
scipy's JS distance, base 2, in [0, 1]). Intervals are percentile bootstraps that resample
people's participants and the prompt paraphrases together (the same draws for both models, so
base and tuned are compared paired).
"""
from __future__ import annotations

import gc
import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from rlshift import manifest, metrics, models, prompts, stats
from rlshift.cache import ScoreCache
from rlshift.errors import InputError, closest
from rlshift.params import Param, Schema
from rlshift.scoring import Request, Scorer, normalize_options

# ------------------------------------------------------------------ the design

STATES = [(2, 0), (2, 2), (4, 1), (4, 2), (4, 3), (8, 0), (8, 2), (8, 4), (8, 6), (8, 8),
          (10, 2), (10, 3), (10, 5), (10, 7), (10, 8)]
LEVELS = ("none", "low", "high")
N_BALLS = 10
SIMPLE = ("certainly not", "probably not", "possibly", "probably", "certainly")
VERBS = ("is", "is probably", "might be", "is certainly")
ADJECTIVES = ("probable", "possible", "unlikely", "likely")
MESSAGES = {"simple": SIMPLE, "complex": tuple(f"{v} {a}" for v in VERBS for a in ADJECTIVES)}
MESSAGE_SETS = tuple(MESSAGES)
CERTAIN = ("certainly", "certainly not")  # the simple messages that leave no doubt
NORMS = ("sum", "token", "char")
ROLES = ("base", "tuned")


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


# ------------------------------------------------------------------ parameters

def _check_states(states) -> None:
    if states is None:
        return
    if not states:
        raise InputError("parameter 'states' is empty: give null (all 15) or a list of [access, "
                         "observation] pairs.")
    for s in states:
        if not (isinstance(s, (list, tuple)) and len(s) == 2 and tuple(s) in STATES):
            raise InputError(f"parameter 'states': {s!r} is not accepted. Accepted: [access, "
                             f"observation] pairs of the experiment: "
                             f"{', '.join(f'[{a}, {o}]' for a, o in STATES)}.")


def _check_unique(name):
    def check(values) -> None:
        if not values:
            raise InputError(f"parameter {name!r} is empty: give at least one value.")
        if len(set(values)) != len(values):
            raise InputError(f"parameter {name!r} lists a value twice: {values!r}.")
    return check



PARAMS = Schema(
    *models.pair_params(),
    Param("message_sets", list, list(MESSAGE_SETS), "Message sets: simple (5 adverbs), complex (16).",
          choices=MESSAGE_SETS, check=_check_unique("message_sets")),
    Param("paraphrases", list, list(PARAPHRASES), "Wordings of the situation.",
          choices=tuple(PARAPHRASES), check=_check_unique("paraphrases")),
    Param("states", list, None, "[access, observation] pairs; null = all 15 of the experiment.",
          optional=True, check=_check_states),
    Param("interpretation", bool, True, "Also score the listener's side: red balls given a message."),
    Param("show_options", bool, False, "List the allowed messages in the context (people saw menus)."),
    Param("norm", str, "sum", "Message score: summed log-likelihood, or per token, or per character.",
          choices=NORMS),
    Param("n_boot", int, 1000, "Bootstrap resamples (participants x paraphrases).", minimum=50, maximum=100000),
    Param("seed", int, 0, "Seed for resampling.", minimum=0),
    Param("quantize", str, "auto", "auto = nf4 4-bit on CUDA, fp32 on CPU.", choices=models.QUANTIZATIONS),
    Param("prompt_format", str, "auto", "auto = raw text for base, chat template for tuned.",
          choices=models.FORMATS),
    Param("batch_size", int, 8, "Sequences per forward pass.", minimum=1, maximum=1024),
    Param("cache_dir", str, None, "Score cache file (default: the rlshift cache).", optional=True),
)


def chosen_states(states) -> list[tuple[int, int]]:
    """The states in the experiment's order (access, then observation)."""
    if states is None:
        return list(STATES)
    wanted = {tuple(s) for s in states}
    return [s for s in STATES if s in wanted]


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


def score_model(spec: str, role: str, *, message_sets, paraphrases, states, interpretation=True,
                show_options=False, quantize="auto", prompt_format="auto", batch_size=8,
                cache: ScoreCache | None = None) -> tuple[pd.DataFrame, dict]:
    """One row per request x option for one model (log-likelihood, tokens, characters), with
    the design columns; and what was loaded, with an example context."""
    loaded = models.load(spec, quantize=quantize)
    fmt = models.resolve_format(prompt_format, role, loaded)
    scorer = Scorer(loaded, cache=cache, batch_size=batch_size)
    frames, example = [], None
    for template, meta, reqs in requests(fmt, loaded.tokenizer, message_sets, paraphrases, states,
                                         interpretation, show_options):
        example = example or reqs[0].context + reqs[0].options[-1]
        frame = scorer.continuation_logprobs(reqs, chat=fmt == "chat", template=template,
                                             data_version=DATA_VERSION)
        frames.append(frame.merge(pd.DataFrame(meta), on="item_id", how="left"))
    records = pd.concat(frames, ignore_index=True).assign(role=role, format=fmt)
    production = records["task"] == "production"
    sets = records["message_set"].map(lambda s: MESSAGES[s])
    records["message"] = [m[i] if p else None for m, i, p in zip(sets, records["option_index"], production)]
    records["n_red"] = np.where(production, -1, records["option_index"])
    records[["access", "observation"]] = records[["access", "observation"]].astype("Int64")
    info = dict(loaded.info, format=fmt, role=role, example_context=example)
    del scorer, loaded
    gc.collect()
    return records, info


def distributions(records: pd.DataFrame, norm: str = "sum") -> pd.DataFrame:
    """Each request's options normalized to probabilities (softmax of the score): the summed
    log-likelihood ('sum'), or its mean per token ('token') or per character ('char')."""
    if norm not in NORMS:
        raise InputError(f"norm {norm!r} is not accepted.{closest(norm, NORMS)} Accepted: {', '.join(NORMS)}.")
    frame = records.copy()
    frame["score"] = frame["logprob"] / {"sum": 1, "token": frame["n_tokens"], "char": frame["n_chars"]}[norm]
    by = frame["role"] + "|" + frame["item_id"]
    return normalize_options(frame.assign(_item=by), column="score", by="_item").drop(columns="_item")


# ------------------------------------------------------------------ people

def human_production(message_set: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per state x message counts and proportions, per participant choices), checked against
    the manifest."""
    agg = pd.read_csv(manifest.verified(f"hf_{message_set}_production.csv"))
    trials = pd.read_csv(manifest.verified(f"hf_{message_set}_participants.csv"))
    return agg, trials


def human_interpretation(message_set: str) -> pd.DataFrame:
    return pd.read_csv(manifest.verified(f"hf_{message_set}_interpretation.csv"))


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


def proportions(counts: np.ndarray) -> np.ndarray:
    """Counts to proportions along the last axis (a row with no count stays NaN)."""
    total = counts.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts / total


# ------------------------------------------------------------------ metrics

def pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation over the trailing two axes (all state x message cells pooled);
    leading axes are kept (bootstrap replicates)."""
    a = a.reshape(*a.shape[:-2], -1)
    b = b.reshape(*b.shape[:-2], -1)
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis (per state, across messages); NaN for a
    constant row."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def entropy_bits(p: np.ndarray) -> np.ndarray:
    return sps.entropy(p, base=2, axis=-1)


def slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS slope of y on x along the last axis (x shared)."""
    x = np.asarray(x, float) - np.mean(x)
    y = y - y.mean(-1, keepdims=True)
    return (y * x).sum(-1) / (x * x).sum()


def interval(values: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the first axis (bootstrap replicates)."""
    return np.nanquantile(values, alpha / 2, axis=0), np.nanquantile(values, 1 - alpha / 2, axis=0)


def boot_p(diff: np.ndarray) -> float:
    """Two-sided bootstrap p-value of a difference being 0: twice the smaller share of
    resamples on either side of 0, counted as (k + 1) / (n + 1) so that it is never 0."""
    diff = diff[~np.isnan(diff)]
    k = min(int(np.sum(diff <= 0)), int(np.sum(diff >= 0)))
    return float(min(1.0, 2 * (k + 1) / (len(diff) + 1)))


def resample_weights(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """[n_boot, n] how often each unit is drawn in each bootstrap resample."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)


# ------------------------------------------------------------------ production: fit to people

@dataclass
class Fit:
    """People's and the models' message distributions over the same states, observed and
    resampled: `sources` maps a name (base, tuned, and the baselines 'uniform' and
    'state_blind', which predicts people's overall mix of messages in every state) to its
    [states, messages] distribution; `boot` to [n_boot, states, messages]."""
    message_set: str
    states: list[tuple[int, int]]
    messages: tuple[str, ...]
    human: np.ndarray
    human_boot: np.ndarray
    sources: dict[str, np.ndarray]
    boot: dict[str, np.ndarray]
    per_paraphrase: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    n_participants: int = 0


def model_array(dist: pd.DataFrame, role: str, message_set: str, states, paraphrases) -> np.ndarray:
    """[paraphrases, states, messages] production probabilities of one model."""
    part = dist[(dist["role"] == role) & (dist["task"] == "production") & (dist["message_set"] == message_set)]
    table = part.set_index(["paraphrase", "access", "observation", "message"])["prob"]
    index = pd.MultiIndex.from_tuples([(p, a, o, m) for p in paraphrases for a, o in states
                                       for m in MESSAGES[message_set]])
    missing = index.difference(table.index)
    if len(missing):
        raise InputError(f"{role}: no scores for {len(missing)} cells, e.g. {missing[0]} "
                         f"(run score_model with these paraphrases and states).")
    return table.reindex(index).to_numpy().reshape(len(paraphrases), len(states), len(MESSAGES[message_set]))


def production_fit(dist: pd.DataFrame, message_set: str, states, paraphrases, trials: pd.DataFrame,
                   n_boot: int = 1000, seed: int = 0, roles=ROLES) -> Fit:
    """People's and each model's distributions over `states`, with `n_boot` paired resamples:
    participants (who gave one choice per state) and paraphrases are drawn with replacement,
    the same draws for every source; a model's distribution is its mean over paraphrases."""
    messages = MESSAGES[message_set]
    rng = np.random.default_rng(seed)
    tensor = participant_tensor(trials, states, messages)
    tensor = tensor[tensor.sum((1, 2)) > 0]  # participants who answered in these states
    w_people = resample_weights(rng, len(tensor), n_boot)
    w_para = resample_weights(rng, len(paraphrases), n_boot)
    counts = tensor.sum(0)
    counts_boot = np.einsum("bn,nsm->bsm", w_people, tensor)
    sources, boot, per_para = {}, {}, {}
    for role in roles:
        arr = model_array(dist, role, message_set, states, paraphrases)
        sources[role] = arr.mean(0)
        boot[role] = np.einsum("bp,psm->bsm", w_para, arr) / len(paraphrases)
        per_para[role] = dict(zip(paraphrases, arr))
    flat = np.full(len(messages), 1.0 / len(messages))
    sources["uniform"] = np.tile(flat, (len(states), 1))
    boot["uniform"] = np.broadcast_to(sources["uniform"], counts_boot.shape)
    sources["state_blind"] = np.tile(proportions(counts.sum(0)), (len(states), 1))
    boot["state_blind"] = np.repeat(proportions(counts_boot.sum(1))[:, None, :], len(states), axis=1)
    return Fit(message_set, list(states), messages, proportions(counts), proportions(counts_boot),
               sources, boot, per_para, len(tensor))


def overall(fit: Fit) -> pd.DataFrame:
    """Per source: mean JSD to people over states and the pooled correlation over state x
    message cells, with bootstrap 95% intervals; plus the sampling floor (people resampled
    against themselves: what a perfect model would score given the finite sample)."""
    rows = []
    for name, dist in fit.sources.items():
        jsd = metrics.js_divergence(dist, fit.human).mean()
        jsd_b = metrics.js_divergence(fit.boot[name], fit.human_boot).mean(-1)
        (jl, jh), r, rl, rh = interval(jsd_b), np.nan, np.nan, np.nan
        if name != "uniform":  # a constant prediction has no correlation
            r, (rl, rh) = pearson(dist, fit.human), interval(pearson(fit.boot[name], fit.human_boot))
        rows.append({"message_set": fit.message_set, "source": name, "jsd": jsd, "jsd_low": jl,
                     "jsd_high": jh, "r": r, "r_low": rl, "r_high": rh})
    floor = metrics.js_divergence(fit.human_boot, fit.human).mean(-1)
    rows.append({"message_set": fit.message_set, "source": "people_resampled", "jsd": float(floor.mean()),
                 "jsd_low": interval(floor)[0], "jsd_high": interval(floor)[1],
                 "r": np.nan, "r_low": np.nan, "r_high": np.nan})
    out = pd.DataFrame(rows)
    out[["jsd_low", "jsd_high", "r_low", "r_high"]] = out[["jsd_low", "jsd_high", "r_low", "r_high"]].astype(float)
    return out


def per_state(fit: Fit, roles=ROLES) -> pd.DataFrame:
    """Per state and model: JSD to people (95% interval), the correlation across messages,
    the entropy of the message distribution (bits) and the favourite message; people's too."""
    rows = []
    for i, (a, o) in enumerate(fit.states):
        base = {"message_set": fit.message_set, "state": state_label(a, o), "access": a,
                "observation": o, "uncertainty": level(a), "p_red": p_red(a, o)}
        rows.append(dict(base, source="people", entropy=entropy_bits(fit.human[i]),
                         top=fit.messages[int(np.argmax(fit.human[i]))]))
        for role in roles:
            jsd_b = metrics.js_divergence(fit.boot[role][:, i], fit.human_boot[:, i])
            lo, hi = interval(jsd_b)
            rows.append(dict(base, source=role, jsd=metrics.js_divergence(fit.sources[role][i], fit.human[i]),
                             jsd_low=float(lo), jsd_high=float(hi),
                             r=float(row_pearson(fit.sources[role][i], fit.human[i])),
                             entropy=entropy_bits(fit.sources[role][i]),
                             top=fit.messages[int(np.argmax(fit.sources[role][i]))]))
    return pd.DataFrame(rows)


def compare(fit: Fit, a: str = "tuned", b: str = "base", seed: int = 0, n_resamples: int = 2000) -> dict:
    """Which model is closer to people: JSD(a) - JSD(b), mean over states. Two tests: the
    paired bootstrap over participants and paraphrases (interval and p), and a paired
    permutation test over states (stats.paired_difference: swaps a's and b's JSD state by
    state), with its bootstrap interval over states."""
    jsd_a = metrics.js_divergence(fit.sources[a], fit.human)
    jsd_b = metrics.js_divergence(fit.sources[b], fit.human)
    diff_b = (metrics.js_divergence(fit.boot[a], fit.human_boot)
              - metrics.js_divergence(fit.boot[b], fit.human_boot)).mean(-1)
    lo, hi = interval(diff_b)
    perm = stats.paired_difference(lambda pool, idx: float(pool[idx].mean()), jsd_a, jsd_b,
                                   seed=seed, n_resamples=n_resamples)
    return {"message_set": fit.message_set, "a": a, "b": b, "jsd_a": float(jsd_a.mean()),
            "jsd_b": float(jsd_b.mean()), "difference": float((jsd_a - jsd_b).mean()),
            "low": float(lo), "high": float(hi), "p_boot": boot_p(diff_b),
            "states_a_closer": int((jsd_a < jsd_b).sum()), "n_states": len(jsd_a),
            "state_low": perm["ci_low"], "state_high": perm["ci_high"], "p_states": perm["p_value"]}


def by_level(fit: Fit, roles=ROLES) -> pd.DataFrame:
    """Per higher-order uncertainty level: each model's mean JSD to people, and every source's
    mean entropy (people included), with 95% intervals; and for each model the change from
    'none' to 'high'."""
    levels = np.array([level(a) for a, _ in fit.states])
    rows = []
    for lv in LEVELS:
        mask = levels == lv
        if not mask.any():
            continue
        h = entropy_bits(fit.human_boot[:, mask]).mean(-1)
        rows.append({"message_set": fit.message_set, "uncertainty": lv, "source": "people",
                     "n_states": int(mask.sum()), "entropy": entropy_bits(fit.human[mask]).mean(),
                     "entropy_low": interval(h)[0], "entropy_high": interval(h)[1]})
        for role in roles:
            j = metrics.js_divergence(fit.boot[role][:, mask], fit.human_boot[:, mask]).mean(-1)
            e = entropy_bits(fit.boot[role][:, mask]).mean(-1)
            rows.append({"message_set": fit.message_set, "uncertainty": lv, "source": role,
                         "n_states": int(mask.sum()),
                         "jsd": metrics.js_divergence(fit.sources[role][mask], fit.human[mask]).mean(),
                         "jsd_low": interval(j)[0], "jsd_high": interval(j)[1],
                         "entropy": entropy_bits(fit.sources[role][mask]).mean(),
                         "entropy_low": interval(e)[0], "entropy_high": interval(e)[1]})
    return pd.DataFrame(rows)


def level_change(fit: Fit, roles=ROLES, hi: str = "high", lo: str = "none") -> pd.DataFrame:
    """Per model: mean JSD under high minus under no higher-order uncertainty (95% interval)."""
    levels = np.array([level(a) for a, _ in fit.states])
    if not ((levels == hi).any() and (levels == lo).any()):
        return pd.DataFrame(columns=["message_set", "source", "difference", "low", "high", "p_boot"])
    rows = []
    for role in roles:
        j = metrics.js_divergence(fit.boot[role], fit.human_boot)
        d_b = j[:, levels == hi].mean(-1) - j[:, levels == lo].mean(-1)
        j0 = metrics.js_divergence(fit.sources[role], fit.human)
        low, high = interval(d_b)
        rows.append({"message_set": fit.message_set, "source": role,
                     "difference": float(j0[levels == hi].mean() - j0[levels == lo].mean()),
                     "low": float(low), "high": float(high), "p_boot": boot_p(d_b)})
    return pd.DataFrame(rows)


def paraphrase_table(fit: Fit) -> pd.DataFrame:
    """Mean JSD and pooled correlation per model and single paraphrase (prompt robustness)."""
    rows = []
    for role, arrays in fit.per_paraphrase.items():
        for name, arr in arrays.items():
            rows.append({"message_set": fit.message_set, "source": role, "variant": f"paraphrase {name}",
                         "jsd": metrics.js_divergence(arr, fit.human).mean(),
                         "r": float(pearson(arr, fit.human))})
    return pd.DataFrame(rows)


def norm_table(records: pd.DataFrame, message_set: str, states, paraphrases, trials, roles=ROLES) -> pd.DataFrame:
    """Mean JSD and pooled correlation per model under each length normalization."""
    rows = []
    human = proportions(participant_tensor(trials, states, MESSAGES[message_set]).sum(0))
    for norm in NORMS:
        dist = distributions(records[records["task"] == "production"], norm)
        for role in roles:
            arr = model_array(dist, role, message_set, states, paraphrases).mean(0)
            rows.append({"message_set": message_set, "source": role, "variant": f"norm {norm}",
                         "jsd": metrics.js_divergence(arr, human).mean(), "r": float(pearson(arr, human))})
    return pd.DataFrame(rows)


def proportions_table(fit: Fit, roles=ROLES) -> pd.DataFrame:
    """Long table for the paper-style figure: state x message x source -> proportion."""
    rows = []
    for name, dist in [("people", fit.human)] + [(r, fit.sources[r]) for r in roles]:
        for i, (a, o) in enumerate(fit.states):
            for j, m in enumerate(fit.messages):
                rows.append({"message_set": fit.message_set, "state": state_label(a, o), "access": a,
                             "observation": o, "uncertainty": level(a), "message": m,
                             "source": name, "proportion": float(dist[i, j])})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ overconfidence in words

def words_table(fit: Fit, roles=ROLES) -> pd.DataFrame:
    """How strong a probability each source's words convey. A message conveys the share of red
    balls people inferred from it (interpretation experiments); per state, a source conveys the
    expectation over its message distribution. Against the Bayesian probability of red
    (`p_red`), the OLS slope across states says how far words follow the evidence (slope above
    people's: words swing further than people's). Also the mean distance of the conveyed
    probability from 1/2, and for the simple set the probability of 'certainly'/'certainly
    not' (no state of the design makes the next ball's colour certain). Each model's slope and
    certain share minus people's come with a paired 95% interval and p."""
    meaning = human_meanings(fit.message_set).set_index("message")["conveyed"]
    conveyed = np.array([meaning[meaning_key(m)] for m in fit.messages])
    ref = np.array([p_red(a, o) for a, o in fit.states])
    certain = np.array([m in CERTAIN for m in fit.messages]) if fit.message_set == "simple" else None
    rows, reps = [], {}
    for name, dist, dist_b in [("people", fit.human, fit.human_boot)] + \
            [(r, fit.sources[r], fit.boot[r]) for r in roles]:
        value = dist @ conveyed
        reps[name] = {"slope": slope(ref, dist_b @ conveyed)}
        row = {"message_set": fit.message_set, "source": name, "slope": float(slope(ref, value)),
               "slope_low": interval(reps[name]["slope"])[0], "slope_high": interval(reps[name]["slope"])[1],
               "extremity": float(np.abs(value - 0.5).mean()), "certain_share": np.nan}
        if certain is not None:
            reps[name]["certain"] = dist_b[:, :, certain].sum(-1).mean(-1)
            row["certain_share"] = float(dist[:, certain].sum(-1).mean())
            row["certain_low"], row["certain_high"] = map(float, interval(reps[name]["certain"]))
        rows.append(row)
    for row in rows[1:]:
        for key, short in (("slope", "slope"), ("certain", "certain_share")):
            if key not in reps["people"]:
                continue
            d = reps[row["source"]][key] - reps["people"][key]
            lo, hi = interval(d)
            row.update({f"{key}_vs_people": row[short] - rows[0][short], f"{key}_vs_low": float(lo),
                        f"{key}_vs_high": float(hi), f"{key}_vs_p": boot_p(d)})
    return pd.DataFrame(rows)


def conveyed_table(fit: Fit, roles=ROLES) -> pd.DataFrame:
    """Per state and source: the probability conveyed in words, and the Bayesian one."""
    meaning = human_meanings(fit.message_set).set_index("message")["conveyed"]
    conveyed = np.array([meaning[meaning_key(m)] for m in fit.messages])
    rows = []
    for name, dist in [("people", fit.human)] + [(r, fit.sources[r]) for r in roles]:
        for i, (a, o) in enumerate(fit.states):
            rows.append({"message_set": fit.message_set, "state": state_label(a, o), "uncertainty": level(a),
                         "source": name, "p_red": p_red(a, o), "conveyed": float(dist[i] @ conveyed)})
    return pd.DataFrame(rows)


def temperature_table(fit: Fit, trials: pd.DataFrame, roles=ROLES) -> pd.DataFrame:
    """The temperature T that makes people's choices most likely under a model's (paraphrase-
    averaged) distribution, p^(1/T) renormalized: T > 1 means the model's word choice is more
    peaked than people's mix; then the mean JSD at T = 1 and at the fitted T."""
    index = {s: i for i, s in enumerate(fit.states)}
    m_index = {m: j for j, m in enumerate(fit.messages)}
    keep = [(index[(a, o)], m_index[m]) for a, o, m in trials[["access", "observation", "message"]].itertuples(index=False)
            if (a, o) in index]
    state_i = np.array([k[0] for k in keep])
    answer = np.array([k[1] for k in keep])
    rows = []
    for role in roles:
        logp = np.log(fit.sources[role])
        t = metrics.fit_temperature(logp[state_i], answer)
        at_t = metrics.probs_at_temperature(logp, t)
        rows.append({"message_set": fit.message_set, "source": role, "fitted_T": t,
                     "jsd_T1": metrics.js_divergence(fit.sources[role], fit.human).mean(),
                     "jsd_fitted_T": metrics.js_divergence(at_t, fit.human).mean(),
                     "n_choices": len(answer)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ interpretation

@dataclass
class Interpretation:
    message_set: str
    messages: list[str]
    human: np.ndarray  # [messages, 11]
    human_boot: np.ndarray
    sources: dict[str, np.ndarray]
    boot: dict[str, np.ndarray]


def interpretation_fit(dist: pd.DataFrame, message_set: str, paraphrases, n_boot: int = 1000,
                       seed: int = 0, roles=ROLES) -> Interpretation:
    """People's slider answers (red balls in the urn, 0..10) per message against each model's
    normalized distribution over '0'..'10'. People answered each message once, so resampling
    answers within a message resamples participants; paraphrases are resampled as above."""
    table = human_interpretation(message_set)
    messages = list(dict.fromkeys(table["message"]))
    counts = table.pivot(index="message", columns="n_red", values="count").loc[messages].to_numpy(float)
    rng = np.random.default_rng(seed)
    human_boot = np.stack([rng.multinomial(int(c.sum()), c / c.sum(), size=n_boot) for c in counts], axis=1)
    w_para = resample_weights(rng, len(paraphrases), n_boot)
    sources, boot = {}, {}
    part = dist[dist["task"] == "interpretation"]
    for role in roles:
        here = part[(part["role"] == role) & (part["message_set"] == message_set)]
        tab = here.set_index(["paraphrase", "heard", "n_red"])["prob"]
        index = pd.MultiIndex.from_tuples([(p, m, n) for p in paraphrases for m in messages for n in range(N_BALLS + 1)])
        if len(index.difference(tab.index)):
            raise InputError(f"{role}: interpretation scores missing for {message_set} (run score_model "
                             f"with interpretation=True and these paraphrases).")
        arr = tab.reindex(index).to_numpy().reshape(len(paraphrases), len(messages), N_BALLS + 1)
        sources[role] = arr.mean(0)
        boot[role] = np.einsum("bp,pmk->bmk", w_para, arr) / len(paraphrases)
    return Interpretation(message_set, messages, proportions(counts), proportions(human_boot.astype(float)),
                          sources, boot)


def interpretation_summary(fit: Interpretation, roles=ROLES) -> pd.DataFrame:
    """Per model: mean JSD to people's answers over messages, and the correlation across
    messages of the mean number of red balls inferred (model vs people), with 95% intervals."""
    reds = np.arange(N_BALLS + 1)
    rows = []
    h_mean, h_mean_b = fit.human @ reds, fit.human_boot @ reds
    for role in roles:
        j_b = metrics.js_divergence(fit.boot[role], fit.human_boot).mean(-1)
        m, m_b = fit.sources[role] @ reds, fit.boot[role] @ reds
        r_b = row_pearson(m_b, h_mean_b)
        rows.append({"message_set": fit.message_set, "source": role,
                     "jsd": metrics.js_divergence(fit.sources[role], fit.human).mean(),
                     "jsd_low": interval(j_b)[0], "jsd_high": interval(j_b)[1],
                     "r_mean_red": float(np.corrcoef(m, h_mean)[0, 1]),
                     "r_low": interval(r_b)[0], "r_high": interval(r_b)[1],
                     "spread_mean_red": float(m.max() - m.min()),
                     "people_spread_mean_red": float(h_mean.max() - h_mean.min())})
    return pd.DataFrame(rows)


def interpretation_compare(fit: Interpretation, a: str = "tuned", b: str = "base") -> dict:
    """JSD(a) - JSD(b) to people's answers, mean over messages, paired bootstrap."""
    diff = (metrics.js_divergence(fit.boot[a], fit.human_boot)
            - metrics.js_divergence(fit.boot[b], fit.human_boot)).mean(-1)
    lo, hi = interval(diff)
    point = (metrics.js_divergence(fit.sources[a], fit.human)
             - metrics.js_divergence(fit.sources[b], fit.human)).mean()
    return {"message_set": fit.message_set, "a": a, "b": b, "difference": float(point),
            "low": float(lo), "high": float(hi), "p_boot": boot_p(diff)}


def interpretation_long(fit: Interpretation, roles=ROLES) -> pd.DataFrame:
    rows = []
    for name, dist in [("people", fit.human)] + [(r, fit.sources[r]) for r in roles]:
        for i, m in enumerate(fit.messages):
            for n in range(N_BALLS + 1):
                rows.append({"message_set": fit.message_set, "message": m, "n_red": n,
                             "source": name, "proportion": float(dist[i, n])})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ verdicts

def _fmt(x, lo, hi, digits=3) -> str:
    return f"{x:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _sig(low: float, high: float) -> int:
    """+1 if an interval lies above 0, -1 if below, 0 if it covers 0."""
    return 1 if low > 0 else -1 if high < 0 else 0


def verdicts(overall_t: pd.DataFrame, comparisons: list[dict], levels_t: pd.DataFrame,
             changes_t: pd.DataFrame, words_t: pd.DataFrame, temps_t: pd.DataFrame,
             interp_t: pd.DataFrame | None = None, interp_cmp: list[dict] | None = None,
             alpha: float = 0.05) -> str:
    """The hypotheses' verdicts in words, computed from the tables (markdown)."""
    lines, h1 = [], []
    for mset, table in overall_t.groupby("message_set", sort=False):
        t = table.set_index("source")
        blind, floor = t.loc["state_blind"], t.loc["people_resampled"]
        for role in ROLES:
            row = t.loc[role]
            tracks = row["r_low"] > 0
            beats = row["jsd_high"] < blind["jsd_low"]
            word = ("matches people within sampling noise" if tracks and beats and row["jsd_low"] <= floor["jsd_high"]
                    else "tracks people" if tracks and beats
                    else "follows the states, but less well than ignoring them" if tracks
                    else "does not track people")
            h1.append(f"{mset}, {role}: JSD {_fmt(row['jsd'], row['jsd_low'], row['jsd_high'])} (state-blind "
                      f"baseline {blind['jsd']:.3f}, sampling floor {floor['jsd']:.3f}), pooled r "
                      f"{_fmt(row['r'], row['r_low'], row['r_high'], 2)}: **{word}**")
    lines.append("**H1 (a model aligned with people gives the expressions people's probabilities in each "
                 "context).** A model tracks people when its pooled correlation's interval lies above 0 and "
                 "its JSD's interval lies below that of the state-blind baseline (people's overall mix of "
                 "messages, whatever the state); it matches them when its JSD also reaches the sampling "
                 "floor. " + "; ".join(h1) + ".")
    h2 = []
    for c in comparisons:
        sig = c["p_boot"] < alpha and c["p_states"] < alpha
        side = "closer to" if c["difference"] < 0 else "further from"
        h2.append(f"{c['message_set']}: tuned minus base JSD {_fmt(c['difference'], c['low'], c['high'])} "
                  f"(bootstrap p = {c['p_boot']:.3f}; permutation over {c['n_states']} states p = "
                  f"{c['p_states']:.3f}; tuned closer in {c['states_a_closer']} of {c['n_states']} states): "
                  + (f"**the tuned model is {side} people**" if sig else "**no reliable difference**"))
    lines.append("**H2 (base and tuned models differ in how close they are to people).** Called only when "
                 f"both tests agree at alpha = {alpha}. " + "; ".join(h2) + ".")
    if not changes_t.empty:
        q3 = []
        for mset, table in levels_t.groupby("message_set", sort=False):
            ent = table.pivot_table(index="source", columns="uncertainty", values="entropy")
            ent = ent[[lv for lv in LEVELS if lv in ent.columns]]
            parts = [f"entropy (bits, {'/'.join(ent.columns)}): " + ", ".join(
                f"{src} " + "/".join(f"{v:.2f}" for v in ent.loc[src]) for src in ["people", *ROLES])]
            for _, row in changes_t[changes_t["message_set"] == mset].iterrows():
                word = {1: "further from people under high than under no higher-order uncertainty",
                        -1: "closer to people under high than under no higher-order uncertainty",
                        0: "no reliable change in JSD between none and high"}[_sig(row["low"], row["high"])]
                parts.append(f"{row['source']}: {word} ({_fmt(row['difference'], row['low'], row['high'])})")
            q3.append(f"{mset}: " + "; ".join(parts))
        lines.append("**Q3 (higher-order uncertainty).** If entropy rises from none to high, the speaker "
                     "hedges more when fewer balls were seen. " + " | ".join(q3) + ".")
    if interp_t is not None and not interp_t.empty:
        parts = []
        for _, row in interp_t.iterrows():
            order = {1: "orders the messages as people do", -1: "orders them against people",
                     0: "no reliable order"}[_sig(row["r_low"], row["r_high"])]
            if row["spread_mean_red"] < 0.2 * row["people_spread_mean_red"]:
                order = f"reads every message about alike ({order}, on a tiny spread)"
            parts.append(f"{row['message_set']}, {row['source']}: JSD {_fmt(row['jsd'], row['jsd_low'], row['jsd_high'])}, "
                         f"r of the mean number of red balls across messages "
                         f"{_fmt(row['r_mean_red'], row['r_low'], row['r_high'], 2)} (its means span "
                         f"{row['spread_mean_red']:.1f} balls, people's {row['people_spread_mean_red']:.1f}): {order}")
        for c in interp_cmp or []:
            parts.append(f"{c['message_set']}: tuned minus base JSD {_fmt(c['difference'], c['low'], c['high'])} "
                         f"(bootstrap p = {c['p_boot']:.3f})")
        lines.append("**Beyond: interpretation.** Given a message, does the model infer the number of red "
                     "balls as people do? " + "; ".join(parts) + ".")
    w = []
    temps = temps_t.set_index(["message_set", "source"])["fitted_T"]
    for mset, table in words_t.groupby("message_set", sort=False):
        t = table.set_index("source")
        for role in ROLES:
            row = t.loc[role]
            follow = {1: "swing further with the evidence than people's",
                      -1: "follow the evidence less than people's",
                      0: "follow the evidence as much as people's"}[_sig(row["slope_vs_low"], row["slope_vs_high"])]
            text = (f"{mset}, {role}: slope {_fmt(row['slope'], row['slope_low'], row['slope_high'], 2)} vs "
                    f"people's {t.loc['people', 'slope']:.2f}: its words **{follow}**")
            if "certain_vs_low" in row and not pd.isna(row.get("certain_vs_low")):
                certain = {1: "more often than people", -1: "less often than people",
                           0: "about as often as people"}[_sig(row["certain_vs_low"], row["certain_vs_high"])]
                text += (f"; it says *certainly (not)* with probability {row['certain_share']:.2f} vs "
                         f"people's {t.loc['people', 'certain_share']:.2f}: **{certain}**")
            w.append(text + f"; fitted T = {temps[(mset, role)]:.2f}")
    lines.append("**Beyond: overconfident in words?** The slope is that of the probability conveyed in "
                 "words on the Bayesian probability across states: above people's, the model's words swing "
                 "further with the evidence than people's; below, they barely follow it. Saying *certainly* "
                 "more often than people, when no state makes the colour certain, is overconfidence in "
                 "words. T > 1: people's choices are fitted better by a flatter version of the model's "
                 "distribution (the model is too sure of its words, or sure of the wrong ones); T < 1: by "
                 "a sharper one (T is searched in 0.05..20). " + "; ".join(w) + ".")
    lines.append("These verdicts are about the pair that ran; where its two models differ in family or size "
                 "(as the embedded-families pair does), a difference is not RL's alone.")
    return "\n\n".join(lines)
