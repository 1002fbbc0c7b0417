"""The collapse chapter's inputs and outputs, per setting.

- summaries, offline (`tldr_source='instructgpt'`): the 100 TL;DR posts of InstructGPT's
  automatic evaluation and the summaries GPT-3 (base), its SFT model and a PPO policy wrote for
  them. These PPO policies were trained on API prompts, which are not published: the posts have no
  training pool to be compared with, so their parts are split by typicality within the posts
  themselves (leave-one-out) and the input-match step needs the hub path.
- summaries, hub (`tldr_source='hub'`): CarperAI's TL;DR train posts as the training pool, its
  test posts as candidates, summarised now by GPT-J, CarperAI's SFT and PPO models.
- dialogues: the book's own pair. Training pool: the HH-RLHF pairs its SFT and DPO stages were
  trained on (the committed adapters' record; the RL stage's prompts are a seeded draw from the
  same training half); candidates: held-out HH-RLHF prompts that pass the same length budget, and
  prompts of other instruction sets (AlpacaEval, PandaLM, LLMBar, Auto-J) up to MAX_PROMPT_CHARS;
  the base, SFT, DPO and RL stages answer in the chat template (format fixed across roles),
  sampled with the run's seed."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rlshift import prompts
from rlshift.cache import ScoreCache
from rlshift.data import preferences, summaries
from rlshift.engine import GenerationSettings, Scorer
from rlshift.requests import Text
from rlshift.studies import common
from rlshift.studies.tuned_pair import judging
from rlshift.studies.tuned_pair.inputs import base_tokenizer
from rlshift.training import policy

TEMPLATE = "collapse-v1"
MAX_PROMPT_CHARS = 1000  # other sets' prompts longer than this are left out (generation cost on a CPU)
TLDR_CUE = "\nTL;DR:"


@dataclass
class Corpus:
    """One setting's inputs: the training pool (empty where unpublished) and the test candidates
    (item_id, prompt: what the model reads, text: what the footprint reads, source; reference
    where there is one), with their provenance."""

    setting: str
    train: pd.DataFrame
    candidates: pd.DataFrame
    provenance: list[dict]

    @property
    def self_reference(self) -> bool:
        return self.train.empty

    def version(self) -> str:
        """The provenance each cached output and reward records: the sources' versions (the cache
        key itself is the exact text, so runs of other sizes share what they have in common)."""
        versions = [str(p.get("version") or p.get("sha256") or p.get("dataset")) for p in self.provenance]
        return hashlib.sha256("|".join(versions).encode()).hexdigest()[:16]


def _frame(ids, prompts_, texts, source, reference=None) -> pd.DataFrame:
    return pd.DataFrame({"item_id": list(ids), "prompt": list(prompts_), "text": list(texts), "source": source,
                         "reference": list(reference) if reference is not None else ""})


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame.sample(min(n, len(frame)), random_state=seed).sort_values("item_id").reset_index(drop=True)


def human_side(hh_prompt: str) -> str:
    """What the person wrote in an HH-RLHF history (their turns, joined): the footprint's input."""
    return "\n".join(m["content"] for m in prompts.dialogue_messages(hh_prompt) if m["role"] == "user")


# ------------------------------------------------------------------ summaries

def instructgpt_outputs(P: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The posts (as candidates) and the three roles' published summaries at the chosen size."""
    samples, prov = summaries.instructgpt_tldr(P["data_mirror"])
    posts = samples.drop_duplicates("post_id").sort_values("post_id")
    candidates = _frame(posts["post_id"], posts["post"] + TLDR_CUE, posts["post"], "tldr", posts["reference"])
    roles = {"base": "gpt", "sft": "sft", "tuned": P["instructgpt_tuned"]}
    if not P["include_sft"]:
        roles.pop("sft")
    picked = samples[samples["size"] == P["instructgpt_size"]]
    outputs = pd.concat([picked[picked["model"] == m].assign(role=r) for r, m in roles.items()])
    outputs = outputs.rename(columns={"post_id": "item_id", "summary": "text"})[["item_id", "role", "text", "model"]]
    outputs["model"] = outputs["model"] + "-" + P["instructgpt_size"]
    return candidates, outputs.reset_index(drop=True), prov


def summaries_corpus(P: dict) -> Corpus:
    if P["tldr_source"] == "instructgpt":
        candidates, _, prov = instructgpt_outputs(P)
        return Corpus("summaries", candidates.iloc[:0], candidates, [prov])
    train, train_prov = summaries.tldr_hub("train")
    test, test_prov = summaries.tldr_hub("test")
    frames = [_sample(_frame(f["post_id"], f["post"] + TLDR_CUE, f["post"], "tldr", f["reference"]), n, P["seed"])
              for f, n in ((train, P["n_train"]), (test, P["n_candidates"]))]
    return Corpus("summaries", frames[0], frames[1], [train_prov, test_prov])


# ------------------------------------------------------------------ dialogues

def short_id(prefix: str, key: str) -> str:
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _hh_frame(pairs, source: str) -> pd.DataFrame:
    unique = {p.group: p for p in pairs}  # one row per prompt
    return _frame([short_id("hh", g) for g in unique], [p.prompt for p in unique.values()],
                  [human_side(p.prompt) for p in unique.values()], source, [p.chosen for p in unique.values()])


def _other_set(name: str, P: dict) -> tuple[pd.DataFrame, dict]:
    if name == "alpaca_eval":
        frame, prov = summaries.alpaca_instructions(P["data_mirror"])
    else:
        half = preferences.load(name, "eval", P["data_mirror"])
        unique = {p.group: p for p in half.pairs}
        frame = pd.DataFrame({"item_id": [short_id(name, g) for g in unique], "prompt": [p.prompt for p in unique.values()]})
        prov = half.provenance
    frame = frame[frame["prompt"].str.len().between(1, MAX_PROMPT_CHARS)]
    return _sample(_frame(frame["item_id"], frame["prompt"], frame["prompt"], name), P["n_per_source"], P["seed"]), prov


def fitting_pairs(part: str, config: policy.TuneConfig, tokenizer, mirror) -> tuple[list, dict]:
    """The pairs of one HH-RLHF half whose prompt and chosen reply pass the training length budget:
    for the training half, the dialogues the SFT stage was trained on (n_sft 'all')."""
    half = preferences.load("hh_rlhf", part, mirror)
    usable = [p for p in half.pairs if policy.fits(tokenizer, p, config, stage="sft")]
    return usable, dict(half.provenance, fit=len(usable), budget=f"prompt <= {config.max_prompt_tokens} tokens, "
                        f"chosen reply <= {config.max_response_tokens}")


def dialogues_corpus(P: dict) -> Corpus:
    config = policy.recorded_config()
    tokenizer = prompts.with_chat_template(base_tokenizer())
    trained, train_prov = fitting_pairs("train", config, tokenizer, P["data_mirror"])
    heldout, eval_prov = fitting_pairs("eval", config, tokenizer, P["data_mirror"])
    train = _sample(_hh_frame(trained, "hh_rlhf (trained on)"), P["n_train"], P["seed"])
    parts = [_sample(_hh_frame(heldout, "hh_rlhf (held out)"), P["n_candidates"], P["seed"])]
    provs = [train_prov, eval_prov]
    for name in P["ood_sources"]:
        frame, prov = _other_set(name, P)
        parts.append(frame)
        provs.append(prov)
    return Corpus("dialogues", train, pd.concat(parts, ignore_index=True), provs)


def corpus(setting: str, P: dict) -> Corpus:
    return summaries_corpus(P) if setting == "summaries" else dialogues_corpus(P)


# ------------------------------------------------------------------ outputs

def _messages(row: dict) -> list[dict]:
    if row["source"].startswith("hh_rlhf"):
        return prompts.dialogue_messages(row["prompt"])
    return [{"role": "user", "content": row["prompt"]}]


def generate(corpus_: Corpus, asked: pd.DataFrame, specs: dict[str, str], P: dict, cache: ScoreCache | None
             ) -> tuple[pd.DataFrame, dict]:
    """Each role's sampled output for every asked input (item_id, role, text): dialogues in the
    chat template, summaries after the post and its 'TL;DR:' cue (raw text)."""
    rows = asked.to_dict("records")
    chat = corpus_.setting == "dialogues"
    stop = ("\n\n",) if chat else ("\n",)
    settings = GenerationSettings(max_new_tokens=P["max_new_tokens"], temperature=P["temperature"], stop=stop,
                                  seed=P["seed"])

    def score(scorer: Scorer, fmt: str):
        tok = scorer.loaded.tokenizer
        texts = [Text(r["item_id"], prompts.chat_messages(tok, _messages(r)) if fmt == "chat" else r["prompt"])
                 for r in rows]
        out = scorer.generate(texts, settings, chat=fmt == "chat", template=f"{TEMPLATE}-{corpus_.setting}",
                              data_version=corpus_.version())
        return out[["item_id", "text"]], {}

    frame, infos = common.score_roles(specs, score, quantize=P["quantize"], prompt_format="chat" if chat else "raw",
                                      batch_size=P["batch_size"], cache=cache)
    frame["text"] = frame["text"].fillna("").str.strip()
    frame["model"] = frame["role"].map(specs)
    return frame[["item_id", "role", "text", "model"]], infos


def role_specs(setting: str, P: dict) -> dict[str, str]:
    if setting == "summaries":
        specs = dict(P["tldr_models"])
        return {r: specs[r] for r in common.ROLES if r in specs and P.get(f"include_{r}", True)}
    return common.pair_specs(P, include_sft=P["include_sft"], include_dpo=P["include_dpo"])


def load_judges(P: dict) -> list[judging.Judge]:
    return [judging.load_judge(dict(P, judge=name)) for name in P["reward_models"]]


def rewards(judges: list[judging.Judge], corpus_: Corpus, outputs: pd.DataFrame, cache: ScoreCache | None
            ) -> pd.DataFrame:
    """Each reward model's score of each output (the input's prompt, the output): one row per
    (reward_model, item_id, role)."""
    prompt_of = pd.concat([corpus_.train, corpus_.candidates]).drop_duplicates("item_id").set_index("item_id")["prompt"]
    ids = [f"{r.item_id}:{r.role}" for r in outputs.itertuples()]
    items = [(i, prompt_of[r.item_id], r.text) for i, r in zip(ids, outputs.itertuples())]
    frames = []
    for judge in judges:
        got = judging.rewards(judge, items, corpus_.version(), cache, f"collapse-{corpus_.setting}")
        frames.append(outputs[["item_id", "role"]].assign(reward_model=judge.name, reward=got.loc[ids].to_numpy()))
    return pd.concat(frames, ignore_index=True)


def best_judge(judges: list[judging.Judge]) -> str:
    """The reward model with the best held-out accuracy (trained ones; else the first named)."""
    def accuracy(judge) -> float:
        table = judge.training_accuracy
        return float(table.loc[table["source"] == "all", "accuracy"].iloc[0]) if len(table) else -np.inf

    scored = [(accuracy(j), -i, j.name) for i, j in enumerate(judges)]
    return max(scored)[2]
