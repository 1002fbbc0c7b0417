"""Derive the human tables of the uncertainty-expressions study from Herbstritt & Franke's raw
data, and record them in data/MANIFEST.yaml.

    python data/scripts/derive_herbstritt_franke.py               # write data/hf_*.csv + manifest
    python data/scripts/derive_herbstritt_franke.py --out DIR     # write elsewhere, manifest untouched

The raw files are read from a local mirror, never copied into the repo: the folder
`herbstritt-franke/` inside $RLSHIFT_DATA_MIRROR, or else inside ../shared/data next to the
repo. Their repository (mic-he/ProbExp-HOU) states no license, so only derived tables ship:

- hf_simple_production.csv / hf_complex_production.csv: per state <access, observation> and
  message, the count of participants who chose it, the state's total and the proportion. From
  the authors' cleaned production files (1a: 84 participants x 9 states, 5 messages; 2a: 102
  participants x 12 states, 16 messages = {is, is probably, might be, is certainly} x
  {probable, possible, unlikely, likely}; the authors' `answer2`, before they merged
  "probable" into "likely").
- hf_simple_participants.csv / hf_complex_participants.csv: the same choices per participant
  (numbered 1..N in order of first appearance; no ids, times or comments), for bootstrap
  intervals over participants.
- hf_simple_interpretation.csv / hf_complex_interpretation.csv: per message, how many red balls
  (0..10) participants put in the urn on the filler trials of experiments 1b / 2b (one answer
  per participant and message). Raw files, so the production files' language criterion is
  applied here: participants whose stated native language is not English are dropped.
- hf_simple_critical.csv / hf_complex_critical.csv: per message and answer <access,
  observation>, how many participants said, on the critical trials of 1b / 2b, that a speaker
  who sent this message had drawn `access` balls and seen `observation` red ones (only answers
  given at least once; same language criterion).
- hf_beliefs.csv: experiment 0, per state <access, observation> (all 65 of the urn) and number
  of red balls 0..10: the mean and sd over trials of people's slider ratings, each trial's
  ratings normalized to sum 1 (trials rating every number 0 are dropped), the mean raw rating,
  and the number of trials.
Deterministic: the same raw files give the same bytes.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import pandas as pd

from rlshift import manifest, paths
from rlshift.errors import InputError

REPO_ROOT = paths.REPO_ROOT
DATA_DIR = paths.DATA_DIR
FOLDER = "herbstritt-franke"
SOURCE_REPO = "mic-he/ProbExp-HOU@4033d145"
LICENSE = "none stated; derived aggregates with citation"
CITATION = ("Herbstritt & Franke (2019), Complex probability expressions & higher-order "
            "uncertainty, Cognition 186; Herbstritt & Franke (2016), Definitely maybe and "
            "possibly even probably, CogSci")

STATES = [(2, 0), (2, 2), (4, 1), (4, 2), (4, 3), (8, 0), (8, 2), (8, 4), (8, 6), (8, 8),
          (10, 2), (10, 3), (10, 5), (10, 7), (10, 8)]
SIMPLE = {"certainlyNot": "certainly not", "probablyNot": "probably not", "possibly": "possibly",
          "probably": "probably", "certainly": "certainly"}
VERBS = {"is": "is", "is_probably": "is probably", "might_be": "might be", "is_certainly": "is certainly"}
ADJECTIVES = ("probable", "possible", "unlikely", "likely")
COMPLEX = [f"{v} {a}" for v in VERBS.values() for a in ADJECTIVES]
# interpretation files name the 12 complex messages they tested ("probable" was not among them)
SIMPLE_SHORT = {"cerNot": "certainly not", "probNot": "probably not", "poss": "possibly",
                "prob": "probably", "cer": "certainly"}
COMPLEX_SHORT = {f"{v}{a}": f"{verb} {adj}"
                 for v, verb in (("is", "is"), ("prob", "is probably"), ("might", "might be"),
                                 ("cer", "is certainly"))
                 for a, adj in (("Lik", "likely"), ("Pos", "possible"), ("Unlik", "unlikely"))}


def mirror() -> Path:
    """The folder holding the raw files, with a message naming what to set when it is absent."""
    base = paths.data_mirror()
    root = base or REPO_ROOT.parent / "shared" / "data"
    folder = root / FOLDER
    if not folder.is_dir():
        where = f"RLSHIFT_DATA_MIRROR={base}" if base else f"RLSHIFT_DATA_MIRROR is unset; the default is {root}"
        raise FileNotFoundError(
            f"Herbstritt & Franke raw data not found: {folder} does not exist ({where}). Set "
            f"RLSHIFT_DATA_MIRROR to a folder that contains {FOLDER}/ (the files of "
            f"{SOURCE_REPO}, see its README).")
    return folder


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(folder: Path, name: str, sep: str) -> tuple[pd.DataFrame, dict]:
    path = folder / name
    frame = pd.read_csv(path, sep=sep)
    return frame, {"source": f"{SOURCE_REPO}: {name} (mirror: {FOLDER}/{name})",
                   "source_sha256": _sha(path)}


# how participants spelled "English" as their native language in 1a, 1b, 2a and 2b
ENGLISH = {"english", "american english", "engish", "englisj", "englisg", "eng", "egnlish", "engligh"}


def _english(language) -> bool:
    """Native English speakers, as the authors' cleaned production files keep them (any other
    or unreadable language is dropped)."""
    return str(language).strip().lower() in ENGLISH


def _uncertainty(access: int) -> str:
    return {10: "none", 8: "low"}.get(int(access), "high")


def _participants(frame: pd.DataFrame, message: pd.Series) -> pd.DataFrame:
    number = {pid: i + 1 for i, pid in enumerate(dict.fromkeys(frame["id"]))}
    out = pd.DataFrame({"participant": frame["id"].map(number), "access": frame["access"],
                        "observation": frame["observation"], "message": message})
    return out.sort_values(["participant", "access", "observation"], kind="stable").reset_index(drop=True)


def _production(trials: pd.DataFrame, messages: list[str]) -> pd.DataFrame:
    rows = []
    for a, o in STATES:
        here = trials[(trials["access"] == a) & (trials["observation"] == o)]
        n = len(here)
        for m in messages:
            k = int((here["message"] == m).sum())
            rows.append({"access": a, "observation": o, "uncertainty": _uncertainty(a),
                         "message": m, "count": k, "n": n, "proportion": k / n})
    return pd.DataFrame(rows)


def simple_trials(folder: Path) -> tuple[pd.DataFrame, dict]:
    frame, source = _read(folder, "1a.simple_production.clean.csv", ",")
    unknown = set(frame["answer"]) - set(SIMPLE)
    if unknown:
        raise ValueError(f"1a: unexpected answers {sorted(unknown)}")
    return _participants(frame, frame["answer"].map(SIMPLE)), source


def complex_trials(folder: Path) -> tuple[pd.DataFrame, dict]:
    frame, source = _read(folder, "2a.complex_production.clean.csv", ";")
    message = frame["answer1"].map(VERBS) + " " + frame["answer2"]
    if message.isna().any() or not set(message) <= set(COMPLEX):
        raise ValueError(f"2a: unexpected answers {sorted(set(message.dropna()) - set(COMPLEX))}")
    return _participants(frame, message), source


def _english_trials(folder: Path, name: str, sep: str, kind: str) -> tuple[pd.DataFrame, dict]:
    """One kind of trial ('f' filler, 'c' critical) of the native English speakers."""
    frame, source = _read(folder, name, sep)
    english = frame.groupby("id")["language"].first().map(_english)
    return frame[(frame["kind"] == kind) & frame["id"].map(english)], source


def _interpretation(folder: Path, name: str, sep: str, names: dict[str, str]) -> tuple[pd.DataFrame, dict]:
    fillers, source = _english_trials(folder, name, sep, "f")
    rows = []
    for short, message in names.items():
        answers = fillers.loc[fillers["expression"] == short, "state"].astype(int)
        for n_red in range(11):
            k = int((answers == n_red).sum())
            rows.append({"message": message, "n_red": n_red, "count": k, "n": len(answers),
                         "proportion": k / len(answers)})
    return pd.DataFrame(rows), source


def _critical(folder: Path, name: str, sep: str, names: dict[str, str]) -> tuple[pd.DataFrame, dict]:
    critical, source = _english_trials(folder, name, sep, "c")
    rows = []
    for short, message in names.items():
        here = critical[critical["expression"] == short]
        counts = here.groupby([here["access"].astype(int), here["observation"].astype(int)]).size()
        for (a, o), k in counts.sort_index().items():
            rows.append({"message": message, "access": a, "observation": o, "count": int(k), "n": len(here)})
    return pd.DataFrame(rows), source


def _beliefs(folder: Path) -> tuple[pd.DataFrame, dict]:
    frame, source = _read(folder, "0.beliefs.csv", ";")
    bins = [f"bin{k}" for k in range(11)]
    ratings = frame[bins].to_numpy(float)
    keep = ratings.sum(1) > 0
    frame, ratings = frame[keep], ratings[keep]
    normed = ratings / ratings.sum(1, keepdims=True)
    rows = []
    for (a, o), idx in frame.groupby(["access", "observation"]).indices.items():
        for k in range(11):
            rows.append({"access": int(a), "observation": int(o), "n_red": k, "mean": normed[idx, k].mean(),
                         "sd": normed[idx, k].std(ddof=1), "mean_rating": ratings[idx, k].mean(), "n": len(idx)})
    return pd.DataFrame(rows), source


def derived(folder: Path) -> dict[str, tuple[pd.DataFrame, dict]]:
    simple, s_src = simple_trials(folder)
    complex_, c_src = complex_trials(folder)
    return {
        "hf_simple_production.csv": (_production(simple, list(SIMPLE.values())), s_src),
        "hf_complex_production.csv": (_production(complex_, COMPLEX), c_src),
        "hf_simple_participants.csv": (simple, s_src),
        "hf_complex_participants.csv": (complex_, c_src),
        "hf_simple_interpretation.csv": _interpretation(folder, "1b.simple_interpretation.csv", ";", SIMPLE_SHORT),
        "hf_complex_interpretation.csv": _interpretation(folder, "2b.complex_interpretation.csv", ",", COMPLEX_SHORT),
        "hf_simple_critical.csv": _critical(folder, "1b.simple_interpretation.csv", ";", SIMPLE_SHORT),
        "hf_complex_critical.csv": _critical(folder, "2b.complex_interpretation.csv", ",", COMPLEX_SHORT),
        "hf_beliefs.csv": _beliefs(folder),
    }


def write(out_dir: Path, folder: Path | None = None) -> list[dict]:
    """Write every derived table into out_dir; returns their manifest entries."""
    tables = derived(folder or mirror())
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for filename, (table, source) in tables.items():
        path = out_dir / filename
        table.to_csv(path, index=False, float_format="%.6f", lineterminator="\n")
        entries.append({"file": filename, **source, "license": LICENSE, "citation": CITATION,
                        "rows": len(table), "sha256": _sha(path),
                        "command": "python data/scripts/derive_herbstritt_franke.py"})
    return entries



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write here instead of data/ (manifest untouched)")
    args = parser.parse_args(argv)
    try:
        entries = write(args.out or DATA_DIR)
    except (FileNotFoundError, InputError) as err:
        print(f"derive_herbstritt_franke: {err}", file=sys.stderr)
        return 2
    if args.out is None:
        manifest.update(entries)
    for e in entries:
        print(f"wrote {(args.out or DATA_DIR) / e['file']}: {e['rows']} rows, sha256 {e['sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
