"""What every study shares: the roles of a model pair, the parameters every study spells the
same way, and the per-role loop that loads each model of a pair and scores it."""
from __future__ import annotations

import gc
from typing import Callable

import pandas as pd

from rlshift import models, paths, prompts
from rlshift.cache import ScoreCache, check_folder
from rlshift.engine import Scorer
from rlshift.errors import InputError, unknown
from rlshift.params import Param
from rlshift.training import linear_reward
from rlshift.training.reward_model import UTILITIES

ROLES = ("base", "sft", "dpo", "tuned")  # a pair's stages in training order (ModelPair.stages)
TRAINED_PREFIX = "trained:"  # a reward model the reward-collapse chapter trains: trained:<utility>
BOOK_PREFIX = "book:"  # a reward model committed with the book (training.linear_reward): book:<name>
HUB_REWARD_MODEL = "OpenAssistant/reward-model-deberta-v3-large-v2"
# Public reward models a study can name instead (the hub: not reachable here), with how each
# reads (prompt, response): a text pair (DeBERTa cross-encoder) or its chat template.
HUB_REWARD_MODELS = {
    HUB_REWARD_MODEL: "pair",  # the plan's; OpenAssistant data + HH-RLHF, WebGPT, summarize-from-feedback
    "weqweasdas/RM-Gemma-2B": "chat",  # Gemma-2B-it, 250k pairs (HH-RLHF, SHP, UltraFeedback, ...)
    "Ray2333/GRM-Gemma2-2B-rewardmodel-ft": "chat",  # Gemma-2-2B, Skywork preferences v0.2
    "Skywork/Skywork-Reward-Llama-3.1-8B-v0.2": "chat",  # Llama-3.1-8B, Skywork preferences v0.2 (a GPU)
}  # a pair's base model, its SFT stage (where it has one), its tuned model


def _check_batch_size(value) -> None:
    if value != "auto" and (isinstance(value, (str, bool)) or not 1 <= value <= 4096):
        raise InputError(f"parameter 'batch_size' must be an integer in 1..4096 or 'auto', got {value!r}.")


def pair_params(tuned: bool = True) -> tuple[Param, ...]:
    """The pair, and overrides of its models (the tuned one only where the study runs it)."""
    out = (Param("model_pair", str, "embedded", "A named base/tuned pair (rlshift.models.PAIRS).",
                 choices=tuple(models.PAIRS)),
           Param("base_model", str, None, "Overrides the pair's base: hub id, folder or embedded:<name>.",
                 optional=True, check=models.check_spec))
    if tuned:
        out += (Param("tuned_model", str, None, "Overrides the pair's tuned model.", optional=True,
                      check=models.check_spec),)
    return out


def check_reward_model(parameter: str, spec: str, also: tuple[str, ...] = ()) -> None:
    """A reward-model spec as the studies spell it: trained:<utility>, book:<committed head>, a
    hub id or a folder (never a causal LM), or one of `also` (e.g. 'none')."""
    if spec in also:
        return
    if spec.startswith(TRAINED_PREFIX):
        if spec[len(TRAINED_PREFIX):] not in UTILITIES:
            raise unknown("trained reward model", spec, [TRAINED_PREFIX + u for u in UTILITIES])
        return
    if spec.startswith(BOOK_PREFIX):
        if spec[len(BOOK_PREFIX):] not in linear_reward.committed():
            raise unknown("committed reward model", spec, [BOOK_PREFIX + n for n in linear_reward.committed()])
        return
    if models.describe_spec(spec)[0] == "embedded":
        accepted = ([TRAINED_PREFIX + u for u in UTILITIES] + [BOOK_PREFIX + n for n in linear_reward.committed()]
                    + [f"a hub id (e.g. {HUB_REWARD_MODEL})", "a local reward-model folder"] + [repr(a) for a in also])
        raise InputError(f"parameter {parameter!r}: {spec!r} is a causal language model, not a reward model. "
                         f"Accepted: {', '.join(accepted)}.")


def check_reward_models(value, required: bool = False, parameter: str = "reward_models") -> None:
    """A list of reward-model specs, each as check_reward_model takes it; required: at least one."""
    if required and not value:
        raise InputError(f"parameter {parameter!r} = []: the chapter needs at least one reward model. Accepted: "
                         "'trained:<utility>', 'book:<name>', hub ids or folders.")
    for spec in value:
        if not isinstance(spec, str):
            raise InputError(f"parameter {parameter!r}: {spec!r} is not a string. Accepted: a list of "
                             f"reward-model specs.")
        check_reward_model(parameter, spec)


def reward_model_params(default: list[str], help: str, required: bool = False) -> tuple[Param, Param, Param]:
    """The reward models a study scores with, the overrides of the reward-collapse chapter's training
    settings for the trained ones, and the folder they are kept in."""
    return (Param("reward_models", list, default, help, check=lambda v: check_reward_models(v, required)),
            Param("judge_settings", dict, {}, "Overrides of the reward-collapse chapter's training settings for "
                  "trained reward models (train_data, train_epochs, max_length, ...)."),
            Param("model_dir", str, None, "Folder where trained reward models are kept (default: the rlshift cache).",
                  optional=True, check=lambda v: paths.check_folder_to_make(v, "model_dir")))


def seed(help: str = "Seed for sampling, few-shot draws, splits and resampling.") -> Param:
    return Param("seed", int, 0, help, minimum=0)


def quantize(default: str = "auto") -> Param:
    return Param("quantize", str, default, "auto = nf4 4-bit on CUDA, fp32 on CPU.", choices=models.QUANTIZATIONS)


def prompt_format(default: str = "auto") -> Param:
    return Param("prompt_format", str, default, "both = every model in raw text and in the chat template (the "
                 "base through the tuned model's; a 2x2 of format x tuning); auto = raw for base, chat for "
                 "tuned (format and tuning confounded); raw; chat.", choices=prompts.FORMATS)


def batch_size(default: int | str = "auto") -> Param:
    return Param("batch_size", (int, str), default, "Sequences per forward pass, or 'auto' (largest that "
                 "fits on CUDA; on CPU 8 to 64 rows, about 384 tokens a batch).", check=_check_batch_size)


def cache_dir() -> Param:
    return Param("cache_dir", str, None, "Score cache folder, holding only the score cache (created if missing; "
                 "default: the rlshift cache's scores/).", optional=True, check=check_folder)


def data_mirror(help: str = "Folder of local dataset copies (relative: from the repo root); default "
                "RLSHIFT_DATA_MIRROR, else the hub.") -> Param:
    return Param("data_mirror", str, None, help, optional=True, check=paths.resolve_mirror)


def open_cache(P: dict) -> ScoreCache:
    return ScoreCache(P["cache_dir"]) if P["cache_dir"] else ScoreCache()


def pair_specs(P: dict, include_sft: bool = False, include_dpo: bool = False) -> dict[str, str]:
    """The models a study runs, by role: the pair's base and tuned model (or their overrides), and,
    where the pair has them and nothing was overridden, its SFT stage (include_sft: base -> SFT ->
    tuned) and its DPO stage (include_dpo: offline preference optimisation beside the tuned model)."""
    p = models.pair(P["model_pair"])
    specs = {"base": P.get("base_model") or p.base}
    as_catalogued = not P.get("base_model") and not P.get("tuned_model")
    if include_sft and p.sft and as_catalogued:
        specs["sft"] = p.sft
    if include_dpo and p.dpo and as_catalogued:
        specs["dpo"] = p.dpo
    specs["tuned"] = P.get("tuned_model") or p.tuned
    return specs


def stage_params(verb: str = "score") -> tuple[Param, Param]:
    """The pair's optional stages beside base and tuned, each read where the pair has it."""
    return (Param("include_sft", bool, True, f"Also {verb} the pair's SFT stage (base -> SFT -> tuned), "
                  "where it has one."),
            Param("include_dpo", bool, True, f"Also {verb} the pair's DPO stage beside the tuned model (the embedded "
                  "pair: DPO and on-policy RL from one SFT model), where it has one."))


def _borrow_chat_template(tokenizer, role: str, specs: dict[str, str], prompt_format: str) -> str | None:
    """A base model read in the chat format reads the pair's tuned template (the one its tuned
    stages learned); returns the spec it came from, or None where nothing was borrowed."""
    if prompt_format not in ("both", "chat") or getattr(tokenizer, "chat_template", None):
        return None
    for other in sorted(specs, key=lambda r: r != "tuned"):  # the tuned model's first
        if other != role:
            template = getattr(models.load_tokenizer(specs[other]), "chat_template", None)
            if template:
                tokenizer.chat_template = template
                return specs[other]
    return None


def score_roles(specs: dict[str, str], score: Callable[[Scorer, str], tuple[pd.DataFrame, dict]], *,
                quantize: str = "auto", prompt_format: str = "auto", batch_size: int | str = "auto",
                cache: ScoreCache | None = None) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Load each role's model in turn and score it in each of its formats with
    `score(scorer, fmt) -> (records, extra info)`; one model in memory at a time. Returns the
    records of every role and format (with `role` and `format` columns) and what was loaded per
    role (`formats`, `chat_template_from`, each format's extra info under `by_format`, and with one
    format that format's extra info at the top level too)."""
    frames, infos = [], {}
    for role, spec in specs.items():
        loaded = models.load(spec, quantize=quantize)
        borrowed = _borrow_chat_template(loaded.tokenizer, role, specs, prompt_format)
        info = dict(loaded.info, role=role, chat_template_from=borrowed,
                    has_chat_template=loaded.info["has_chat_template"] or bool(borrowed))
        fmts = prompts.resolve_formats(prompt_format, role, info)
        scorer = Scorer(loaded, cache=cache, batch_size=batch_size)
        info.update(formats=list(fmts), format=" + ".join(fmts), by_format={})
        for fmt in fmts:
            frame, extra = score(scorer, fmt)
            frames.append(frame.assign(role=role, format=fmt))
            info["by_format"][fmt] = extra
        if len(fmts) == 1:  # one format: its extra info at the top, as a one-format study reads it
            info.update(info["by_format"][fmts[0]])
        infos[role] = info
        del scorer, loaded
        gc.collect()
    return pd.concat(frames, ignore_index=True), infos


# ------------------------------------------------------------------ headline effects

def tuning_rows(table: pd.DataFrame, later: str = "tuned", base: str = "base") -> pd.DataFrame:
    """The rows "tuning | <format>" of a 2x2 contrast table (stats.factorial_contrasts) as headline
    rows: the later stage against the base with the prompt format held fixed."""
    rows = table[table["contrast"].str.startswith("tuning | ")].copy()
    rows["format"] = rows["contrast"].str.removeprefix("tuning | ")
    rows["contrast"] = f"{later} - {base}"
    if "p_holm" not in rows:
        rows["p_holm"] = float("nan")
    return rows
