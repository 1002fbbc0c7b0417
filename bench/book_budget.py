"""The main job's time and memory budget: every chapter's book profile from an empty cache (prints a table).

    python bench/book_budget.py [--studies tuned_pair calibration] [--profile book] [--no-warm]
                                [--rerun] [--write-timings] [--keep DIR]

A temporary RLSHIFT_CACHE_DIR (the downloaded wheels linked in, nothing else: models are
converted, reward models trained and every score computed afresh, as for a new user) serves
the chapters in the book's order, so what one chapter computes for another is reused as in
`make book`; each chapter runs in its own process, so its peak RSS (the kernel's) is its own,
and the book is built from the executed copies. Seconds per engine verb, training run and model
load come from RLSHIFT_TIMINGS (`rlshift.timings`); each chapter's headline effects are printed
with their intervals' half-widths, what the profile's sizes reach. The warm rebuild is a second
`rlshift book` over the same folder: only chapters whose inputs changed run again
(`runs.fingerprint`), then the book is built again; `--rerun` also re-executes every chapter on
the filled cache. Then generation's tokens/s batched vs one prompt at a time is measured on the
same prompts (bench/generation_throughput.py). `--write-timings` stores each chapter's per-cell
seconds in book/timings.json, from which `rlshift book` estimates the time left on a fresh
clone. This is a benchmark, not a test: read its figures.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

RUN_ONE = """
import json, resource, sys, time
from pathlib import Path
from rlshift import cli
notebook, output, params, profile = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
took = cli.execute(notebook, output, params, quiet=True, profile=profile)
print(json.dumps({"seconds": took, "peak_rss_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2 ** 20}))
"""
VERB_GROUPS = {"choice": "score", "continuation": "score", "sequence": "score", "layers": "score",
               "reward": "score", "generate": "generate", "train": "train", "load": "load"}


def folder(label: str) -> str:
    """The warm rebuild works over the cold run's folder, as a second `rlshift book` does."""
    return "cold" if label == "warm" else label


def run_chapter(name: str, entry: dict, profile: str, work: Path, env: dict, label: str) -> dict:
    """One chapter's run. `warm` is a second `rlshift book` over the cold run's folder: a chapter
    whose executed copy carries its inputs' fingerprint is not run again; `rerun` re-executes
    every chapter on the filled cache into a folder of its own."""
    from rlshift import runs

    notebook = ROOT / entry["notebook"]
    out = work / folder(label) / "book" / "executed" / notebook.name
    log = work / f"{label}-{name}.jsonl"
    log.unlink(missing_ok=True)  # RLSHIFT_TIMINGS appends: an earlier run's seconds are not this run's
    params = dict(entry.get(profile) or {})
    if notebook.stem == "summary":  # it reads the chapters this run executed, as `rlshift book`'s does
        params.setdefault("results_root", str(out.parent))
    if label == "warm":
        start = time.time()
        if runs.up_to_date(out, runs.fingerprint(notebook, params, profile)):
            return {"chapter": name, "run": label, "minutes": (time.time() - start) / 60, "peak_rss_gb": 0.0,
                    "executed": out}
    proc = subprocess.run([sys.executable, "-c", RUN_ONE, str(notebook), str(out), json.dumps(params), profile],
                          env=env | {"RLSHIFT_TIMINGS": str(log)}, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{name} failed ({label}); its executed notebook: {out}\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    verbs: dict[str, float] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        rec = json.loads(line)
        group = VERB_GROUPS.get(rec["verb"], rec["verb"])
        verbs[group] = verbs.get(group, 0.0) + rec["seconds"]
    return {"chapter": name, "run": label, "minutes": result["seconds"] / 60, "peak_rss_gb": result["peak_rss_gb"],
            **{f"{g}_min": verbs.get(g, 0.0) / 60 for g in ("score", "generate", "train", "load")},
            "executed": out}


def build(work: Path, label: str) -> float:
    from rlshift import cli

    root = work / label
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "book", root / "book", ignore=shutil.ignore_patterns("executed"), dirs_exist_ok=True)
    start = time.time()
    cli.build_book(root)
    return time.time() - start


def write_timings(rows: list[dict], profile: str) -> None:
    import nbformat

    from rlshift import progress

    table = json.loads(progress.TIMINGS.read_text()) if progress.TIMINGS.exists() else {}
    for r in rows:
        cells = progress.code_durations(nbformat.read(r["executed"], as_version=4))
        table.setdefault(r["chapter"], {})[profile] = {
            "cells": [round(c, 1) for c in cells], "machine": f"{os.cpu_count()} cores, cold cache",
            "measured": time.strftime("%Y-%m-%d")}
    progress.TIMINGS.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {progress.TIMINGS}")


def headline_widths(rows: list[dict]) -> "pd.DataFrame":
    """Each chapter's recorded headline effects with their 95% intervals' half-widths: what a
    profile's sizes buy (issue 23: a profile is sized by the statistics it reaches)."""
    import pandas as pd

    from rlshift import results

    frames = []
    for r in rows:
        table = results.read(results.folder_for(r["executed"])).get("headline")
        if table is not None and len(table):
            frames.append(table.assign(chapter=r["chapter"], half_width=(table["ci_high"] - table["ci_low"]) / 2))
    cols = ["chapter", *(c if c != "ci_low" else "half_width" for c in results.HEADLINE if c != "ci_high")]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def main() -> None:
    import pandas as pd

    from rlshift import cli, paths

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", nargs="*", help="default: every chapter in book/studies.yaml")
    parser.add_argument("--profile", default="book")
    parser.add_argument("--no-warm", action="store_true", help="skip the warm rebuild (a second `rlshift book`)")
    parser.add_argument("--rerun", action="store_true",
                        help="also re-execute every chapter on the filled cache (what a changed library costs)")
    parser.add_argument("--no-generation", action="store_true", help="skip the generation tokens/s measurement")
    parser.add_argument("--write-timings", action="store_true", help="store per-cell seconds in book/timings.json")
    parser.add_argument("--keep", type=Path, help="work in this folder (kept) instead of a temporary one")
    args = parser.parse_args()
    table = cli.studies()
    chosen = args.studies or list(table)
    work = args.keep or Path(tempfile.mkdtemp(prefix="book_budget-"))
    cache = work / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    wheels = paths.cache_dir() / "wheels"
    if wheels.exists() and not (cache / "wheels").exists():
        (cache / "wheels").symlink_to(wheels)
    env = dict(os.environ, RLSHIFT_CACHE_DIR=str(cache))
    rows = []
    for label in ("cold",) + (() if args.no_warm else ("warm",)) + (("rerun",) if args.rerun else ()):
        for name in chosen:
            rows.append(run_chapter(name, table[name], args.profile, work, env, label))
            r = rows[-1]
            print(f"{label} {name}: {r['minutes']:.1f} min, peak {r['peak_rss_gb']:.1f} GB", flush=True)
        if set(chosen) == set(table):  # the book's toc names every chapter: a subset does not build
            rows.append({"chapter": "(book build)", "run": label,
                         "minutes": build(work, folder(label)) / 60})
    frame = pd.DataFrame(rows).drop(columns="executed")
    totals = frame.groupby("run", sort=False)[["minutes", "score_min", "generate_min", "train_min", "load_min"]].sum()
    totals["peak_rss_gb"] = frame.groupby("run", sort=False)["peak_rss_gb"].max()
    totals = totals.reset_index().assign(chapter="TOTAL")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 2):
        print(pd.concat([frame, totals], ignore_index=True).astype(object).fillna("").to_string(index=False))
    print(f"work folder: {work}  ({os.cpu_count()} cores, profile {args.profile})")
    widths = headline_widths([r for r in rows if r["run"] == "cold" and "executed" in r])
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_rows", 500,
                           "display.precision", 3, "display.max_colwidth", 40):
        print("headline effects and their 95% intervals' half-widths (cold run):")
        print(widths.to_string(index=False))
    if args.write_timings:
        write_timings([r for r in rows if r["run"] == "cold" and "executed" in r], args.profile)
    if not args.no_generation:
        import generation_throughput

        gen = [r for m in generation_throughput.MODELS
               for r in generation_throughput.measure(m, 16, [8, 16], 32, "fp32")]
        with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 2):
            print(pd.DataFrame(gen).to_string(index=False))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
