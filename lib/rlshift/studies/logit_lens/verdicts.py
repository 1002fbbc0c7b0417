"""The logit-lens chapter's verdicts on the plan's three questions (section 4.6), computed from
its tables; every branch is a sentence about numbers in them."""
from __future__ import annotations

import pandas as pd


def _ci(row) -> str:
    return f"{row['estimate']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}], Holm p = {row['p_holm']:.3g}"


def _where(row, *names) -> str:
    return ", ".join(str(row[n]) for n in names if n in row and pd.notna(row[n]))


def weak_tasks(acc: pd.DataFrame, floor: float = 0.2) -> str:
    """Tasks a stage rarely answers: their curves show where an answer does not surface."""
    weak = acc[(acc["accuracy"] < floor) & ~acc["condition"].str.startswith("framed")]  # framed: read by log-prob
    if weak.empty:
        return ""
    names = sorted({f"{r.task} ({r.condition}, {r.role} · {r.format}: {r.accuracy:.0%})" for r in weak.itertuples()})
    return (f"- **Read with care**: top-1 accuracy is below {floor:.0%} on {len(names)} task x prompt x model cells "
            f"({'; '.join(names[:6])}{'; ...' if len(names) > 6 else ''}): there the layers show where the answer "
            f"does *not* surface, and mechanism claims rest on few items.")


def late_layers(shift: pd.DataFrame, agreement: pd.DataFrame, alpha: float) -> str:
    """Q1: do late-layer representations differ between each stage and the base?"""
    lines = []
    for stage, part in shift.groupby("stage", sort=False):
        sig = part[part["p_holm"] < alpha]
        late = agreement[(agreement["stage"] == stage) & agreement["late"]]
        agree = f" Top residual tokens in the late layers agree with the base's on {late['agreement'].mean():.0%} " \
                f"of reads (per layer {late['agreement'].min():.0%}-{late['agreement'].max():.0%})." if len(late) else ""
        if sig.empty:
            best = part.loc[part["estimate"].abs().idxmax()]
            lines.append(f"- **Q1, {stage} vs base: no measurable difference** in the answer's late-layer log-probability "
                         f"in any of {len(part)} task x prompt conditions at Holm α = {alpha} (largest: "
                         f"{_where(best, 'task', 'condition', 'format')}: {_ci(best)}).{agree}")
        else:
            best = sig.loc[sig["estimate"].abs().idxmax()]
            up = int((sig["estimate"] > 0).sum())
            lines.append(f"- **Q1, {stage} vs base: the late layers differ** in {len(sig)} of {len(part)} task x prompt "
                         f"conditions ({up} higher, {len(sig) - up} lower answer log-probability; largest: "
                         f"{_where(best, 'task', 'condition', 'format')}: {_ci(best)}).{agree}")
    return "\n".join(lines)


MOST = 0.5  # Merullo's o vectors made the answer the top token for most targets


def ffn_role(tests: pd.DataFrame, n_layers: dict, alpha: float) -> str:
    """Q2: does the FFN update at the function-application layer carry the relation? As in GPT-2
    when Merullo's o vector ranks the answer above a random vector of its norm (Holm) and makes it
    the top token for most targets; a weak trace when it only ranks it higher."""
    part = tests[tests["test"] == "o vector vs random"]
    lines = []
    for (role, fmt), cell in part.groupby(["role", "format"], sort=False):
        higher = cell[(cell["p_holm"] < alpha) & (cell["estimate"] > 0)]
        produces = higher[higher["top1_o"] >= MOST]
        where = "; ".join(f"{r.task}: from layer {int(r.start_layer)} of {n_layers.get(role, '?')}, the answer's "
                          f"reciprocal rank {r.rr_o:.3f} with o vs {r.rr_random:.3f} random, top-1 {r.top1_o:.0%} vs "
                          f"{r.top1_random:.0%}" for r in cell.itertuples())
        if len(produces):
            lines.append(f"- **Q2, {role} · {fmt}: the FFN update carries the relation, as in GPT-2,** on "
                         f"{', '.join(produces['task'])}: the o vector makes the answer the top token for most targets "
                         f"({len(produces)} of {len(cell)} tasks; {where}).")
        elif len(higher):
            lines.append(f"- **Q2, {role} · {fmt}: a weak trace of Merullo's mechanism** on {', '.join(higher['task'])}: "
                         f"the o vector ranks the answer above a random vector of its norm (Holm α = {alpha}) but makes it "
                         f"the top token for fewer than {MOST:.0%} of targets ({where}).")
        else:
            lines.append(f"- **Q2, {role} · {fmt}: Merullo's mechanism is not shown**: on no task does the o vector "
                         f"rank the answer higher than a random vector of its norm (Holm α = {alpha}; {where}).")
    return "\n".join(lines)


def tuning_effect(tests: pd.DataFrame, surfacing: pd.DataFrame, alpha: float) -> str:
    """Q3: what did tuning change: the o vector's effect, and where the answer surfaces."""
    lines = []
    stages = tests[tests["test"] == "stage vs base (o vector)"]
    for role, part in stages.groupby("role", sort=False):
        sig = part[part["p_holm"] < alpha]
        text = "; ".join(f"{r['task']}: {_ci(r)}" for r in part.to_dict("records"))
        if len(sig):
            verdict = (f"tuning changes the o vector's effect on {', '.join(sig['task'])} "
                       f"({len(sig)} of {len(part)} tasks)")
        else:
            verdict = "tuning does not measurably change the o vector's effect"
        lines.append(f"- **Q3, {role} vs base: {verdict}** (the answer's reciprocal rank under the o vector, "
                     f"{role} minus base, each model at its own function-application layer; {text}).")
    if not surfacing.empty:
        surf = surfacing[surfacing["measure"] == "surfaces"]
        sig = surf[surf["p_holm"] < alpha]
        if sig.empty:
            lines.append(f"- **Where answers surface**: no stage moves the layer at which the answer becomes and stays "
                         f"top-1 by a measurable amount ({len(surf)} stage x task x prompt conditions, Holm α = {alpha}).")
        else:
            moved = "; ".join(f"{r.stage}, {r.task}, {r.condition}: {r.estimate:+.1f} layers "
                              f"[{r.ci_low:+.1f}, {r.ci_high:+.1f}]" for r in sig.itertuples())
            lines.append(f"- **Where answers surface**: measurably moved in {len(sig)} of {len(surf)} conditions ({moved}).")
    return "\n".join(lines)


def framing(effects: pd.DataFrame, alpha: float) -> str:
    """Does a harmful intent move the capital's probability differently after tuning than before
    (harmful minus benign, each stage against the base)?"""
    if effects.empty:
        return ""
    inter = effects[effects["contrast"].str.startswith("harmful - benign |") & effects["contrast"].str.endswith("- base")]
    lines = []
    for row in inter.to_dict("records"):
        stage = row["contrast"].split("|")[1].split("-")[0].strip()
        own = effects[(effects["contrast"] == f"harmful - benign | {stage}") & (effects["format"] == row["format"])]
        base = effects[(effects["contrast"] == "harmful - benign | base") & (effects["format"] == row["format"])]
        own_effect, base_effect = own["estimate"].iloc[0], base["estimate"].iloc[0]
        if row["p_holm"] < alpha:
            head = (f"relative to a benign intent, a harmful one leaves the capital {'less' if row['estimate'] < 0 else 'more'} "
                    f"probable in {stage} than in the base")
        else:
            head = f"no measurable difference between {stage} and the base"
        lines.append(f"- **Harmful vs benign framing, {stage}** ({row['format']}): {head}. The capital's log-probability "
                     f"after a harmful intent minus after a benign one: {own_effect:+.3f} in {stage}, {base_effect:+.3f} "
                     f"in the base; the difference {_ci(row)}.")
    return "\n".join(lines)


def verdicts(acc, shift, agreement, tests, surfacing, framing_table, n_layers: dict, alpha: float) -> str:
    parts = [late_layers(shift, agreement, alpha), ffn_role(tests, n_layers, alpha),
             tuning_effect(tests, surfacing, alpha), framing(framing_table, alpha), weak_tasks(acc)]
    return "\n".join(p for p in parts if p)
