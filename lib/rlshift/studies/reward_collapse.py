"""Reward collapse (Song et al. 2023; plan section 4.3): are reward distributions polarised on
closed-ended prompts and continuous on open-ended ones, or the same shape everywhere?

The study as data and functions; the notebook tells the story. Reward models: one named by the
`reward_model` parameter (trained in the book, a hub id such as
OpenAssistant/reward-model-deberta-v3-large-v2, or a local folder) and the models trained in the
book with each utility in `trained_utilities` (rlshift.reward_training). Closed-ended: BoolQ
(correct vs incorrect answer, in several answer formats). Open-ended: human preference pairs
(rlshift.preferences). Then the base model's own samples, judged automatically (BoolQ) or by
people through an annotation sheet (open-ended).
"""
from __future__ import annotations

import gc
import hashlib
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rlshift import models, paths, preferences, reward_training, rewards, stats
from rlshift.cache import ScoreCache
from rlshift.errors import InputError
from rlshift.generation import GenerationSettings, generate
from rlshift.params import Param, Schema
from rlshift.preferences import ANSWER_FORMATS, PrefPair

TRAINED_PREFIX = "trained:"
TEMPLATE_VERSION = "rc-v1"
OPEN_NAMES = tuple(n for n in preferences.NAMES if preferences.kind_of(n) == "open")
ANNOTATION_LABELS = ("good", "bad")
# What the plan's reward model was trained on (its model card), so the book can say whether an
# evaluation set was in its training data.
KNOWN_TRAINING = {
    "OpenAssistant/reward-model-deberta-v3-large-v2": (
        "webgpt_comparisons, summarize_from_feedback, synthetic-instruct-gptj-pairwise, Anthropic/hh-rlhf "
        "(its model card; this study's hh_rlhf pairs are from the harmless-base test split, which the usual "
        "recipe holds out of training: not verified for this model)"),
}
DEFAULT_TRAIN_DATA = {"boolq": 56, "hhh_alignment": 40, "hh_rlhf": 56}


# ------------------------------------------------------------------ parameters

def _check_reward_model(spec) -> None:
    if spec.startswith(TRAINED_PREFIX):
        utility = spec[len(TRAINED_PREFIX):]
        if utility not in reward_training.UTILITIES:
            from rlshift.errors import unknown
            raise unknown("trained reward model", spec, [TRAINED_PREFIX + u for u in reward_training.UTILITIES])
        return
    kind, _ = models.describe_spec(spec)
    if kind == "embedded":
        raise InputError(f"parameter 'reward_model': {spec!r} is a causal language model, not a reward model. "
                         f"Accepted: {', '.join(TRAINED_PREFIX + u for u in reward_training.UTILITIES)}, a hub id "
                         f"(e.g. OpenAssistant/reward-model-deberta-v3-large-v2) or a local reward-model folder.")


def _check_train_data(table) -> None:
    if not table:
        raise InputError("parameter 'train_data' is empty: give {dataset: pairs}, e.g. {'boolq': 64, 'hh_rlhf': 64}.")
    for name, n in table.items():
        if name not in preferences.NAMES:
            from rlshift.errors import unknown
            raise unknown("dataset in 'train_data':", name, preferences.NAMES)
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise InputError(f"parameter 'train_data': {name}={n!r} is not accepted: an integer >= 2 (pairs).")



def _check_nonempty(name):
    def check(values) -> None:
        if not values:
            raise InputError(f"parameter {name!r} is empty: give at least one.")
    return check


PARAMS = Schema(
    Param("reward_model", str, "trained:standard",
          "The reward model of the main analysis: 'trained:standard' / 'trained:prompt_aware' (trained in the "
          "book), a hub id (e.g. OpenAssistant/reward-model-deberta-v3-large-v2) or a local folder.",
          check=_check_reward_model),
    Param("trained_utilities", list, list(reward_training.UTILITIES),
          "Train one reward model per utility and analyse each (the extension); [] trains none.",
          choices=reward_training.UTILITIES),
    Param("input_form", str, "pair", "How a reward model reads (prompt, response).", choices=rewards.INPUT_FORMS),
    Param("train_data", dict, DEFAULT_TRAIN_DATA,
          "Training pairs per dataset, drawn from each dataset's training half.", check=_check_train_data),
    Param("train_epochs", int, 4, "Epochs over the training pairs.", minimum=1, maximum=100),
    Param("train_lr", float, 3e-4, "Learning rate of the backbone (the head's is 10x).", minimum=1e-7, maximum=0.1),
    Param("train_batch_size", int, 8, "Preference pairs per training step.", minimum=1, maximum=512),
    Param("max_length", int, 128, "Tokens of (prompt, response) a trained reward model reads (the prompt "
          "loses its beginning first).", minimum=16, maximum=512),
    Param("retrain", bool, False, "Train again even where the cache holds a model for these settings."),
    Param("n_boolq", int, 60, "BoolQ items (from the evaluation half), each answered correctly and "
          "incorrectly in every answer format.", minimum=1),
    Param("answer_formats", list, list(ANSWER_FORMATS), "How BoolQ answers are rendered.",
          choices=tuple(ANSWER_FORMATS), check=_check_nonempty("answer_formats")),
    Param("open_data", list, ["hh_rlhf", "llmbar"], "Open-ended preference datasets (evaluation halves).",
          choices=OPEN_NAMES, check=_check_nonempty("open_data")),
    Param("n_open", int, 60, "Preference pairs per open-ended dataset.", minimum=1),
    Param("model_pair", str, "embedded", "The pair whose base model samples answers.", choices=tuple(models.PAIRS)),
    Param("base_model", str, None, "Overrides the pair's base model.", optional=True, check=models.check_spec),
    Param("n_generate_boolq", int, 10, "BoolQ items the base model answers (0 = none).", minimum=0),
    Param("n_generate_open", int, 3, "Prompts per open-ended dataset the base model answers (0 = none).", minimum=0),
    Param("max_new_tokens", int, 24, "Longest open-ended answer, in tokens (BoolQ answers: 4).",
          minimum=1, maximum=1024),
    Param("temperature", float, 0.7, "Sampling temperature (0 = greedy).", minimum=0.0, maximum=5.0),
    Param("top_p", float, 0.95, "Nucleus sampling mass.", minimum=0.01, maximum=1.0),
    Param("n_samples", int, 1, "Samples per prompt.", minimum=1, maximum=32),
    Param("seed", int, 0, "Seed for sampling items, training, generation and resampling.", minimum=0),
    Param("batch_size", int, 16, "Sequences per reward-model forward pass.", minimum=1, maximum=1024),
    Param("quantize", str, "auto", "For the base model and hub reward models: auto = nf4 4-bit on CUDA, "
          "fp32 on CPU.", choices=models.QUANTIZATIONS),
    Param("alpha", float, 0.05, "Significance level of the tests.", minimum=0.001, maximum=0.5),
    Param("data_mirror", str, None, "Folder of local dataset copies (relative: from the repo root); "
          "default RLSHIFT_DATA_MIRROR, else the hub.", optional=True),
    Param("cache_dir", str, None, "Score cache file (default: the rlshift cache).", optional=True),
    Param("model_dir", str, None, "Where trained reward models are kept (default: the rlshift cache).",
          optional=True),
    Param("annotation_sheet", str, None, "CSV for people to label the base model's open-ended answers "
          "(default: in the rlshift cache, named by the generation settings).", optional=True),
)


def reward_model_names(reward_model: str, trained_utilities) -> list[str]:
    """The main reward model first, then every trained one (each once)."""
    names = [reward_model] + [TRAINED_PREFIX + u for u in trained_utilities]
    return list(dict.fromkeys(names))


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
    mirror = preferences.resolve_mirror(P["data_mirror"])
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


def data_table(prep: Prepared) -> pd.DataFrame:
    """Every dataset the run uses: role, size, where it came from, its version and license."""
    rows = []
    for name, s in prep.train_sets.items():
        rows.append({"dataset": name, "used for": "training (training half)", "kind": s.provenance["kind"],
                     "pairs": len(s.pairs), "source": s.provenance["origin"], "version": s.version,
                     "license": s.provenance["license"], "hub": s.provenance["hub"]})
    b = prep.boolq_provenance
    rows.append({"dataset": "boolq", "used for": "evaluation (evaluation half)", "kind": "closed",
                 "pairs": len(prep.boolq), "source": b["origin"], "version": b["version"],
                 "license": b["license"], "hub": b["hub"]})
    for name, s in prep.open_sets.items():
        rows.append({"dataset": name, "used for": "evaluation (evaluation half)", "kind": "open",
                     "pairs": len(s.pairs), "source": s.provenance["origin"], "version": s.version,
                     "license": s.provenance["license"], "hub": s.provenance["hub"]})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ reward models

@dataclass
class RewardModelEntry:
    name: str
    loaded: models.LoadedModel
    utility: str  # standard | prompt_aware | external
    reward_scale: str  # logit | sigmoid
    trained: reward_training.TrainedRewardModel | None = None
    max_length: int = 1024

    def training_data(self) -> str:
        if self.trained is not None:
            return ", ".join(f"{k} ({v} pairs)" for k, v in self.trained.record["train_pairs"].items())
        return KNOWN_TRAINING.get(self.loaded.info["spec"], "not known to this book (see the model card)")


def train_config(P: dict, utility: str) -> reward_training.TrainConfig:
    return reward_training.TrainConfig(utility=utility, epochs=P["train_epochs"], lr=P["train_lr"],
                                       head_lr=min(10 * P["train_lr"], 0.5), batch_size=P["train_batch_size"],
                                       max_length=P["max_length"], seed=P["seed"])


def load_external(spec: str, P: dict) -> RewardModelEntry:
    """A hub or local reward model (fails fast, naming the hub, where the hub is unreachable)."""
    loaded = rewards.load_reward_model(spec, quantize=P["quantize"])
    limit = getattr(loaded.tokenizer, "model_max_length", 1024) or 1024
    return RewardModelEntry(spec, loaded, "external", "logit", max_length=int(min(limit, 1024)))


def train_reward_models(P: dict, prep: Prepared, progress: bool = True) -> dict[str, reward_training.TrainedRewardModel]:
    wanted = list(P["trained_utilities"])
    if P["reward_model"].startswith(TRAINED_PREFIX):
        wanted.append(P["reward_model"][len(TRAINED_PREFIX):])
    out = {}
    for utility in dict.fromkeys(wanted):
        out[utility] = reward_training.train_or_load(prep.train, train_config(P, utility), P["model_dir"],
                                                     retrain=P["retrain"], progress=progress)
    return out


def load_trained(trained: reward_training.TrainedRewardModel) -> RewardModelEntry:
    loaded = rewards.load_reward_model(str(trained.path), quantize="fp32")
    loaded.info["spec_label"] = trained.name
    return RewardModelEntry(trained.name, loaded, trained.utility, trained.reward_scale, trained,
                            max_length=int(trained.record["config"]["max_length"]))


def model_table(entries: list[RewardModelEntry]) -> pd.DataFrame:
    return pd.DataFrame([{"reward model": e.name, "utility": e.utility, "reward scale": e.reward_scale,
                          "trained on": e.training_data(), "revision": e.loaded.info["revision"],
                          "parameters": e.loaded.info["n_params"], "device": e.loaded.info["device"]}
                         for e in entries])


def training_curves(trained: dict[str, reward_training.TrainedRewardModel]) -> pd.DataFrame:
    return pd.concat([t.log.assign(reward_model=t.name) for t in trained.values()], ignore_index=True)


def heldout_table(trained: dict[str, reward_training.TrainedRewardModel]) -> pd.DataFrame:
    return pd.concat([t.accuracy().assign(reward_model=t.name) for t in trained.values()], ignore_index=True)


# ------------------------------------------------------------------ scoring

def closed_items(boolq: list[dict], formats) -> list[tuple[rewards.RewardItem, dict]]:
    out = []
    for row in boolq:
        for fmt in formats:
            text = ANSWER_FORMATS[fmt]
            for outcome, value in (("correct", row["answer"]), ("incorrect", 1 - row["answer"])):
                item = rewards.RewardItem(f"{row['item_id']}:{fmt}:{outcome}", row["question"], text[value])
                out.append((item, {"task": "boolq", "task_type": "closed", "format": fmt, "group": row["item_id"],
                                   "outcome": outcome, "good": outcome == "correct",
                                   "affirmative": value == 1, "gold_yes": bool(row["answer"])}))
    return out


def open_items(pair_set: preferences.PairSet) -> list[tuple[rewards.RewardItem, dict]]:
    out = []
    for p in pair_set.pairs:
        for outcome, text in (("chosen", p.chosen), ("rejected", p.rejected)):
            item = rewards.RewardItem(f"{p.pair_id}:{outcome}", p.prompt, text)
            out.append((item, {"task": pair_set.name, "task_type": "open", "format": "-", "group": p.pair_id,
                               "outcome": outcome, "good": outcome == "chosen", "affirmative": np.nan,
                               "gold_yes": np.nan}))
    return out


def score(entry: RewardModelEntry, batch: list[tuple[rewards.RewardItem, dict]], *, template: str,
          data_version: str, P: dict, cache: ScoreCache | None, progress: bool = True) -> pd.DataFrame:
    """Rewards of one model for a batch of (item, metadata), on the model's reward scale."""
    scorer = rewards.RewardScorer(entry.loaded, cache=cache, batch_size=P["batch_size"],
                                  input_form=P["input_form"], progress=progress, max_length=entry.max_length)
    frame = scorer.score([it for it, _ in batch], template=template, data_version=data_version)
    meta = pd.DataFrame([m for _, m in batch])
    frame = pd.concat([frame.reset_index(drop=True), meta], axis=1)
    frame["head_output"] = frame["reward"]
    if entry.reward_scale == "sigmoid":
        frame["reward"] = reward_training.to_reward(frame["head_output"].to_numpy(float), "prompt_aware")
    return frame.assign(reward_model=entry.name, utility=entry.utility, reward_scale=entry.reward_scale)


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


def training_items(trained: reward_training.TrainedRewardModel, prep: Prepared) -> list[tuple[rewards.RewardItem, dict]]:
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
            out.append((rewards.RewardItem(f"{p.pair_id}:{'chosen' if good else 'rejected'}", p.prompt, text),
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


# ------------------------------------------------------------------ distributions (pure)

def bimodality_coefficient(x) -> float:
    """Sarle's bimodality coefficient (g^2 + 1) / (k + 3 (n-1)^2 / ((n-2)(n-3))), with the
    sample skewness g and excess kurtosis k (bias-corrected); above 5/9 (0.555, a uniform
    distribution's value) suggests bimodality."""
    from scipy import stats as sps

    x = np.asarray(x, float)
    n = len(x)
    if n < 4 or np.ptp(x) == 0:
        return float("nan")
    g = sps.skew(x, bias=False)
    k = sps.kurtosis(x, fisher=True, bias=False)
    return float((g ** 2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


def dip_test(x) -> tuple[float, float]:
    """Hartigan's dip statistic and its p-value against the uniform null (the most unimodal-
    looking unimodal law, as Hartigan & Hartigan 1985 recommend; `diptest` package, table
    interpolation, so deterministic)."""
    import diptest

    x = np.asarray(x, float)
    if len(x) < 4 or np.ptp(x) == 0:
        return float("nan"), float("nan")
    dip, p = diptest.diptest(x)
    return float(dip), float(p)


def gmm_bic(x, seed: int = 0) -> dict:
    """A 1- and a 2-component Gaussian mixture fitted by maximum likelihood (scikit-learn);
    BIC of each (lower is better), and the 2-component fit's means and weights."""
    from sklearn.mixture import GaussianMixture

    x = np.asarray(x, float).reshape(-1, 1)
    if len(x) < 6 or np.ptp(x) == 0:
        return {"bic_1": np.nan, "bic_2": np.nan, "delta_bic": np.nan, "means_2": [], "weights_2": []}
    fits = {k: GaussianMixture(n_components=k, n_init=3, random_state=seed).fit(x) for k in (1, 2)}
    bic = {k: float(f.bic(x)) for k, f in fits.items()}
    order = np.argsort(fits[2].means_.ravel())
    return {"bic_1": bic[1], "bic_2": bic[2], "delta_bic": bic[1] - bic[2],
            "means_2": fits[2].means_.ravel()[order].round(4).tolist(),
            "weights_2": fits[2].weights_.ravel()[order].round(3).tolist()}


CELL = ["reward_model", "utility", "task", "task_type", "format"]


def _cells(frame: pd.DataFrame, keys=CELL):
    return frame.groupby(keys, sort=False, dropna=False)


def describe(frame: pd.DataFrame) -> pd.DataFrame:
    """Descriptive statistics of the reward distribution per reward model x task x format."""
    from scipy import stats as sps

    rows = []
    for key, part in _cells(frame):
        x = part["reward"].to_numpy(float)
        rows.append(dict(zip(CELL, key), n=len(x), mean=x.mean(), sd=x.std(ddof=1), min=x.min(),
                         q25=np.quantile(x, 0.25), median=np.median(x), q75=np.quantile(x, 0.75), max=x.max(),
                         skew=sps.skew(x, bias=False) if len(x) > 2 else np.nan,
                         excess_kurtosis=sps.kurtosis(x, bias=False) if len(x) > 3 else np.nan,
                         bimodality_coef=bimodality_coefficient(x)))
    return pd.DataFrame(rows)


def polarization(frame: pd.DataFrame, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Per reward model x task x format: Hartigan's dip test (H0: unimodal) and the 1- vs
    2-component Gaussian mixture by BIC. `polarized` = the dip test rejects unimodality;
    `bic_prefers_2` = BIC favours two components by more than 10 (Kass & Raftery's "very
    strong"). A mixture of two Gaussians also fits skewed unimodal data better than one, so the
    dip test decides and BIC is reported beside it."""
    rows = []
    for key, part in _cells(frame):
        x = part["reward"].to_numpy(float)
        dip, p = dip_test(x)
        g = gmm_bic(x, seed)
        rows.append(dict(zip(CELL, key), n=len(x), dip=dip, dip_p=p, **g,
                         bimodality_coef=bimodality_coefficient(x),
                         polarized=bool(p < alpha) if p == p else False,
                         bic_prefers_2=bool(g["delta_bic"] > 10) if g["delta_bic"] == g["delta_bic"] else False))
    return pd.DataFrame(rows)


def _paired(part: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    good = part[part["good"]].set_index("group")["reward"]
    bad = part[~part["good"]].set_index("group")["reward"]
    common = good.index.intersection(bad.index)
    return good.loc[common].to_numpy(float), bad.loc[common].to_numpy(float)


def auc(good, bad) -> float:
    """P(reward of a good response > reward of a bad one) over all good x bad combinations,
    ties counted half: the ROC AUC of reward as a score for 'good'."""
    from scipy.stats import mannwhitneyu

    good, bad = np.asarray(good, float), np.asarray(bad, float)
    if not len(good) or not len(bad):
        return float("nan")
    return float(mannwhitneyu(good, bad, alternative="two-sided").statistic / (len(good) * len(bad)))


def ground_truth(frame: pd.DataFrame, seed: int = 0, n_resamples: int = 1000) -> pd.DataFrame:
    """Do rewards match the ground truth? Per reward model x task x format: pairwise accuracy
    (the correct / preferred response of an item rewarded higher; Wilson 95% CI), AUC of reward
    for good vs bad responses across items (bootstrap 95% CI over items), the mean gap, and for
    BoolQ how often the affirmative answer (Yes / True / 1) is rewarded higher, against the
    share of items whose gold answer is affirmative (what a model that always prefers it scores)."""
    rows = []
    for key, part in _cells(frame):
        good, bad = _paired(part)
        n = len(good)
        hits = int((good > bad).sum())
        lo, hi = stats.wilson(hits, n)
        a_lo, a_hi = stats.bootstrap_ci(lambda idx: auc(good[idx], bad[idx]), n, seed, n_resamples) \
            if n >= 5 else (np.nan, np.nan)
        row = dict(zip(CELL, key), n_pairs=n, accuracy=hits / n, acc_low=lo, acc_high=hi, ties=int((good == bad).sum()),
                   auc=auc(good, bad), auc_low=a_lo, auc_high=a_hi, mean_gap=float(np.mean(good - bad)))
        if key[3] == "closed" and part["affirmative"].notna().any():
            aff = part[part["affirmative"] == True].set_index("group")["reward"]  # noqa: E712
            neg = part[part["affirmative"] == False].set_index("group")["reward"]  # noqa: E712
            common = aff.index.intersection(neg.index)
            row["prefers_affirmative"] = float((aff.loc[common] > neg.loc[common]).mean())
            row["gold_affirmative"] = float(part.drop_duplicates("group")["gold_yes"].astype(bool).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def shape_comparison(frame: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per reward model and BoolQ answer format: does the closed-ended reward distribution have
    the same shape as the open-ended one (all open-ended datasets pooled)? Two-sample
    Kolmogorov-Smirnov test on z-scores (each standardised by its own mean and sd, so only
    shape counts), and each side's dip. Reward collapse predicts the same shape."""
    from scipy import stats as sps

    rows = []
    for (model, utility), part in frame.groupby(["reward_model", "utility"], sort=False):
        opened = part[part["task_type"] == "open"]["reward"].to_numpy(float)
        if len(opened) < 4:
            continue
        z_open = (opened - opened.mean()) / opened.std(ddof=1)
        for fmt, closed in part[part["task_type"] == "closed"].groupby("format", sort=False):
            x = closed["reward"].to_numpy(float)
            if len(x) < 4 or np.ptp(x) == 0:
                continue
            z = (x - x.mean()) / x.std(ddof=1)
            ks = sps.ks_2samp(z, z_open)
            rows.append({"reward_model": model, "utility": utility, "format": fmt, "n_closed": len(x),
                         "n_open": len(opened), "dip_closed": dip_test(x)[0], "dip_closed_p": dip_test(x)[1],
                         "dip_open": dip_test(opened)[0], "dip_open_p": dip_test(opened)[1],
                         "ks_stat": float(ks.statistic), "ks_p": float(ks.pvalue),
                         "shapes_differ": bool(ks.pvalue < alpha)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ the base model's samples

_ANSWER = re.compile(r"^\W*(yes|no|true|false)\b", re.IGNORECASE)


def judge_boolq(text: str, gold_yes: bool) -> str:
    """'correct' / 'incorrect' when the answer starts with yes / no / true / false (any case),
    else 'unparsed'."""
    match = _ANSWER.match(text or "")
    if not match:
        return "unparsed"
    said_yes = match.group(1).lower() in ("yes", "true")
    return "correct" if said_yes == bool(gold_yes) else "incorrect"


def open_prompt(prompt: str) -> str:
    """Raw dialogue prompting for a base model: HH-RLHF's own 'Human: ... Assistant:' form."""
    dialogue = prompt if prompt.lstrip().startswith("Human:") else f"Human: {prompt}"
    return f"{dialogue}\n\nAssistant:"


def generation_settings(P: dict, task_type: str) -> GenerationSettings:
    if task_type == "closed":
        return GenerationSettings(max_new_tokens=4, temperature=P["temperature"], top_p=P["top_p"],
                                  n_samples=P["n_samples"], stop=("\n",), seed=P["seed"])
    return GenerationSettings(max_new_tokens=P["max_new_tokens"], temperature=P["temperature"], top_p=P["top_p"],
                              n_samples=P["n_samples"], stop=("\n\nHuman:", "\nHuman:", "Human:", "\n\n"),
                              seed=P["seed"])


def generate_samples(P: dict, prep: Prepared, cache: ScoreCache | None, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """The base model's answers to BoolQ items and open-ended prompts (raw prompting), and
    what was loaded. BoolQ answers are judged against the gold answer."""
    spec = P["base_model"] or models.pair(P["model_pair"]).base
    frames = []
    loaded = models.load(spec, quantize=P["quantize"])
    info = dict(loaded.info)
    boolq = prep.boolq[:P["n_generate_boolq"]]
    if boolq:
        settings = generation_settings(P, "closed")
        got = generate(loaded, [(r["item_id"], r["cloze_context"]) for r in boolq], settings,
                       template=f"boolq-gen-{TEMPLATE_VERSION}", data_version=prep.boolq_provenance["version"],
                       cache=cache, progress=progress)
        rows = {r["item_id"]: r for r in boolq}
        got["rm_prompt"] = got["item_id"].map(lambda i: rows[i]["question"])
        got["judgment"] = [judge_boolq(t, rows[i]["answer"]) for t, i in zip(got["text"], got["item_id"])]
        frames.append(got.assign(task="boolq", task_type="closed"))
    for name, s in prep.open_sets.items():
        pairs = s.pairs[:P["n_generate_open"]]
        if not pairs:
            continue
        got = generate(loaded, [(p.pair_id, open_prompt(p.prompt)) for p in pairs], generation_settings(P, "open"),
                       template=f"{name}-gen-{TEMPLATE_VERSION}", data_version=s.version, cache=cache,
                       progress=progress)
        prompts = {p.pair_id: p.prompt for p in pairs}
        got["rm_prompt"] = got["item_id"].map(prompts)
        got["judgment"] = "not judged"
        frames.append(got.assign(task=name, task_type="open"))
    del loaded
    gc.collect()
    if not frames:
        return pd.DataFrame(columns=["item_id", "sample", "sample_id", "task", "task_type", "text", "judgment"]), info
    out = pd.concat(frames, ignore_index=True)
    out["sample_id"] = out["item_id"] + ":s" + out["sample"].astype(str)
    return out, info


def score_samples(entries: list[RewardModelEntry], samples: pd.DataFrame, P: dict, cache: ScoreCache | None,
                  progress: bool = True) -> pd.DataFrame:
    frames = []
    if samples.empty:
        return pd.DataFrame()
    for entry in entries:
        for (task, version), part in samples.groupby(["task", "data_version"], sort=False):
            batch = [(rewards.RewardItem(r.sample_id, r.rm_prompt, r.text),
                      {"task": task, "task_type": r.task_type, "format": "generated", "group": r.sample_id,
                       "outcome": r.judgment, "good": r.judgment == "correct", "text": r.text})
                     for r in part.itertuples()]
            frames.append(score(entry, batch, template=f"{task}-sample-{TEMPLATE_VERSION}", data_version=version,
                                P=P, cache=cache, progress=progress))
    return pd.concat(frames, ignore_index=True)


def sample_summary(scored: pd.DataFrame, seed: int = 0, n_resamples: int = 1000) -> pd.DataFrame:
    """Per reward model x task: how the base model's answers were judged, the rewards of correct
    and incorrect ones, and the AUC of reward for 'judged correct' (bootstrap 95% CI), where both
    kinds exist."""
    rows = []
    for (model, task, task_type), part in scored.groupby(["reward_model", "task", "task_type"], sort=False):
        row = {"reward_model": model, "task": task, "task_type": task_type, "n": len(part),
               "mean_reward": part["reward"].mean()}
        if task_type == "closed":
            counts = part["outcome"].value_counts()
            good = part[part["outcome"] == "correct"]["reward"].to_numpy(float)
            bad = part[part["outcome"] == "incorrect"]["reward"].to_numpy(float)
            parsed = len(good) + len(bad)
            row.update(correct=int(counts.get("correct", 0)), incorrect=int(counts.get("incorrect", 0)),
                       unparsed=int(counts.get("unparsed", 0)),
                       base_accuracy=len(good) / parsed if parsed else np.nan,
                       reward_correct=good.mean() if len(good) else np.nan,
                       reward_incorrect=bad.mean() if len(bad) else np.nan)
            row.update(_auc_ci(good, bad, seed, n_resamples))
        rows.append(row)
    return pd.DataFrame(rows)


def _auc_ci(good, bad, seed, n_resamples) -> dict:
    """AUC with a stratified bootstrap CI (good and bad resampled separately) and the
    Mann-Whitney test of AUC = 0.5 (exact where the samples are small and untied). With few
    answers the bootstrap interval degenerates (all resamples separate perfectly): the test's
    p-value is the one to read there."""
    from scipy.stats import mannwhitneyu

    if len(good) < 2 or len(bad) < 2:
        return {"auc": np.nan, "auc_low": np.nan, "auc_high": np.nan, "auc_p": np.nan}
    rng = np.random.default_rng(seed)
    boot = [auc(rng.choice(good, len(good)), rng.choice(bad, len(bad))) for _ in range(n_resamples)]
    lo, hi = np.quantile(boot, [0.025, 0.975])
    p = float(mannwhitneyu(good, bad, alternative="two-sided").pvalue)
    return {"auc": auc(good, bad), "auc_low": float(lo), "auc_high": float(hi), "auc_p": p}


def annotation_path(P: dict, base_info: dict) -> str:
    if P["annotation_sheet"]:
        return P["annotation_sheet"]
    key = hashlib.sha256(repr((base_info.get("spec"), base_info.get("revision"), P["max_new_tokens"],
                               P["temperature"], P["top_p"], P["n_samples"], P["seed"],
                               tuple(P["open_data"]))).encode()).hexdigest()[:10]
    return str(paths.cache_dir() / "annotations" / f"reward_collapse_open_{key}.csv")


def annotation_frame(samples: pd.DataFrame) -> pd.DataFrame:
    """The base model's open-ended answers as rows of an annotation sheet."""
    if samples.empty:
        return pd.DataFrame(columns=["item_id", "prompt", "response"])
    opened = samples[samples["task_type"] == "open"]
    return pd.DataFrame({"item_id": opened["sample_id"], "prompt": opened["rm_prompt"],
                         "response": opened["text"]}).reset_index(drop=True)


def annotation_agreement(scored: pd.DataFrame, sheet: pd.DataFrame, seed: int = 0,
                         n_resamples: int = 1000) -> pd.DataFrame:
    """Per reward model: how many open-ended answers people labelled, mean reward of 'good' and
    'bad' ones, and the AUC of reward for 'good' (bootstrap 95% CI) where both labels occur
    at least twice."""
    if scored.empty:
        return pd.DataFrame()
    opened = scored[scored["task_type"] == "open"]
    labels = sheet.set_index("item_id")["label"] if len(sheet) else pd.Series(dtype=str)
    rows = []
    for model, part in opened.groupby("reward_model", sort=False):
        lab = part["group"].map(labels)
        good = part[lab == "good"]["reward"].to_numpy(float)
        bad = part[lab == "bad"]["reward"].to_numpy(float)
        row = {"reward_model": model, "answers": len(part), "annotated": int(lab.notna().sum()),
               "good": len(good), "bad": len(bad), "reward_good": good.mean() if len(good) else np.nan,
               "reward_bad": bad.mean() if len(bad) else np.nan}
        row.update(_auc_ci(good, bad, seed, n_resamples))
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ figures

def _panel(frame: pd.DataFrame) -> pd.Series:
    return np.where(frame["task_type"] == "closed", frame["task"] + " · " + frame["format"].astype(str), frame["task"])


def plot_training(curves: pd.DataFrame):
    """One panel per reward model: training loss per step (faint) and its running mean, and the
    held-out loss per epoch (the utilities differ, so do the loss scales); a last panel with the
    held-out pairwise accuracy per epoch."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(curves["reward_model"]))
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(3.6 * (len(names) + 1), 3.2), squeeze=False)
    ax_acc = axes[0, -1]
    for k, model in enumerate(names):
        part = curves[curves["reward_model"] == model]
        colour, ax = f"C{k}", axes[0, k]
        train = part[part["split"] == "train"]
        held = part[part["split"] == "held-out"]
        ax.plot(train["epoch"], train["loss"], color=colour, alpha=0.25, lw=0.8)
        ax.plot(train["epoch"], train["loss"].rolling(8, min_periods=1).mean(), color=colour, lw=1.5,
                label="training (running mean of 8 steps)")
        ax.plot(held["epoch"], held["loss"], "o--", color="black", ms=4, label="held-out")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss = -utility")
        ax.legend(fontsize=7)
        ax_acc.plot(held["epoch"], held["accuracy"], "o-", color=colour, label=model)
    ax_acc.axhline(0.5, ls=":", c="grey")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("held-out pairwise accuracy")
    ax_acc.set_ylim(0, 1)
    ax_acc.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_distributions(frame: pd.DataFrame, hue: str = "outcome", title: str = ""):
    """Histograms of rewards: one row per reward model, one column per task (and BoolQ answer
    format), coloured by outcome (correct / incorrect, chosen / rejected)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = frame.assign(panel=_panel(frame))
    panels = list(dict.fromkeys(data["panel"]))
    models_ = list(dict.fromkeys(data["reward_model"]))
    hues = list(dict.fromkeys(data[hue]))
    palette = {h: c for h, c in zip(hues, sns.color_palette("colorblind", len(hues)))}
    fig, axes = plt.subplots(len(models_), len(panels), figsize=(2.6 * len(panels) + 0.5, 2.2 * len(models_) + 0.6),
                             squeeze=False)
    for i, model in enumerate(models_):
        for j, panel in enumerate(panels):
            ax = axes[i, j]
            part = data[(data["reward_model"] == model) & (data["panel"] == panel)]
            if len(part):
                bins = np.histogram_bin_edges(part["reward"], bins="auto")
                for h, sub in part.groupby(hue, sort=False):
                    ax.hist(sub["reward"], bins=bins, alpha=0.55, color=palette[h], label=str(h))
            if i == 0:
                ax.set_title(panel, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{model}\ncount", fontsize=8)
            ax.tick_params(labelsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[h], alpha=0.55) for h in hues]
    fig.legend(handles, hues, loc="upper right", fontsize=8, ncol=len(hues))
    fig.supxlabel("reward", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def plot_ground_truth(table: pd.DataFrame):
    """Pairwise accuracy (Wilson 95% interval) per task and answer format, one colour per
    reward model; the dotted line is chance."""
    import matplotlib.pyplot as plt

    data = table.assign(panel=_panel(table))
    panels = list(dict.fromkeys(data["panel"]))
    models_ = list(dict.fromkeys(data["reward_model"]))
    fig, ax = plt.subplots(figsize=(6.5, 0.42 * len(panels) + 1.3))
    for k, model in enumerate(models_):
        part = data[data["reward_model"] == model].set_index("panel").reindex(panels)
        y = np.arange(len(panels)) + (k - (len(models_) - 1) / 2) * 0.22
        ax.errorbar(part["accuracy"], y, xerr=[part["accuracy"] - part["acc_low"], part["acc_high"] - part["accuracy"]],
                    fmt="o", capsize=2, color=f"C{k}", label=model)
    ax.axvline(0.5, ls=":", c="grey")
    ax.set_yticks(range(len(panels)), panels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("pairwise accuracy (correct / preferred rewarded higher)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ verdicts

def _fmt_p(p: float) -> str:
    """'p = 0.123', 'p < 0.001' or 'p n/a'."""
    return "p n/a" if p != p else ("p < 0.001" if p < 0.001 else f"p = {p:.3f}")


def verdicts(polar: pd.DataFrame, truth: pd.DataFrame, shapes: pd.DataFrame, samples: pd.DataFrame,
             annotated: pd.DataFrame, alpha: float = 0.05, training: pd.DataFrame | None = None,
             training_truth: pd.DataFrame | None = None) -> str:
    """The hypotheses' verdicts, in words computed from the tables (markdown)."""
    lines = []
    standard = polar[polar["utility"].isin(["standard", "external"])]
    h1 = ["**H1 (reward collapse: with the standard utility, rewards are unimodal on closed- and "
          "open-ended prompts alike).** "]
    for model, part in standard.groupby("reward_model", sort=False):
        closed, opened = part[part["task_type"] == "closed"], part[part["task_type"] == "open"]
        pol_c = closed[closed["polarized"]]
        pol_o = opened[opened["polarized"]]
        desc = (f"`{model}`: the dip test rejects unimodality on {len(pol_c)} of {len(closed)} closed-ended "
                f"(BoolQ) cells{' (' + ', '.join(pol_c['format']) + ')' if len(pol_c) else ''} and on {len(pol_o)} "
                f"of {len(opened)} open-ended ones{' (' + ', '.join(pol_o['task']) + ')' if len(pol_o) else ''}; "
                f"BIC prefers two Gaussian components on {int(closed['bic_prefers_2'].sum())} closed and "
                f"{int(opened['bic_prefers_2'].sum())} open cells. ")
        same = shapes[shapes["reward_model"] == model] if len(shapes) else shapes
        if len(same):
            desc += (f"The closed- and open-ended shapes differ (KS on z-scores) in {int(same['shapes_differ'].sum())} "
                     f"of {len(same)} answer formats. ")
        if not len(pol_c) and not len(pol_o):
            desc += "Supported on this run: no distribution is detectably polarised (with n per cell as in the table, the test's power is limited)."
        chance = truth[(truth["reward_model"] == model) & (truth["acc_low"] <= 0.5) & (truth["acc_high"] >= 0.5)]
        if len(chance):
            desc += (f" On {len(chance)} of {len(truth[truth['reward_model'] == model])} cells its pairwise accuracy is "
                     f"indistinguishable from chance: there the shape shows how its rewards vary across prompts, not "
                     f"a judgement of the answers.")
        elif len(pol_c) and not len(pol_o):
            desc += "Not supported on this run: closed-ended rewards are polarised where open-ended ones are not."
        else:
            desc += "Not supported as stated: rewards are multimodal on open-ended prompts too."
        h1.append(desc)
    if standard.empty:
        h1.append("Not testable on this run: no reward model trained with the standard utility was analysed.")
    lines.append(" ".join(h1))

    h2 = ["**H2 (rewards match the ground truth: correct and preferred responses get higher rewards).** "]
    for model, part in truth.groupby("reward_model", sort=False):
        above = part[part["acc_low"] > 0.5]
        below = part[part["acc_high"] < 0.5]
        cells = [f"{r.task}{'·' + r.format if r.task_type == 'closed' else ''} {r.accuracy:.2f} "
                 f"[{r.acc_low:.2f}, {r.acc_high:.2f}]" for r in part.itertuples()]
        h2.append(f"`{model}`: pairwise accuracy above chance on {len(above)} of {len(part)} cells, below chance on "
                  f"{len(below)} ({'; '.join(cells)}). ")
        closed = part[part["task_type"] == "closed"]
        if len(closed) and "prefers_affirmative" in closed:
            h2.append(f"On BoolQ it rewards the affirmative answer higher on {closed['prefers_affirmative'].mean():.0%} "
                      f"of items (gold answer affirmative: {closed['gold_affirmative'].mean():.0%}). ")
    lines.append("".join(h2))

    h3 = ["**H3 (Song et al.'s remedy: with the prompt-aware utility, closed-ended rewards are polarised "
          "while open-ended ones stay continuous, so the two shapes differ).** "]
    aware = shapes[shapes["utility"] == "prompt_aware"]
    if aware.empty:
        h3.append("Not testable on this run: no prompt-aware reward model was trained.")
    else:
        for model, part in aware.groupby("reward_model", sort=False):
            polarised = part[part["dip_closed_p"] < alpha]
            open_uni = bool((part["dip_open_p"] >= alpha).all())
            differ = part[part["shapes_differ"]]
            h3.append(f"`{model}`: closed-ended rewards polarised (dip test) in {len(polarised)} of {len(part)} answer "
                      f"formats; open-ended rewards {'unimodal' if open_uni else 'multimodal'} "
                      f"(dip {_fmt_p(part['dip_open_p'].iloc[0])}); shapes differ (KS on z-scores) in "
                      f"{len(differ)} of {len(part)}. ")
            supported = len(polarised) > len(part) / 2 and open_uni and len(differ) > len(part) / 2
            h3.append("Supported on this run. " if supported else "Not supported on this run. ")
        base = shapes[shapes["utility"] != "prompt_aware"]
        for model, part in base.groupby("reward_model", sort=False):
            h3.append(f"For comparison, `{model}`: shapes differ in {int(part['shapes_differ'].sum())} of {len(part)} "
                      f"formats, closed-ended polarised in {int((part['dip_closed_p'] < alpha).sum())}. ")
    lines.append("".join(h3))

    if training is not None and len(training):
        tv = ["**On the training prompts** (the optimum Song et al. analyse): "]
        for model, part in training.groupby("reward_model", sort=False):
            cells = [f"{r.task} ({r.task_type}) {'polarised' if r.polarized else 'unimodal'}, dip {_fmt_p(r.dip_p)}"
                     for r in part.itertuples()]
            tv.append(f"`{model}`: {'; '.join(cells)}. ")
        if training_truth is not None and len(training_truth):
            fits = [f"`{r.reward_model}` {r.task} {r.accuracy:.2f}" for r in training_truth.itertuples()]
            tv.append(f"How well each model fits its training pairs (pairwise accuracy): {', '.join(fits)}; where a "
                      f"model does not fit a dataset, it is not in the regime the theory describes.")
        lines.append("".join(tv))

    h4 = ["**H4 (the base model's own answers: rewards separate its correct from its incorrect BoolQ "
          "answers, and agree with people's labels of its open-ended answers).** "]
    closed = samples[samples["task_type"] == "closed"] if len(samples) else samples
    if closed is None or not len(closed):
        h4.append("Not testable on this run: the base model answered no BoolQ items.")
    else:
        for r in closed.itertuples():
            if r.auc != r.auc:
                h4.append(f"`{r.reward_model}`: not testable ({int(r.correct)} correct, {int(r.incorrect)} incorrect, "
                          f"{int(r.unparsed)} unparsed answers; both kinds are needed at least twice). ")
            else:
                significant = r.auc_p < alpha
                verdict = ("separates them" if significant and r.auc > 0.5 else "ranks them the wrong way"
                           if significant and r.auc < 0.5 else "does not detectably separate them")
                h4.append(f"`{r.reward_model}`: AUC {r.auc:.2f} [{r.auc_low:.2f}, {r.auc_high:.2f}] over "
                          f"{int(r.correct)} correct and {int(r.incorrect)} incorrect answers (Mann-Whitney "
                          f"{_fmt_p(r.auc_p)}): it {verdict}. ")
                bias = truth[(truth["reward_model"] == r.reward_model) & (truth["task_type"] == "closed")]
                if len(bias) and "prefers_affirmative" in bias and abs(bias["prefers_affirmative"].mean() - 0.5) > 0.15:
                    h4.append(f"Its BoolQ rewards favour the affirmative answer on {bias['prefers_affirmative'].mean():.0%} "
                              f"of items, so a separation may follow the answer's polarity rather than its "
                              f"correctness. ")
    if annotated is None or not len(annotated) or int(annotated["annotated"].max()) == 0:
        h4.append("No open-ended answer is annotated yet: fill in the exported sheet and run again.")
    else:
        for r in annotated.itertuples():
            h4.append(f"`{r.reward_model}` on {r.annotated} annotated answers: "
                      + (f"AUC {r.auc:.2f} [{r.auc_low:.2f}, {r.auc_high:.2f}], Mann-Whitney {_fmt_p(r.auc_p)}. "
                         if r.auc == r.auc else "too few of each label for an AUC. "))
    lines.append("".join(h4))
    lines.append("No correction for multiple tests; each cell's n is in the tables above. The verdicts are "
                 "about these reward models on these samples.")
    return "\n\n".join(lines)
