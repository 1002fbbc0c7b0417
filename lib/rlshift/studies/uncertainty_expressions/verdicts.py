"""The chapter's verdicts, in words computed from its tables only (each a function of the tables
the notebook shows; `verdicts` joins them). A difference is called only where its interval (or
Holm-adjusted p) says so; otherwise the words say it was not found, or not tested."""
from __future__ import annotations

import numpy as np
import pandas as pd

from rlshift.studies.uncertainty_expressions.inputs import LEVELS

CONTRASTS = ("tuning | raw", "tuning | chat", "format | base", "format | tuned", "interaction")
MIN_LISTENER_UNITS = 3  # a model-side interval over fewer paraphrases is not read as a verdict
T_BOUNDS = (0.05, 20.0)  # metrics.fit_temperature's search range


def _fmt(x, lo, hi, digits=3) -> str:
    return f"{x:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _sig(low: float, high: float) -> int:
    """+1 if an interval lies above 0, -1 if below, 0 if it covers 0 (or is missing)."""
    return 1 if low > 0 else -1 if high < 0 else 0


def _units(n) -> str:
    return f"{int(n)} paraphrase" + ("" if int(n) == 1 else "s")


def _models(table: pd.DataFrame) -> list[str]:
    return [s for s in dict.fromkeys(table["source"]) if " " in s]  # model cells: 'base raw', ...


def _h1_word(row, blind, floor) -> str:
    tracks, beats = row["r_low"] > 0, row["jsd_high"] < blind["jsd_low"]
    return ("matches people within sampling noise" if tracks and beats and row["jsd_low"] <= floor["jsd_high"]
            else "tracks people" if tracks and beats
            else "follows the states, but less well than ignoring them" if tracks
            else "does not track people")


def h1(overall_t: pd.DataFrame, reading: str) -> str:
    if not (overall_t["reading"] == reading).any():
        return ""
    parts = []
    for mset, table in overall_t[overall_t["reading"] == reading].groupby("message_set", sort=False):
        t = table.set_index("source")
        blind, floor = t.loc["state_blind"], t.loc["people_resampled"]
        for name in _models(table):
            row = t.loc[name]
            word = _h1_word(row, blind, floor)
            parts.append(f"{mset}, {name}: JSD {_fmt(row['jsd'], row['jsd_low'], row['jsd_high'])} (state-blind "
                         f"{blind['jsd']:.3f}, floor {floor['jsd']:.3f}), r {_fmt(row['r'], row['r_low'], row['r_high'], 2)}"
                         f": **{word}**")
    return ("**H1 (a model aligned with people gives the expressions people's probabilities in each context).** "
            f"Reading: {reading}. A model cell tracks people when its pooled correlation's interval lies above 0 "
            "and its JSD's interval below the state-blind baseline's (people's overall mix of messages); it "
            "matches them when its JSD also reaches the sampling floor. " + "; ".join(parts) + ".")


def effect_words(rows: pd.DataFrame, alpha: float = 0.05, lower_is: str = "closer to people",
                 higher_is: str = "further from people") -> list[str]:
    """One phrase per tested contrast of one metric (rows of design.factorial)."""
    out = []
    for _, r in rows[rows["contrast"].isin(CONTRASTS)].iterrows():
        if pd.isna(r["p_holm"]):
            word = f"not tested (only {_units(r['n'])})"
            out.append(f"{r['contrast']} {r['estimate']:+.3f}: {word}")
            continue
        side = lower_is if r["estimate"] < 0 else higher_is
        word = f"**{side}**" if r["p_holm"] < alpha else "**no reliable effect**"
        out.append(f"{r['contrast']} {_fmt(r['estimate'], r['ci_low'], r['ci_high'])} (Holm p = {r['p_holm']:.3f}): {word}")
    return out


def h2(factorial_t: pd.DataFrame, comparisons: list[dict], reading: str, alpha: float = 0.05) -> str:
    head = ("**H2 (tuning changes how close a model comes to people), with the format separated.** ")
    part = factorial_t[(factorial_t["analysis"] == "production") & (factorial_t["metric"] == "JSD to people")
                       & (factorial_t["reading"] == reading)] if not factorial_t.empty else factorial_t
    if part.empty:
        lines = []
        for c in comparisons:
            sig = c["p_boot"] < alpha and c["p_states"] < alpha
            side = "closer to" if c["difference"] < 0 else "further from"
            fa, fb = c["a"].split(" ")[-1], c["b"].split(" ")[-1]
            lines.append(f"{c['message_set']}: {c['a']} minus {c['b']} JSD {_fmt(c['difference'], c['low'], c['high'])}"
                         f" (bootstrap p = {c['p_boot']:.3f}, permutation over states p = {c['p_states']:.3f}): "
                         + (f"**{c['a']} is {side} people**" if sig else "**no reliable difference**")
                         + (f" -- but the two read different formats ({fb} vs {fa}), so this mixes format with "
                            "tuning" if fa != fb else ""))
        return head + ("The 2x2 was not run (one format per model): " + "; ".join(lines) + "."
                       if lines else "Not run.")
    lines = []
    for mset, rows in part.groupby("message_set", sort=False):
        conf = rows[rows["contrast"].str.startswith("confounded")].iloc[0]
        fmt_base = rows[rows["contrast"] == "format | base"].iloc[0]
        text = f"{mset}: " + "; ".join(effect_words(rows, alpha))
        text += (f". A one-format design (tuned chat vs base raw) would report {conf['estimate']:+.3f}, of which the "
                 f"format alone (on the base) is {fmt_base['estimate']:+.3f}")
        if "ci2_low" in rows and rows["ci2_low"].notna().all():
            tr = rows[rows["contrast"] == "tuning | chat"].iloc[0]
            text += (f"; with people resampled too (two-way bootstrap), tuning | chat "
                     f"[{tr['ci2_low']:.3f}, {tr['ci2_high']:.3f}]")
        lines.append(text)
    return (head + f"Reading: {reading}; each contrast is a difference of mean JSD to people (negative: closer), "
            f"intervals over paraphrases, Holm within the five tests, alpha = {alpha}. " + " | ".join(lines) + ".")


def robustness(factorial_t: pd.DataFrame, overall_t: pd.DataFrame, main: str, robust: str) -> str:
    """Does the tuning effect keep its sign under the other message score (PMI)?"""
    if factorial_t.empty:
        return ""
    part = factorial_t[(factorial_t["analysis"] == "production") & (factorial_t["metric"] == "JSD to people")]
    lines = []
    for mset, rows in part.groupby("message_set", sort=False):
        t = rows.pivot_table(index="contrast", columns="reading", values="estimate")
        if main not in t or robust not in t:
            continue
        for c in ("tuning | raw", "tuning | chat", "format | base"):
            a, b = t.loc[c, main], t.loc[c, robust]
            word = "same sign" if np.sign(a) == np.sign(b) else "**sign reverses**"
            lines.append(f"{mset}, {c}: {a:+.3f} ({main}) vs {b:+.3f} ({robust}): {word}")
        o = overall_t[(overall_t["message_set"] == mset)].pivot_table(index="source", columns="reading", values="jsd")
        best = {r: o.loc[_models(overall_t), r].idxmin() for r in (main, robust) if r in o}
        lines.append(f"{mset}, closest cell: {best.get(main)} ({main}), {best.get(robust)} ({robust})")
        t = overall_t[(overall_t["message_set"] == mset) & (overall_t["reading"] == robust)].set_index("source")
        if len(t):
            lines.append(f"{mset}, H1 under {robust}: " + ", ".join(
                f"{name} r {t.loc[name, 'r']:.2f}: {_h1_word(t.loc[name], t.loc['state_blind'], t.loc['people_resampled'])}"
                for name in _models(t.reset_index())))
    return ("**Robustness: the domain-conditional PMI reading.** Each message's score after the state minus after a "
            "content-free context (the same story, menu and format, the evidence withheld), which removes a "
            "message's own length and frequency prior. " + "; ".join(lines) + ".") if lines else ""


def paraphrases(fixed_t: pd.DataFrame, var_t: pd.DataFrame) -> str:
    if var_t.empty:
        return ("**Paraphrases as a random effect.** Not estimated (fewer than 3 paraphrases, or not the full 2x2).")
    lines = []
    for (mset, reading), v in var_t.groupby(["message_set", "reading"], sort=False):
        v = v.set_index("component")
        f = fixed_t[(fixed_t["message_set"] == mset) & (fixed_t["reading"] == reading)].set_index("effect")
        sd = v.loc["paraphrase", "sd"]
        sizes = {e: abs(f.loc[e, "estimate"]) for e in ("tuning | raw", "format | base", "interaction")}
        larger = [e for e, x in sizes.items() if x > sd]
        fixed = ", ".join(f"{e} {_fmt(f.loc[e, 'estimate'], f.loc[e, 'ci_low'], f.loc[e, 'ci_high'])} "
                          f"(p = {f.loc[e, 'p_value']:.3f})" for e in sizes)
        verdict = (f"the paraphrase SD is **larger than every effect**" if not larger else
                   f"the paraphrase SD is **smaller than {', '.join(larger)}**")
        lines.append(f"{mset} ({reading}): paraphrase SD {sd:.3f} ({v.loc['paraphrase', 'share']:.0%} of the variance), "
                     f"paraphrase x cell SD {v.loc['paraphrase x cell', 'sd']:.3f}, residual SD "
                     f"{v.loc['residual', 'sd']:.3f}, over {int(v['n_paraphrases'].iloc[0])} paraphrases"
                     f"{'' if v['converged'].all() else ' (the fit did not converge: read with care)'}"
                     f"{' (a variance estimate sits at its boundary, 0)' if v['boundary'].any() else ''}; fixed: {fixed}: {verdict}")
    return ("**Paraphrases as a random effect** (MixedLM on each paraphrase's JSD to people per state and cell: "
            "tuning, format, interaction and state fixed; paraphrase and paraphrase x cell random). "
            + "; ".join(lines) + ".")


def q3(levels_t: pd.DataFrame, changes_t: pd.DataFrame) -> str:
    if changes_t.empty:
        return ""
    out = []
    for mset, table in levels_t.groupby("message_set", sort=False):
        ent = table.pivot_table(index="source", columns="uncertainty", values="entropy")
        ent = ent[[lv for lv in LEVELS if lv in ent.columns]]
        parts = [f"entropy (bits, {'/'.join(ent.columns)}): " + ", ".join(
            f"{src} " + "/".join(f"{x:.2f}" for x in ent.loc[src]) for src in ["people", *_models(table)])]
        for _, row in changes_t[changes_t["message_set"] == mset].iterrows():
            word = {1: "further from people under high than under no higher-order uncertainty",
                    -1: "closer to people under high than under no higher-order uncertainty",
                    0: "no reliable change in JSD between none and high"}[_sig(row["low"], row["high"])]
            parts.append(f"{row['source']}: {word} ({_fmt(row['difference'], row['low'], row['high'])})")
        out.append(f"{mset}: " + "; ".join(parts))
    return ("**Q3 (higher-order uncertainty).** If entropy rises from none to high, the speaker hedges more when "
            "fewer balls were seen. " + " | ".join(out) + ".")


def listener(interp_t: pd.DataFrame | None, gaps_t: pd.DataFrame | None, beliefs_t: pd.DataFrame | None,
             factorial_t: pd.DataFrame, alpha: float = 0.05) -> str:
    parts = []
    def few(row) -> bool:
        return row.get("n_paraphrases", MIN_LISTENER_UNITS) < MIN_LISTENER_UNITS

    for _, row in (interp_t[interp_t["source"] != "uniform"] if interp_t is not None else pd.DataFrame()).iterrows():
        order = {1: "orders the messages as people do", -1: "orders them against people",
                 0: "no reliable order"}[_sig(row["r_low"], row["r_high"])]
        if few(row):
            order = f"order not called (intervals over {_units(row['n_paraphrases'])})"
        if row["spread_mean"] < 0.2 * row["people_spread_mean"]:
            order = f"reads every message about alike ({order}, on a tiny spread)"
        parts.append(f"filler, {row['message_set']}, {row['source']}: JSD {_fmt(row['jsd'], row['jsd_low'], row['jsd_high'])},"
                     f" mean red balls span {row['spread_mean']:.1f} (people {row['people_spread_mean']:.1f}): {order}")
    for mset, g in (gaps_t.groupby("message_set", sort=False) if gaps_t is not None and not gaps_t.empty else []):
        t = g.set_index("source")
        p = t.loc["people"]
        line = f"critical, {mset}: people infer {p['gap']:+.2f} [{p['low']:.2f}, {p['high']:.2f}] more balls drawn after a certain message than after a hedged one"
        for name in _models(g):
            r = t.loc[name]
            word = {1: "reads higher-order uncertainty off the words in people's direction", -1: "reads it the other way",
                    0: "no reliable gap"}[_sig(r["low"], r["high"])]
            if _sig(r["low"], r["high"]) and abs(r["gap"]) < 0.2 * abs(p["gap"]):
                word += f", but the gap is tiny (a fifth of people's or less)"
            if few(r):
                word = f"not called (intervals over {int(r['n_paraphrases'])} paraphrase(s))"
            line += f"; {name} {r['gap']:+.2f} [{r['low']:.2f}, {r['high']:.2f}]: **{word}**"
        parts.append(line)
    if beliefs_t is not None and not beliefs_t.empty:
        t = beliefs_t.set_index("source")
        bayes = t.loc["bayes", "jsd"]
        line = f"beliefs: the Bayesian posterior is {bayes:.3f} bits from people's mean belief"
        if "uniform" in t.index:
            line += f" (a uniform belief {t.loc['uniform', 'jsd']:.3f})"
        for name in _models(beliefs_t):
            r = t.loc[name]
            word = ("closer to people than the posterior is" if r["jsd_high"] < bayes else
                    "further from people than the posterior is" if r["jsd_low"] > bayes else "about as close as the posterior")
            if few(r):
                word = f"not called (intervals over {_units(r['n_paraphrases'])})"
            line += f"; {name} {_fmt(r['jsd'], r['jsd_low'], r['jsd_high'])}: **{word}**"
        parts.append(line)
    if not factorial_t.empty:
        for (analysis, mset, reading), rows in factorial_t[(factorial_t["analysis"] != "production")
                                                           & (factorial_t["metric"] == "JSD to people")].groupby(
                                                               ["analysis", "message_set", "reading"], sort=False):
            parts.append(f"2x2 on the {analysis} JSD ({mset.replace('-', 'all')}, {reading}): "
                         + "; ".join(effect_words(rows, alpha)))
    if not parts:
        return ""
    return ("**Beyond: the listener's side and people's beliefs.** Given a message, does a model infer the urn "
            "(filler trials) and the speaker's access (critical trials) as people do; given a state, is its belief "
            "about the urn people's? " + "; ".join(parts) + ".")


def words(words_t: pd.DataFrame, temps_t: pd.DataFrame) -> str:
    w = []
    temps = temps_t.set_index(["message_set", "source"])["fitted_T"]
    for mset, table in words_t.groupby("message_set", sort=False):
        t = table.set_index("source")
        for name in _models(table):
            row = t.loc[name]
            follow = {1: "swing further with the evidence than people's", -1: "follow the evidence less than people's",
                      0: "follow the evidence as much as people's"}[_sig(row["slope_vs_low"], row["slope_vs_high"])]
            certain = {1: "more often than people", -1: "less often than people",
                       0: "about as often as people"}[_sig(row["certain_vs_low"], row["certain_vs_high"])]
            w.append(f"{mset}, {name}: slope {_fmt(row['slope'], row['slope_low'], row['slope_high'], 2)} vs people's "
                     f"{t.loc['people', 'slope']:.2f}: its words **{follow}**; it uses the messages that leave no "
                     f"doubt with probability {row['certain_share']:.2f} vs people's {t.loc['people', 'certain_share']:.2f}:"
                     f" **{certain}**; fitted T = {temps[(mset, name)]:.2f}"
                     + (" (at the search bound)" if min(abs(temps[(mset, name)] / b - 1) for b in T_BOUNDS) < 1e-3 else ""))
    return ("**Beyond: overconfident in words?** The slope is that of the probability conveyed in words on the "
            "Bayesian probability across states; the certain messages ('certainly (not)', 'is certainly ...') "
            "are overconfident where no state makes the colour certain. T > 1: people's choices are fitted better "
            "by a flatter version of the model's distribution; T < 1: by a sharper one. " + "; ".join(w) + ".")


def rsa(rsa_t: pd.DataFrame | None, min_lambda: float = 1.0) -> str:
    if rsa_t is None or rsa_t.empty:
        return ""
    t = rsa_t.set_index(["source", "parameter"])
    people = "; ".join(f"{p.split(' ')[1]} {_fmt(r['estimate'], r['low'], r['high'], 2)}"
                       for (s, p), r in t.iterrows() if s == "people" and p.startswith("theta"))
    lam_p = t.loc[("people", "lambda")]
    gain = (f", log-likelihood gain over ignoring the state {_fmt(lam_p['gain'], lam_p['gain_low'], lam_p['gain_high'])}"
            " nats per choice" if "gain" in lam_p else "")
    lines = [f"people: {people}, lambda {lam_p['estimate']:.1f}{gain}"]
    for name in _models(rsa_t):
        lam = t.loc[(name, "lambda")]
        if lam.get("n_units", MIN_LISTENER_UNITS) < MIN_LISTENER_UNITS:
            thetas = ", ".join(f"{p.split(' ')[1]} {t.loc[(name, p), 'estimate']:.2f}"
                               for p in ("theta possibly", "theta probably", "theta certainly"))
            lines.append(f"{name}: {thetas}, lambda {lam['estimate']:.1f}: **not compared** (intervals over "
                         f"{_units(lam['n_units'])})")
            continue
        if lam.get("gain_low", 1.0) <= 0:
            lines.append(f"{name}: the RSA speaker fits its choices no better than ignoring the state (log-likelihood "
                         f"gain {_fmt(lam['gain'], lam['gain_low'], lam['gain_high'])} nats per choice over its own "
                         "state-blind mix): **its thresholds are not identified**")
            continue
        if lam["low"] < min_lambda:
            lines.append(f"{name}: lambda {_fmt(lam['estimate'], lam['low'], lam['high'], 1)}: **its choices barely "
                         "follow the semantics; its thresholds are not identified**")
            continue
        said = []
        for p in ("theta possibly", "theta probably", "theta certainly"):
            r = t.loc[(name, p)]
            word = {1: "higher than people's", -1: "lower than people's",
                    0: "as people's within the interval"}[_sig(r["vs_low"], r["vs_high"])]
            said.append(f"{p.split(' ')[1]} {r['estimate']:.2f} ({r['vs_reference']:+.2f} [{r['vs_low']:+.2f}, "
                        f"{r['vs_high']:+.2f}]): **{word}**")
        lines.append(f"{name} (lambda {lam['estimate']:.1f}, fitted speaker {lam['fit_jsd']:.3f} bits from its "
                     f"choices): " + "; ".join(said))
    return ("**Beyond the paper: threshold semantics and an RSA speaker** (Herbstritt & Franke's model, simple "
            "messages), fitted to each source's choices; a higher threshold is a stricter reading of the word (more "
            "red balls needed). " + " | ".join(lines) + ".")


def pair_note(pair, specs: dict[str, str], formats: dict[str, list[str]]) -> str:
    """What the verdicts are about, from the pair record (rlshift.models.pair) and the run
    (`formats`: the prompt formats each role read)."""
    overridden = specs.get("base") != pair.base or specs.get("tuned") != pair.tuned
    text = (f"**The pair.** `{pair.name}`: base `{specs.get('base')}`, tuned `{specs.get('tuned')}`"
            f"{f', SFT stage `{pair.sft}`' if pair.sft else ''}; tuning: {pair.tuning}. ")
    if overridden:
        text += (f"The models were overridden, so the pair record's caveat (for `{pair.base}` vs `{pair.tuned}`) "
                 "does not describe them: family, size and tokenizer were not checked. ")
    elif pair.caveat:
        text += pair.caveat + " "
    read = "; ".join(f"{role} in {' and '.join(f)}" for role, f in formats.items())
    both = all({"raw", "chat"} <= set(f) for f in formats.values())
    same = len({tuple(f) for f in formats.values()}) == 1
    text += f"Formats: {read}: " + ("the 2x2, so tuning and format are separated." if both else
                                    "one format, the same for both, so format is held fixed (not varied)." if same else
                                    "each model in its own format, so **format and tuning are confounded**.")
    return text


def verdicts(tables: dict, main: str, robust: str, alpha: float = 0.05) -> str:
    """Every section, from the notebook's tables (keys: overall, factorial, comparisons, fixed,
    variance, levels, changes, interpretation, gaps, beliefs, words, temperatures, rsa)."""
    get = tables.get
    sections = [h1(tables["overall"], main), h2(tables["factorial"], get("comparisons") or [], main, alpha),
                robustness(tables["factorial"], tables["overall"], main, robust),
                paraphrases(get("fixed", pd.DataFrame()), get("variance", pd.DataFrame())),
                q3(tables["levels"], tables["changes"]),
                listener(get("interpretation"), get("gaps"), get("beliefs"), tables["factorial"], alpha),
                words(tables["words"], tables["temperatures"]), rsa(get("rsa"))]
    return "\n\n".join(s for s in sections if s)
