"""The reward-collapse chapter's inputs: the datasets (training and evaluation halves), the reward
models (loaded, or trained here), their rewards on every response through the engine, the base
model's own answers, and the annotation sheet people label them in."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rlshift import artifacts, models, paths, prompts
from rlshift.cache import ScoreCache
from rlshift.data import annotations, preferences
from rlshift.data.preferences import ANSWER_FORMATS, PrefPair
from rlshift.engine import Scorer
from rlshift.errors import InputError
from rlshift.requests import Request, RewardItem
from rlshift.studies import common
from rlshift.studies.reward_collapse.analysis import contamination as contamination_table
from rlshift.studies.common import BOOK_PREFIX
from rlshift.studies.reward_collapse.params import IMPLICIT, TRAINED_PREFIX
from rlshift.training import linear_reward, reward_model

TEMPLATE_VERSION = "rc-v1"
# What the plan's reward model was trained on (its model card), so the book can say whether an
# evaluation set was in its training data.
KNOWN_TRAINING = {
    "OpenAssistant/reward-model-deberta-v3-large-v2": (
        "webgpt_comparisons, summarize_from_feedback, synthetic-instruct-gptj-pairwise, Anthropic/hh-rlhf "
        "(its model card; this study's hh_rlhf pairs are from the harmless-base test split, which the usual "
        "recipe holds out of training: not verified for this model)"),
}

Batch = list[tuple[RewardItem, dict]]  # (what the reward model reads, the response's metadata)


# ------------------------------------------------------------------ data

@dataclass
class Prepared:
    train: list[PrefPair]
    train_sets: dict[str, preferences.PairSet]
    boolq: list[dict]  # evaluation items
    boolq_provenance: dict
    open_sets: dict[str, preferences.PairSet]
    mirror: str | None = None
    notes: list[str] = field(default_factory=list)


def prepare(P: dict) -> Prepared:
    """Load and sample every dataset first: bad names or sizes fail before any model loads.
    Training pairs come from each dataset's training half, evaluation data from its other half."""
    mirror = paths.resolve_mirror(P["data_mirror"])
    train_sets = {}
    if P["trained_utilities"] or P["reward_model"].startswith(TRAINED_PREFIX):
        for name, n in P["train_data"].items():
            train_sets[name] = preferences.sample(preferences.load(name, "train", mirror), n, P["seed"],
                                                  what=f"train_data[{name!r}]")
    train = [p for s in train_sets.values() for p in s.pairs]
    items, rows = preferences.boolq_items("eval")
    if P["n_boolq"] > len(rows):
        raise InputError(f"n_boolq={P['n_boolq']} is out of range: accepted 1..{len(rows)} (BoolQ's evaluation half).")
    order = np.random.default_rng(P["seed"]).permutation(len(rows))[:P["n_boolq"]]
    boolq = [rows[i] for i in sorted(order)]
    open_sets = {name: preferences.sample(preferences.load(name, "eval", mirror), P["n_open"], P["seed"],
                                          what="n_open") for name in P["open_data"]}
    prov = dict(items.provenance, split=f"evaluation half (fixed seed {preferences.SPLIT_SEED})",
                sample={"n": len(boolq), "seed": P["seed"]})
    return Prepared(train, train_sets, boolq, prov, open_sets, str(mirror) if mirror else None)


def _dataset_row(name: str, used_for: str, kind: str, n: int, provenance: dict, version: str) -> dict:
    return {"dataset": name, "used for": used_for, "kind": kind, "pairs": n, "source": provenance["origin"],
            "version": version, "license": provenance["license"], "hub": provenance["hub"]}


def data_table(prep: Prepared) -> pd.DataFrame:
    """Every dataset the run uses: role, size, where it came from, its version and license."""
    b = prep.boolq_provenance
    return pd.DataFrame(
        [_dataset_row(name, "training (training half)", s.provenance["kind"], len(s.pairs), s.provenance, s.version)
         for name, s in prep.train_sets.items()]
        + [_dataset_row("boolq", "evaluation (evaluation half)", "closed", len(prep.boolq), b, b["version"])]
        + [_dataset_row(name, "evaluation (evaluation half)", _kinds(s), len(s.pairs), s.provenance, s.version)
           for name, s in prep.open_sets.items()])


def _kinds(pair_set: preferences.PairSet) -> str:
    """The task types of a set's pairs, with counts where it mixes them (hhh_alignment)."""
    counts = pd.Series([p.kind for p in pair_set.pairs]).value_counts()
    return counts.index[0] if len(counts) == 1 else ", ".join(f"{k} ({n})" for k, n in counts.items())


# ------------------------------------------------------------------ reward models

@dataclass
class RewardModelEntry:
    name: str
    loaded: models.LoadedModel
    utility: str  # standard | prompt_aware | external
    reward_scale: str  # logit | sigmoid
    trained: reward_model.TrainedRewardModel | None = None
    max_length: int = 1024
    input_form: str = "pair"  # how it reads (prompt, response): engine.rewards.INPUT_FORMS
    reference: models.LoadedModel | None = None  # implicit reward: the DPO stage's reference (SFT)
    beta: float = 0.0
    trained_on: str = ""

    def training_data(self) -> str:
        if self.trained_on:
            return self.trained_on
        if self.trained is not None:
            return ", ".join(f"{k} ({v} pairs)" for k, v in self.trained.record["train_pairs"].items())
        return KNOWN_TRAINING.get(self.loaded.info["spec"], "not known to this book (see the model card)")


def train_config(P: dict, utility: str) -> reward_model.TrainConfig:
    return reward_model.TrainConfig(utility=utility, epochs=P["train_epochs"], lr=P["train_lr"],
                                    head_lr=min(10 * P["train_lr"], 0.5), batch_size=P["train_batch_size"],
                                    max_length=P["max_length"], seed=P["seed"])


def load_external(spec: str, P: dict) -> RewardModelEntry:
    """A hub or local reward model (fails fast, naming the hub, where the hub is unreachable)."""
    loaded = models.load_reward_model(spec, quantize=P["quantize"])
    limit = getattr(loaded.tokenizer, "model_max_length", 1024) or 1024
    form = common.HUB_REWARD_MODELS.get(spec, "pair") if P["input_form"] == "auto" else P["input_form"]
    return RewardModelEntry(spec, loaded, "external", "logit", max_length=int(min(limit, 1024)), input_form=form)


def load_implicit(P: dict) -> RewardModelEntry:
    """The pair's DPO stage as a reward model: r(x, y) = beta * (log pi_dpo(y | x) - log pi_sft(y | x)),
    the reward DPO fits with the Bradley-Terry (standard) utility, read in the chat format it was
    trained in. Needs a pair whose stages were trained in the book (their record holds beta)."""
    pair = models.pair(P["model_pair"])
    stage = (pair.dpo or "").removeprefix("embedded:")
    if not pair.sft or not stage or not (artifacts.ADAPTER_DIR / stage / "record.json").exists():
        raise InputError(f"implicit_reward=True needs a pair whose SFT and DPO stages were trained in the book "
                         f"(model_pair='embedded'); {P['model_pair']!r} has no such record. "
                         f"Accepted: implicit_reward=False for this pair.")
    record = artifacts.training_record(stage)
    policy, reference = (models.load(spec, quantize=P["quantize"]) for spec in (pair.dpo, pair.sft))
    data = record["data"]
    return RewardModelEntry(IMPLICIT, policy, "standard", "logit", reference=reference,
                            beta=float(record["config"]["beta"]),
                            trained_on=f"{data['dataset']} training half ({data['n']} DPO pairs; "
                                       f"beta = {record['config']['beta']})")


def load_committed(spec: str, P: dict) -> RewardModelEntry:
    """A reward model committed with the book (training.linear_reward), fitted on every preference
    set's training half: this chapter's evaluation halves are held out from it."""
    trained = reward_model.load_trained(linear_reward.build(spec[len(BOOK_PREFIX):]))
    loaded = models.load_reward_model(str(trained.path), quantize=P["quantize"])
    counts = ", ".join(f"{k} ({v} pairs)" for k, v in trained.record["train_pairs"].items())
    return RewardModelEntry(spec, loaded, trained.utility, trained.reward_scale, input_form="pair",
                            max_length=int(trained.record["config"]["max_length"]),
                            trained_on=f"training halves: {counts}")


def committed_accuracy(entry: RewardModelEntry) -> pd.DataFrame:
    """A committed head's pairwise accuracy per evaluation half and overall, from its record."""
    return reward_model.load_trained(Path(entry.loaded.info["source"])).accuracy()


def load_external_models(names: list[str], P: dict) -> list[RewardModelEntry]:
    """Every named reward model that is not trained here (a hub or local model, a committed one,
    the DPO stage's implicit reward), loaded before any training."""
    return [load_implicit(P) if n == IMPLICIT else load_committed(n, P) if n.startswith(BOOK_PREFIX)
            else load_external(n, P) for n in names if not n.startswith(TRAINED_PREFIX)]


def train_reward_models(P: dict, prep: Prepared, progress: bool = True) -> dict[str, reward_model.TrainedRewardModel]:
    wanted = list(P["trained_utilities"])
    if P["reward_model"].startswith(TRAINED_PREFIX):
        wanted.append(P["reward_model"][len(TRAINED_PREFIX):])
    out = {}
    for utility in dict.fromkeys(wanted):
        out[utility] = reward_model.train_or_load(prep.train, train_config(P, utility), P["model_dir"],
                                                  retrain=P["retrain"], progress=progress)
    return out


def load_trained(trained: reward_model.TrainedRewardModel) -> RewardModelEntry:
    loaded = models.load_reward_model(str(trained.path), quantize="fp32")
    loaded.info["spec_label"] = trained.name
    return RewardModelEntry(trained.name, loaded, trained.utility, trained.reward_scale, trained,
                            max_length=int(trained.record["config"]["max_length"]), input_form="pair")


def reward_model_entries(external: list[RewardModelEntry], trained: dict[str, reward_model.TrainedRewardModel],
                         names: list[str]) -> list[RewardModelEntry]:
    """The loaded external models and the trained ones, in the order of `names`."""
    entries = external + [load_trained(t) for t in trained.values()]
    return sorted(entries, key=lambda e: names.index(e.name) if e.name in names else len(names))


def model_table(entries: list[RewardModelEntry]) -> pd.DataFrame:
    return pd.DataFrame([{"reward model": e.name, "utility": e.utility, "reward scale": e.reward_scale,
                          "reads": "implicit (chat)" if e.reference is not None else e.input_form,
                          "trained on": e.training_data(), "revision": e.loaded.info["revision"],
                          "parameters": e.loaded.info["n_params"], "device": e.loaded.info["device"]}
                         for e in entries])


def contamination(entries: list[RewardModelEntry], prep: Prepared) -> pd.DataFrame:
    """Which evaluation prompts (BoolQ questions, each free-form set's prompts) are in each reward
    model's training data (analysis.contamination): every pair a model trained here was fitted
    on, its held-out share included; for the implicit reward, the whole HH-RLHF training half its
    stages' pairs were drawn from; for a committed head, the pairs it was fitted on; a hub
    model's data is not checkable offline."""
    evaluation = {"boolq": [r["question"] for r in prep.boolq],
                  **{name: [p.prompt for p in s.pairs] for name, s in prep.open_sets.items()}}
    seen = {e.name: [p.prompt for p in prep.train] for e in entries if e.trained is not None}
    if any(e.name == IMPLICIT for e in entries):  # its SFT and DPO pairs were drawn from this half
        seen[IMPLICIT] = [p.prompt for p in preferences.load("hh_rlhf", "train", prep.mirror).pairs]
    for e in entries:
        if e.name.startswith(BOOK_PREFIX):
            seen[e.name] = linear_reward.training_prompts(Path(e.loaded.info["source"]), prep.mirror)
    return contamination_table(evaluation, {e.name: seen.get(e.name) for e in entries})


# ------------------------------------------------------------------ scoring

def closed_items(boolq: list[dict], formats) -> Batch:
    out = []
    for row in boolq:
        for fmt in formats:
            text = ANSWER_FORMATS[fmt]
            for outcome, value in (("correct", row["answer"]), ("incorrect", 1 - row["answer"])):
                item = RewardItem(f"{row['item_id']}:{fmt}:{outcome}", row["question"], text[value])
                out.append((item, {"task": "boolq", "task_type": "closed", "format": fmt, "group": row["item_id"],
                                   "outcome": outcome, "good": outcome == "correct",
                                   "affirmative": value == 1, "gold_yes": bool(row["answer"])}))
    return out


def open_items(pair_set: preferences.PairSet) -> Batch:
    out = []
    for p in pair_set.pairs:
        for outcome, text in (("chosen", p.chosen), ("rejected", p.rejected)):
            item = RewardItem(f"{p.pair_id}:{outcome}", p.prompt, text)
            out.append((item, {"task": pair_set.name, "task_type": p.kind, "format": "-", "group": p.pair_id,
                               "outcome": outcome, "good": outcome == "chosen", "affirmative": np.nan,
                               "gold_yes": np.nan}))
    return out


def score(entry: RewardModelEntry, batch: Batch, *, template: str, data_version: str, P: dict,
          cache: ScoreCache | None, progress: bool = True) -> pd.DataFrame:
    """Rewards of one model for a batch of (item, metadata), on the model's reward scale."""
    if entry.reference is not None:
        frame = implicit_rewards(entry, [it for it, _ in batch], template=template, data_version=data_version,
                                 cache=cache)
    else:
        scorer = Scorer(entry.loaded, cache=cache, batch_size=P["batch_size"], progress=progress)
        frame = scorer.rewards([it for it, _ in batch], input_form=entry.input_form, max_length=entry.max_length,
                               template=template, data_version=data_version)
    meta = pd.DataFrame([m for _, m in batch])
    frame = pd.concat([frame.reset_index(drop=True), meta], axis=1)
    frame["head_output"] = frame["reward"]
    if entry.reward_scale == "sigmoid":
        frame["reward"] = reward_model.to_reward(frame["head_output"].to_numpy(float), "prompt_aware")
    return frame.assign(reward_model=entry.name, utility=entry.utility, reward_scale=entry.reward_scale)


def chat_prompt(tokenizer, prompt: str) -> str:
    """A prompt as a tuned model's chat turns: an HH-RLHF history turn by turn, anything else as
    one user turn."""
    dialogue = prompt if prompt.lstrip().startswith("Human:") else f"Human: {prompt}"
    return prompts.chat_messages(tokenizer, prompts.dialogue_messages(dialogue))


def implicit_rewards(entry: RewardModelEntry, items: list[RewardItem], *, template: str, data_version: str,
                     cache: ScoreCache | None) -> pd.DataFrame:
    """beta * (log pi_dpo - log pi_sft) of every response after its prompt (chat format, the reply
    with its end of turn, as DPO scored it): the responses to one prompt are the options of one
    continuation request, so the prompt is encoded once per model (engine.lm packs them)."""
    tokenizer = prompts.with_chat_template(entry.loaded.tokenizer)
    by_prompt: dict[str, list[int]] = {}
    for k, item in enumerate(items):
        by_prompt.setdefault(item.prompt, []).append(k)
    requests = [Request(f"prompt-{g}", chat_prompt(tokenizer, prompt), tuple(prompts.reply_text(items[k].response)
                                                                         for k in ks))
                for g, (prompt, ks) in enumerate(by_prompt.items())]
    logp = {}
    for role, loaded in (("policy", entry.loaded), ("reference", entry.reference)):
        frame = Scorer(loaded, cache=cache, progress=False).continuation_logprobs(
            requests, chat=True, template=f"{template}-implicit", data_version=data_version)
        at = {r.item_id: ks for r, ks in zip(requests, by_prompt.values())}
        logp[role] = np.empty(len(items))
        for request_id, option, value in frame[["item_id", "option_index", "logprob"]].itertuples(index=False):
            logp[role][at[request_id][option]] = value
    return pd.DataFrame({"item_id": [it.item_id for it in items],
                         "reward": entry.beta * (logp["policy"] - logp["reference"]),
                         "model": entry.loaded.info["spec"] + " vs " + entry.reference.info["spec"]})


def score_all(entries: list[RewardModelEntry], prep: Prepared, P: dict, cache: ScoreCache | None,
              progress: bool = True) -> pd.DataFrame:
    """One row per reward model x response: the BoolQ answers in every format, and both
    replies of every open-ended pair."""
    frames = []
    for entry in entries:
        frames.append(score(entry, closed_items(prep.boolq, P["answer_formats"]),
                            template=f"boolq-{TEMPLATE_VERSION}", data_version=prep.boolq_provenance["version"],
                            P=P, cache=cache, progress=progress))
        for name, s in prep.open_sets.items():
            frames.append(score(entry, open_items(s), template=f"{name}-{TEMPLATE_VERSION}",
                                data_version=s.version, P=P, cache=cache, progress=progress))
    return pd.concat(frames, ignore_index=True)


def training_items(trained: reward_model.TrainedRewardModel, prep: Prepared) -> Batch:
    """The pairs a trained model was fitted on (its held-out share excluded): where Song et
    al.'s analysis, which is about the optimum of the training objective, speaks."""
    held = set(trained.heldout["pair_id"])
    out = []
    for p in prep.train:
        if p.pair_id in held:
            continue
        closed = p.kind == "closed"
        for good, text in ((True, p.chosen), (False, p.rejected)):
            outcome = ("correct" if good else "incorrect") if closed else ("chosen" if good else "rejected")
            out.append((RewardItem(f"{p.pair_id}:{'chosen' if good else 'rejected'}", p.prompt, text),
                        {"task": p.source, "task_type": p.kind, "format": "training", "group": p.pair_id,
                         "outcome": outcome, "good": good, "affirmative": np.nan, "gold_yes": np.nan}))
    return out


def score_training(entries: list[RewardModelEntry], prep: Prepared, P: dict, cache: ScoreCache | None,
                   progress: bool = True) -> pd.DataFrame:
    """Rewards of each trained model on its own training pairs (BoolQ's answer formats mixed)."""
    frames = []
    for entry in entries:
        if entry.trained is None:
            continue
        frames.append(score(entry, training_items(entry.trained, prep), template=f"train-{TEMPLATE_VERSION}",
                            data_version=entry.trained.record["data_version"], P=P, cache=cache, progress=progress))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
