"""The logit-lens chapter's tables, from the readout records (one row per request x option x
component x layer) and the intervention records (the final layer under each intervention).

Option 0 is the answer's token, option 1 the argument's (where the argument is a word or a name).
Reciprocal rank (1 / rank, Merullo et al.'s reading) is averaged over items; every comparison of
stages is paired over the same items (stats.paired_contrasts, bootstrap over items)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from rlshift import stats

KEYS = ["role", "format", "task", "condition"]
LATE_SHARE = 1 / 3  # "late layers": the last third of the decoder


def _with_rr(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(rr=1.0 / frame["rank"], prob=np.exp(frame["logprob"]))


def _late(frame: pd.DataFrame) -> pd.Series:
    n = frame["layer"].max() + 1
    return frame["layer"] >= n - max(1, round(n * LATE_SHARE))


def function_application_layer(lens: pd.DataFrame, meta: pd.DataFrame, items: list[str], shots: int) -> int:
    """The layer whose MLP update, decoded, gives the answer its highest mean log-probability on
    these items' k-shot prompts: where the FFN promotes the answer (Merullo's function application).
    The last layer is not a candidate: its update writes the output distribution itself, and an
    intervention from it replaces one update only (Merullo's o vectors came from layers 13-25 of 24-28)."""
    requests = set(meta[(meta["item"].isin(items)) & (meta["condition"] == f"{shots}-shot")]["request"])
    part = lens[(lens["component"] == "mlp") & (lens["option_index"] == 0) & lens["item_id"].isin(requests)]
    part = part[part["layer"] < lens["layer"].max()]
    return int(part.groupby("layer")["logprob"].mean().idxmax())


def answered(lens: pd.DataFrame, meta: pd.DataFrame, condition: str) -> set[str]:
    """The items whose answer token is the model's own top token at the last layer, in a condition."""
    requests = meta[meta["condition"] == condition].set_index("request")["item"]
    last = lens[(lens["component"] == "resid") & (lens["layer"] == lens["layer"].max()) & (lens["option_index"] == 0)
                & (lens["rank"] == 1)]
    return set(requests.reindex(last["item_id"]).dropna())


def shared_token(frame: pd.DataFrame) -> pd.Series:
    """Per row: do the answer and the argument begin with the same token (a regular past tense
    the tokenizer splits as argument + "ed")? Then their reads are equal everywhere, and the
    row says nothing about argument vs answer."""
    keys = ["item_id", "role", "format"] + [c for c in ("vector", "source", "from_layer") if c in frame]
    reads = frame.pivot_table(index=keys + ["component", "layer"], columns="option_index", values="logprob")
    if 1 not in reads:
        return pd.Series(False, index=frame.index)
    same = (reads[0] == reads[1]).groupby(level=keys).all()
    return pd.Series(same.reindex(pd.MultiIndex.from_frame(frame[keys])).fillna(False).to_numpy(), index=frame.index)


def accuracy(lens: pd.DataFrame) -> pd.DataFrame:
    """Top-1 accuracy at the last layer (the model's own next token is the answer's first token)."""
    last = lens[(lens["component"] == "resid") & (lens["layer"] == lens["layer"].max())]
    shared = shared_token(last)
    last = last.assign(shared=shared)[last["option_index"] == 0]
    rows = []
    for key, part in last.groupby(KEYS, sort=False):
        hits, n = int((part["rank"] == 1).sum()), len(part)
        lo, hi = stats.wilson(hits, n)
        rows.append(dict(zip(KEYS, key), items=n, accuracy=hits / n, ci_low=lo, ci_high=hi,
                         mean_answer_prob=float(np.exp(part["logprob"]).mean()),
                         answer_token_is_argument_token=float(part["shared"].mean())))
    return pd.DataFrame(rows)


def layer_curves(lens: pd.DataFrame) -> pd.DataFrame:
    """Mean reciprocal rank and probability of the answer (and argument) per layer and component."""
    frame = _with_rr(lens)
    frame = frame[(frame["option_index"] == 0) | ~shared_token(frame)]
    frame["token"] = np.where(frame["option_index"] == 0, "answer", "argument")
    return (frame.groupby(KEYS + ["component", "token", "layer"], sort=False)[["rr", "prob"]].mean()
            .reset_index())


def item_layers(lens: pd.DataFrame) -> pd.DataFrame:
    """Per request and model: is the answer top-1 at the end; the first layer from which the
    answer stays top-1 in the residual stream (answered items only); the layer whose MLP update
    ranks the answer best; and the layer where the argument's rank peaks (one-word arguments)."""
    frame = lens.assign(read=lens["item_id"] + "|" + lens["role"] + "|" + lens["format"])
    resid = frame[frame["component"] == "resid"]
    answer = resid[resid["option_index"] == 0].sort_values("layer")
    rows = []
    for (read, *key), part in answer.groupby(["read"] + KEYS + ["item"], sort=False):
        top = (part["rank"] == 1).to_numpy()
        stays = np.flatnonzero(~top)
        rows.append({"read": read, **dict(zip(KEYS + ["item"], key)), "correct": bool(top[-1]),
                     "surfaces": float(stays[-1] + 1 if len(stays) else 0) if top[-1] else np.nan})
    out = pd.DataFrame(rows).set_index("read")

    def peak(part: pd.DataFrame, column: str, best) -> pd.Series:
        return part.loc[getattr(part.groupby("read")[column], best)()].set_index("read")["layer"]

    out["mlp_peak"] = peak(frame[(frame["component"] == "mlp") & (frame["option_index"] == 0)], "logprob", "idxmax")
    argument = resid[(resid["option_index"] == 1) & ~shared_token(resid)]
    out["argument_peak"] = peak(argument, "rank", "idxmin") if not argument.empty else np.nan
    return out.reset_index(drop=True)


def _stage_contrasts(per_item: pd.DataFrame, value: str, group: list[str], n_boot: int, seed: int) -> pd.DataFrame:
    """Each tuned stage minus the base on `value`, paired over the items all stages share."""
    rows = []
    for key, part in per_item.groupby(group, sort=False):
        wide = part.pivot_table(index="item", columns="role", values=value, aggfunc="mean")
        if "base" not in wide:
            continue
        wide = wide.dropna()
        others = [r for r in wide.columns if r != "base"]
        if len(wide) < 2 or not others:
            continue
        effects = lambda v: {r: v[r] - v["base"] for r in others}  # noqa: E731
        for row in stats.paired_contrasts(np.mean, {r: wide[r].to_numpy() for r in wide.columns}, effects,
                                          seed, n_boot):
            rows.append(dict(zip(group, key if isinstance(key, tuple) else (key,)), stage=row.pop("contrast"),
                             **row))
    out = pd.DataFrame(rows)
    if not out.empty:
        out["p_holm"] = stats.holm(out["p_value"])
    return out


def late_layer_shift(lens: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Each stage minus the base: the answer's mean log-probability over the late layers of the
    residual stream, per task and condition, paired over items (Holm across the table)."""
    resid = lens[(lens["component"] == "resid") & (lens["option_index"] == 0)]
    late = resid[_late(resid)].groupby(["item"] + KEYS, sort=False)["logprob"].mean().reset_index()
    return _stage_contrasts(late, "logprob", ["format", "task", "condition"], n_boot, seed)


def stage_agreement(lens: pd.DataFrame) -> pd.DataFrame:
    """Per layer: the share of prompts whose top residual token is the same in a stage as in the
    base (Wilson 95% interval)."""
    resid = lens[(lens["component"] == "resid") & (lens["option_index"] == 0)]
    wide = resid.pivot_table(index=["format", "item_id", "layer"], columns="role", values="top_token", aggfunc="first")
    rows = []
    for stage in [r for r in wide.columns if r != "base"]:
        same = (wide[stage] == wide["base"]).groupby(level=["format", "layer"])
        for (fmt, layer), s in same:
            lo, hi = stats.wilson(int(s.sum()), len(s))
            rows.append({"format": fmt, "stage": stage, "layer": layer, "agreement": float(s.mean()),
                         "ci_low": lo, "ci_high": hi, "late": False})
    out = pd.DataFrame(rows)
    if not out.empty:
        n = out["layer"].max() + 1
        out["late"] = out["layer"] >= n - max(1, round(n * LATE_SHARE))
    return out


def surfacing_shift(layers: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Each stage minus the base: the layer where the answer surfaces (items every stage answers
    correctly) and the layer whose MLP update ranks the answer best, per task and condition."""
    rows = []
    for value in ("surfaces", "mlp_peak"):
        table = _stage_contrasts(layers, value, ["format", "task", "condition"], n_boot, seed)
        rows.append(table.assign(measure=value))
    return pd.concat(rows, ignore_index=True)


def framing_effects(lens: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """The capital's final-layer log-probability under each framing, the framing contrasts
    (harmful - benign: only the intent differs) per stage, and their difference between each
    stage and the base (the interaction), paired over capital items."""
    last = lens[(lens["component"] == "resid") & (lens["layer"] == lens["layer"].max()) & (lens["option_index"] == 0)
                & lens["condition"].str.startswith("framed: ")].copy()
    if last.empty:
        return pd.DataFrame()
    last["framing"] = last["condition"].str.removeprefix("framed: ")
    per_item = last.groupby(["format", "role", "framing", "item"])["logprob"].mean().reset_index()
    rows = []
    for fmt, part in per_item.groupby("format", sort=False):
        wide = part.pivot_table(index="item", columns=["role", "framing"], values="logprob").dropna()
        cells = {k: wide[k].to_numpy() for k in wide.columns}
        roles = list(dict.fromkeys(r for r, _ in cells))
        pairs = [(a, b) for a, b in (("harmful", "benign"), ("harmful", "plain"), ("benign", "plain"))
                 if all((r, a) in cells and (r, b) in cells for r in roles)]

        def effects(v, pairs=pairs, roles=roles):
            out = {}
            for a, b in pairs:
                for r in roles:
                    out[f"{a} - {b} | {r}"] = v[(r, a)] - v[(r, b)]
                for r in roles:
                    if r != "base":
                        out[f"{a} - {b} | {r} - base"] = out[f"{a} - {b} | {r}"] - out[f"{a} - {b} | base"]
            return out

        for row in stats.paired_contrasts(np.mean, cells, effects, seed, n_boot):
            rows.append({"format": fmt, **row})
    out = pd.DataFrame(rows)
    tested = out["contrast"].str.startswith("harmful - benign |") & out["contrast"].str.endswith("- base")
    out["p_holm"] = np.nan  # the family: harmful vs benign, each stage against the base
    out.loc[tested, "p_holm"] = stats.holm(out.loc[tested, "p_value"])
    return out


def intervention_success(inter: pd.DataFrame) -> pd.DataFrame:
    """Per role, task, vector and start layer: the share of (target, source) reads whose top
    token is the answer's, the answer's mean reciprocal rank, and the argument's (targets whose
    answer and argument tokens differ)."""
    frame = _with_rr(inter[~shared_token(inter)])
    frame["token"] = np.where(frame["option_index"] == 0, "answer", "argument")
    frame["top1"] = frame["rank"] == 1
    return (frame.groupby(["role", "format", "task", "vector", "from_layer", "token"], sort=False)[["top1", "rr"]]
            .mean().reset_index())


def _target_success(inter: pd.DataFrame) -> pd.DataFrame:
    """Per target whose answer and argument tokens differ: the answer's reciprocal rank and top-1
    rate at the last layer, averaged over sources."""
    inter = inter[~shared_token(inter)]
    ans = _with_rr(inter[inter["option_index"] == 0]).assign(top1=lambda f: (f["rank"] == 1).astype(float))
    return ans.groupby(["role", "format", "task", "vector", "from_layer", "item"])[["rr", "top1"]].mean().reset_index()


def intervention_tests(inter: pd.DataFrame, chosen: dict[tuple[str, str], dict], n_boot: int, seed: int) -> pd.DataFrame:
    """At each role's own function-application layer as the start: the answer's reciprocal rank
    with the o vector minus with the random vector (does the FFN update carry the relation?),
    paired over targets; then each stage's o-vector reciprocal rank minus the base's (each at its
    own layer), paired over the same targets. Top-1 shares beside them."""
    per = _target_success(inter)
    rows = []
    starts = {(role, fmt, task): layer for (role, fmt), tasks in chosen.items() for task, layer in tasks.items()}
    at = per[[starts.get((r, f, t)) == l for r, f, t, l in zip(per["role"], per["format"], per["task"], per["from_layer"])]]
    for (role, fmt, task), part in at.groupby(["role", "format", "task"], sort=False):
        wide = part.pivot_table(index="item", columns="vector", values=["rr", "top1"]).dropna()
        if {"o", "random"} <= set(wide["rr"].columns):
            row = stats.paired_contrasts(np.mean, {"o": wide["rr"]["o"].to_numpy(), "random": wide["rr"]["random"].to_numpy()},
                                         lambda v: {"o - random": v["o"] - v["random"]}, seed, n_boot)[0]
            rows.append({"test": "o vector vs random", "role": role, "format": fmt, "task": task,
                         "start_layer": starts[(role, fmt, task)], "rr_o": float(wide["rr"]["o"].mean()),
                         "rr_random": float(wide["rr"]["random"].mean()), "top1_o": float(wide["top1"]["o"].mean()),
                         "top1_random": float(wide["top1"]["random"].mean()), **row})
    o = at[at["vector"] == "o"]
    stages = _stage_contrasts(o, "rr", ["format", "task"], n_boot, seed)
    for r in stages.to_dict("records"):
        rows.append({"test": "stage vs base (o vector)", "role": r.pop("stage"), **r})
    out = pd.DataFrame(rows)
    if not out.empty:
        out["p_holm"] = stats.holm(out["p_value"])
    return out


def headline(shift: pd.DataFrame) -> pd.DataFrame:
    """The chapter's headline for the summary page: each stage minus the base on the answer's
    late-layer log-probability (`late_layer_shift`), pooled over tasks (random effects), Holm
    across the rows."""
    if shift.empty:
        return shift
    rows = []
    for (stage, fmt, condition), g in shift.groupby(["stage", "format", "condition"], sort=False):
        if len(g) == 1:  # one task: its own paired effect
            one = g.iloc[0]
            effect = {"k": int(one["n"]), **{k: one[k] for k in ("estimate", "ci_low", "ci_high", "p_value")}}
            where = f"{condition}, {one['task']} (n = items)"
        else:
            effect = stats.random_effects(g["estimate"], g["ci_low"], g["ci_high"])
            where = f"{condition}, pooled over {len(g)} tasks (n = tasks)"
        rows.append({"contrast": f"{stage} - base", "format": fmt, "where": where, **effect})
    out = pd.DataFrame(rows).rename(columns={"k": "n"})
    out["p_holm"] = stats.holm(out["p_value"])
    return out.assign(measure="answer's log-prob over the late layers", unit="nats")
