"""The linguistic chapter's verdicts on the plan's three hypotheses, computed from the pooled
per-group effects (random effects over tasks, Holm across groups): one verdict per hypothesis,
contrast and format."""
from __future__ import annotations

import pandas as pd

# hypothesis -> (group, the direction the plan predicts: -1 = the tuned stage worse, +1 = better)
HYPOTHESES = {
    "H1 syntax: tuning erodes syntactic knowledge": ("syntax", -1),
    "H2a semantics: tuning hurts NLI, similarity, coreference, reading QA": ("semantics (non-conversational)", -1),
    "H2b semantics: tuning helps conversational QA": ("semantics (conversational)", +1),
    "H3 pragmatics: tuning helps implicature and presupposition": ("pragmatics", +1),
}


def decide(row: dict | None, direction: int, alpha: float) -> str:
    """'Supported' where the pooled effect is in the predicted direction (CI excludes 0, Holm p <
    alpha); 'Contradicted' where it is clearly the other way; else 'Not decided'."""
    if row is None or pd.isna(row.get("estimate")):
        return "Not tested (no task of this group was run)"
    clear = row["p_holm"] < alpha and (row["ci_low"] > 0 or row["ci_high"] < 0)
    if not clear:
        return "Not decided: no difference detectable at this size"
    return "Supported" if (row["estimate"] > 0) == (direction > 0) else "Contradicted: the opposite direction"


def verdicts(effects: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One row per hypothesis x contrast x format: the pooled effect, its CI, Holm p and the verdict."""
    rows = []
    keys = effects[["contrast", "format"]].drop_duplicates().itertuples(index=False) if len(effects) else []
    for contrast, fmt in keys:
        part = effects[(effects["contrast"] == contrast) & (effects["format"] == fmt)].set_index("group")
        for hypothesis, (group, direction) in HYPOTHESES.items():
            row = part.loc[group].to_dict() if group in part.index else None
            rows.append({"hypothesis": hypothesis, "contrast": contrast, "format": fmt,
                         "tasks": row["tasks"] if row else "", "estimate": row["estimate"] if row else float("nan"),
                         "ci_low": row["ci_low"] if row else float("nan"), "ci_high": row["ci_high"] if row else float("nan"),
                         "p_holm": row["p_holm"] if row else float("nan"), "verdict": decide(row, direction, alpha)})
    return pd.DataFrame(rows)


def sentences(table: pd.DataFrame, contrast: str = "tuned - base") -> list[str]:
    """The verdicts of one contrast as sentences with their numbers."""
    out = []
    for r in table[table["contrast"] == contrast].to_dict("records"):
        if pd.isna(r["estimate"]):
            out.append(f"**{r['hypothesis']}** ({r['format']}): {r['verdict']}.")
            continue
        out.append(f"**{r['hypothesis']}** ({r['format']}, {r['tasks']}): {contrast} pooled accuracy difference "
                   f"{r['estimate']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}], Holm p = {r['p_holm']:.3g}: "
                   f"**{r['verdict']}**.")
    return out


def mass_sentences(mass_contrasts: pd.DataFrame, gained: pd.DataFrame, alpha: float = 0.05) -> list[str]:
    """The plan's exploratory observation (the answer options lose probability under RL, other
    tokens gain it), read from the paired per-task contrasts of the mass on the answer words."""
    out = []
    for label, part in mass_contrasts.groupby("contrast", sort=False):
        fell = part[(part["ci_high"] < 0) & (part["p_holm"] < alpha)]
        rose = part[(part["ci_low"] > 0) & (part["p_holm"] < alpha)]
        out.append(f"**Mass on the answer words, {label}:** lower on {len(fell)} of {len(part)} tasks, higher on "
                   f"{len(rose)} (paired per item, Wilcoxon, Holm); mean change {part['difference'].mean():+.3f}.")
    if len(gained) and gained["gain"].iloc[0] > 0:
        g = gained.iloc[0]
        out.append(f"The token the tuned model puts first most often where the base did not: {g['top_token']} "
                   f"(first on {g.iloc[2]:.0%} of items, base {g.iloc[1]:.0%}).")
    return out
