"""Sweeps: grids expanded and checked before anything starts, runs that resume after a job is
killed, SLURM submissions as one job array, the collected table, and the comparison page."""
from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rlshift import cache, cli, paths, results, sweep
from rlshift.errors import InputError
from tests.conftest import executed, notebook_text

TINY = {"tasks": ["copa:cloze:0"], "n_items": 4, "readings": ["options"], "quantization_check": [],
        "include_sft": False, "include_dpo": False, "n_boot": 50, "n_folds": 2, "temperatures": [1.0], "prompt_format": "raw"}


def write_grid(path: Path, executor: dict, runs: list[dict], cache_mode: str = "per_job") -> Path:
    path.write_text(yaml.safe_dump({"name": path.stem, "executor": executor, "cache": cache_mode, "runs": runs}))
    return path


# ------------------------------------------------------------------ the grid

def test_grid_expands_products_and_zips_and_checks_every_run(tmp_path):
    grid = write_grid(tmp_path / "g.yaml", {"kind": "local"}, [
        {"study": "calibration", "profile": "quick", "parameters": {"n_items": 5},
         "grid": {"seed": [0, 1, 2], "model_pair": ["embedded", "embedded-families"]}},
        {"study": "calibration", "parameters": TINY, "zip": {"seed": [0, 1], "n_items": [4, 6]}},
        {"study": "calibration", "parameters": TINY, "zip": {"seed": [0], "n_items": [4]}},  # a repeat: run once
    ])
    plan = sweep.load(grid)
    assert len(plan.runs) == 6 + 2
    first = plan.runs[0]
    quick = cli.studies()["calibration"]["quick"]
    assert first.parameters["tasks"] == quick["tasks"] and first.parameters["n_items"] == 5  # profile, then fixed
    assert first.parameters["alpha"] == 0.05  # defaults filled in
    assert {(r.point["seed"], r.point["n_items"]) for r in plan.runs[6:]} == {(0, 4), (1, 6)}
    assert len({r.key for r in plan.runs}) == 8


def test_run_key_ignores_the_cache_folder_and_follows_the_notebook_code(tmp_path):
    notebook = paths.REPO_ROOT / "notebooks" / "calibration.ipynb"
    params = cli.schema_for(notebook).validate(dict(TINY))
    key = sweep.grid.run_key("calibration", notebook, params)
    assert sweep.grid.run_key("calibration", notebook, dict(params, cache_dir="/elsewhere")) == key
    assert sweep.grid.run_key("calibration", notebook, dict(params, seed=1)) != key
    edited = tmp_path / "calibration.ipynb"
    nb = json.loads(notebook.read_text())
    nb["cells"][-1]["source"] = ["print('changed')\n"] if nb["cells"][-1]["cell_type"] == "code" else nb["cells"][-1]["source"]
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "x", "metadata": {}, "outputs": [],
                        "source": ["1 + 1\n"]})
    edited.write_text(json.dumps(nb))
    assert sweep.grid.run_key("calibration", edited, params) != key


@pytest.mark.parametrize("runs, executor, message", [
    ([{"study": "calibratoin"}], {"kind": "local"}, "unknown g.yaml: runs[0].study 'calibratoin'. Did you mean 'calibration'?"),
    ([{"study": "calibration", "grid": {"n_itmes": [1, 2]}}], {"kind": "local"}, "unknown parameter 'n_itmes'"),
    ([{"study": "calibration", "grid": {"n_items": [5, 0]}}], {"kind": "local"}, "the run {'n_items': 0}: parameter 'n_items'=0 is out of range"),
    ([{"study": "calibration", "zip": {"seed": [0, 1], "n_items": [4]}}], {"kind": "local"}, "its lists must have one length"),
    ([{"study": "calibration", "grid": {"seed": 3}}], {"kind": "local"}, "runs[0].grid.seed must be a non-empty list"),
    ([{"study": "calibration", "profile": "paper"}], {"kind": "local"}, "has no profile 'paper'"),
    ([{"study": "calibration", "seeds": [1]}], {"kind": "local"}, "unknown key 'seeds'"),
    ([{"study": "calibration"}], {"kind": "pbs"}, "unknown g.yaml: executor.kind 'pbs'"),
    ([{"study": "calibration"}], {"kind": "local", "partition": "gpu"}, "unknown key 'partition'. Did you mean 'slurm_partition'?"),
])
def test_bad_grid_files_are_refused_before_anything_starts(tmp_path, monkeypatch, runs, executor, message):
    monkeypatch.chdir(tmp_path)
    write_grid(tmp_path / "g.yaml", executor, runs)
    with pytest.raises(InputError) as err:
        sweep.load(Path("g.yaml"))
    assert message in str(err.value)
    assert not (tmp_path / "sweeps").exists()


def test_dry_run_lists_the_runs_and_writes_nothing(tmp_path, capsys):
    grid = write_grid(tmp_path / "g.yaml", {"kind": "local"}, [
        {"study": "calibration", "parameters": TINY, "grid": {"seed": [0, 1], "n_items": [4, 5]}}])
    assert cli.main(["sweep", str(grid), "--dir", str(tmp_path / "sw"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("\nrun ") + out.startswith("run ") == 4 and "4 runs: 0 finished" in out
    assert not (tmp_path / "sw").exists()


# ------------------------------------------------------------------ SLURM, with stand-ins for its commands

def fake_slurm(bin_dir: Path, log: Path, states: str = "") -> None:
    bin_dir.mkdir()
    scripts = {"srun": "exit 0",
               "sbatch": f'echo "$@" >> {log}; cat "$@" >> {log}; echo "Submitted batch job 4242"',
               "sacct": f"printf 'JobID|State|NodeList\\n{states}'"}
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)


def test_slurm_sweep_is_one_job_array_with_the_grid_settings_and_is_not_submitted_twice(tmp_path, monkeypatch):
    log = tmp_path / "sbatch.log"
    executor = {"kind": "slurm", "slurm_partition": "gpu_4", "gpus_per_node": 1, "cpus_per_task": 8, "mem_gb": 64,
                "timeout_min": 480, "slurm_array_parallelism": 3, "slurm_setup": ["module load devel/cuda/12.4"]}
    grid = write_grid(tmp_path / "g.yaml", executor, [
        {"study": "calibration", "parameters": TINY, "grid": {"seed": [0, 1], "n_items": [4, 5]}}])
    fake_slurm(tmp_path / "bin", log, states="4242_0|RUNNING|node1\\n4242_1|PENDING|\\n4242_2|FAILED|node2\\n"
                                             "4242_3|TIMEOUT|node2\\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    plan = sweep.load(grid)
    report = sweep.run_sweep(plan, tmp_path / "sw")
    assert [j.job_id for j in report["jobs"]] == ["4242_0", "4242_1", "4242_2", "4242_3"]
    submitted = log.read_text()
    for line in ("#SBATCH --array=0-3%3", "#SBATCH --partition=gpu_4", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --mem=64GB", "#SBATCH --time=480", "module load devel/cuda/12.4"):
        assert line in submitted, line
    assert report["errors"] == {}  # SLURM jobs are not waited for unless asked
    for run, job in zip(plan.runs, report["jobs"]):
        run_dir = sweep.run_folder(tmp_path / "sw", run)
        info = json.loads((run_dir / "job.json").read_text())
        assert info["job_id"] == job.job_id and os.readlink(run_dir / "job.out").endswith("_log.out")
        spec = json.loads((run_dir / "run.json").read_text())
        assert spec["parameters"]["cache_dir"] == str((run_dir / "scores").resolve())  # per-job caches on a cluster
    # submitted again (from the grid copy the sweep keeps): the running and pending jobs are left
    # alone, the failed and timed-out ones go again
    again = sweep.run_sweep(sweep.load(tmp_path / "sw" / "grid.yaml"), tmp_path / "sw")
    assert [d.name for d in again["in_flight"]] == [r.name for r in plan.runs[:2]]
    assert [d.name for d in again["todo"]] == [r.name for r in plan.runs[2:]]


def test_slurm_without_its_commands_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    grid = write_grid(tmp_path / "g.yaml", {"kind": "slurm"}, [{"study": "calibration", "parameters": TINY}])
    with pytest.raises(InputError, match="run `rlshift sweep` on the cluster's login node"):
        sweep.run_sweep(sweep.load(grid), tmp_path / "sw")


# ------------------------------------------------------------------ a 2x2 that is killed and resumed

def test_a_killed_job_is_the_only_work_a_resubmitted_sweep_does(tmp_path):
    """Four runs as submitit local jobs (a cluster stand-in); one is killed mid-run (SIGKILL of its
    process and its kernel, as a failing node or the OOM killer does); the grid submitted again
    redoes only that one, resuming from its scores, and the collected table has every run's
    recorded rows."""
    grid = write_grid(tmp_path / "g.yaml", {"kind": "submitit-local", "timeout_min": 30}, [
        {"study": "calibration", "parameters": dict(TINY, tasks=["piqa:cloze:0"]), "grid": {"seed": [0, 1], "n_items": [4, 40]}}])
    plan = sweep.load(grid)
    folder = tmp_path / "sw"
    report = sweep.run_sweep(plan, folder, wait=False)
    jobs, dirs = report["jobs"], report["todo"]
    victim, victim_dir = jobs[-1], dirs[-1]
    scores = victim_dir / "scores" / cache.FILE  # the victim scores 40 PIQA items per model: 10 batches to cut into

    def scored() -> int:
        if not scores.exists():
            return 0
        db = sqlite3.connect(f"{scores.as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
        except sqlite3.OperationalError:  # the table is not made yet
            return 0
        finally:
            db.close()

    deadline = time.time() + 600
    while not scored():
        assert time.time() < deadline and victim.state == "RUNNING", "the job to kill never scored anything"
        time.sleep(0.2)
    import psutil  # ipykernel's dependency: the run's process and its kernel, killed as a failing node would

    task = psutil.Process(json.loads((victim_dir / "started.json").read_text())["pid"])
    for process in [*task.children(recursive=True), task]:
        process.kill()
    others = sweep.executors.wait_for(jobs[:-1], dirs[:-1])
    assert all(err is None for err in others.values()), others
    sweep.executors.wait_for([victim], [victim_dir])
    assert not sweep.finished(victim_dir)
    kept = cache.ScoreCache(victim_dir / "scores")
    scored_before = len(kept)
    kept.close()
    assert scored_before > 0
    runs_t = sweep.runs_table(folder)
    assert sorted(runs_t["status"]) == ["finished"] * 3 + ["started, not finished"]
    done_at = {d: (d / "calibration.ipynb").stat().st_mtime for d in dirs[:-1]}

    again = sweep.run_sweep(plan, folder)
    assert again["todo"] == [victim_dir] and sorted(again["finished"]) == sorted(dirs[:-1])
    assert again["errors"] == {victim_dir: None}
    assert {d: (d / "calibration.ipynb").stat().st_mtime for d in dirs[:-1]} == done_at  # not redone

    assert cli.main(["collect", str(folder)]) == 0
    table = pd.read_parquet(folder / "results.parquet")
    recorded = sum(len(t) for d in dirs for t in results.read(d / "calibration.results").values())
    assert len(table) == recorded and table["run"].nunique() == 4
    summary = table[table["table"] == "summary"]
    assert sorted(zip(summary["param.seed"], summary["param.n_items"], summary["n"])) == [
        (0, 4, 4), (0, 4, 4), (0, 40, 40), (0, 40, 40), (1, 4, 4), (1, 4, 4), (1, 40, 40), (1, 40, 40)]  # base and tuned
    merged = cache.ScoreCache(folder / "scores")
    assert len(merged) >= scored_before
    merged.close()
    assert (victim_dir / "job.out").exists() and (victim_dir / "kernel.log").exists()


def test_collect_refuses_a_folder_that_is_not_a_sweep(tmp_path):
    with pytest.raises(InputError, match="is not a sweep folder"):
        sweep.collect(tmp_path)


# ------------------------------------------------------------------ recorded tables and merged caches

def test_record_writes_parquet_only_when_a_run_asks_for_it(tmp_path, monkeypatch):
    table = pd.DataFrame({"role": ["base", "tuned"], "value": [0.1, 0.2], "mixed": [[1, 2], "x"]})
    monkeypatch.delenv(results.ENV, raising=False)
    assert results.record("summary", table) is table
    monkeypatch.setenv(results.ENV, str(tmp_path / "r"))
    results.record("summary", table)
    back = results.read(tmp_path / "r")["summary"]
    assert list(back["value"]) == [0.1, 0.2] and list(back["mixed"]) == ["[1, 2]", "x"]
    with pytest.raises(InputError, match="result name 'Summary table'"):
        results.record("Summary table", table)
    assert results.folder_for(Path("book/executed/calibration.ipynb")) == Path("book/executed/calibration.results")


def test_merging_job_caches_adds_each_score_once(tmp_path):
    def rows(tag, n):
        return [{"key": f"{tag}{i}", "model": "m", "verb": "v", "template": "t", "data_version": "d",
                 "item_id": str(i), "params": {}, "value": [i]} for i in range(n)]
    for name, batch in (("a", rows("k", 5)), ("b", rows("k", 3) + rows("j", 4))):
        store = cache.ScoreCache(tmp_path / name)
        store.put_many(batch)
        store.close()
    target = cache.ScoreCache(tmp_path / "merged")
    assert target.merge_from(tmp_path / "a") == 5
    assert target.merge_from(tmp_path / "b") == 4
    assert target.merge_from(tmp_path / "b") == 0
    assert len(target) == 9 and target.get_many(["j2"]) == {"j2": [2]}
    target.close()


# ------------------------------------------------------------------ the comparison page (quick profile)

def test_comparison_page_runs_the_quick_sweep_and_computes_its_verdicts(quick_book):
    nb = executed(quick_book, "sweep_comparison")
    text = notebook_text(nb)
    folder = quick_book / "sweeps" / "quick"
    runs_t = pd.read_parquet(folder / "runs.parquet")
    assert sorted(runs_t["param.model_pair"]) == ["embedded", "embedded-families"]
    assert set(runs_t["status"]) == {"finished"}
    table = pd.read_parquet(folder / "results.parquet")
    effects = table[(table["table"] == "contrasts") & (table["metric"] == "ece") & (table["contrast"] == "tuning | raw")]
    for pair, group in effects.groupby("param.model_pair"):
        from rlshift import stats
        pooled = stats.random_effects(group["estimate"], group["ci_low"], group["ci_high"])
        assert f"`{pair}`: {pooled['estimate']:+.3f}" in text
    assert "not tested against each other" in text
    assert "IPKernelApp" not in text  # the runs' kernel messages go to their kernel.log


def test_the_shipped_grids_and_the_readme_example_load(tmp_path):
    import re

    for grid in sorted((paths.REPO_ROOT / "book" / "sweeps").glob("*.yaml")):
        assert sweep.load(grid).runs, grid
    readme = (paths.REPO_ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n(# mygrid.yaml\n.*?)```", readme, re.S).group(1)
    (tmp_path / "mygrid.yaml").write_text(block)
    plan = sweep.load(tmp_path / "mygrid.yaml")
    assert [r.point for r in plan.runs] == [{"model_pair": p, "seed": s} for p in ("llama-2-7b", "llama-2-13b")
                                           for s in (0, 1, 2)]


def constructed_collection() -> pd.DataFrame:
    rows = []
    for pair, effects in (("a", [(0.10, 0.05, 0.15, 0.01), (0.08, 0.01, 0.15, 0.03), (-0.02, -0.09, 0.05, 0.6)]),
                          ("b", [(-0.05, -0.08, -0.02, 0.002)])):
        for task, (est, low, high, p) in zip(("t1", "t2", "t3"), effects):
            rows.append({"run": f"run-{pair}", "table": "contrasts", "param.model_pair": pair, "task": task,
                         "reading": "options", "metric": "ece", "contrast": "tuning | raw", "estimate": est,
                         "ci_low": low, "ci_high": high, "p_holm": p})
            for role, value in (("base", 0.2), ("tuned", 0.2 + est)):
                rows.append({"run": f"run-{pair}", "table": "summary", "param.model_pair": pair, "task": task,
                             "format": "raw", "reading": "options", "role": role, "ece": value,
                             "ece_low": value - 0.05, "ece_high": value + 0.05})
    return pd.DataFrame(rows)


def test_comparison_tables_and_verdicts_follow_the_recorded_effects():
    from rlshift import stats
    from rlshift.studies import sweep_comparison as sc

    collected = constructed_collection()
    metric_t = sc.metric_table(sc.recorded(collected, "summary", {"reading": "options"}), "ece", None,
                               ["task", "format"], "role", "model_pair")
    assert len(metric_t) == 8 and set(metric_t["row"]) == {"t1 · raw", "t2 · raw", "t3 · raw"}
    with pytest.raises(InputError, match="column 'ece_hi' is not in the table"):
        sc.metric_table(sc.recorded(collected, "summary", {}), "ece", ["ece_low", "ece_hi"], ["task"], "role", "model_pair")
    effects = sc.recorded(collected, "contrasts", {"metric": "ece", "contrast": "tuning | raw"})
    pooled = sc.pooled_effects(effects, "model_pair", 0.05).set_index("compared")
    want = stats.random_effects([0.10, 0.08, -0.02], [0.05, 0.01, -0.09], [0.15, 0.15, 0.05])
    assert pooled.loc["a", "estimate"] == pytest.approx(want["estimate"])
    assert (pooled.loc["a", "tasks_up"], pooled.loc["a", "tasks_down"]) == (2, 0)
    assert (pooled.loc["b", "tasks_up"], pooled.loc["b", "tasks_down"]) == (0, 1)
    text = sc.verdicts(pooled.reset_index(), "model_pair", "tuning | raw", "ece", 0.05, {"b": "Not controlled."})
    verdict_a = "differs from zero" if want["p_value"] < 0.05 else "is not distinguishable from zero"
    assert f"`a`: {want['estimate']:+.3f} [{want['ci_low']:+.3f}, {want['ci_high']:+.3f}] over 3 tasks" in text
    assert verdict_a in text.split("\n")[1]
    assert "`b`: -0.050 from 1 task(s): too few to pool; per task (Holm within the run), 0 up and 1 down of 1. *Not controlled.*" in text
    assert "nothing is pooled" in sc.verdicts(pd.DataFrame(), "model_pair", "tuning | raw", "ece", 0.05)
