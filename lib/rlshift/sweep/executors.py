"""Where a sweep's runs execute: a local process pool (the default), or submitit's executors
(SLURM on a cluster; its local and debug executors stand in for a cluster in the tests).

Each run lives in `SWEEP/runs/<study>-<key>/`: `run.json` (what to run), the executed notebook,
its recorded tables (`<study>.results/`), and `finished.json` once it has finished, written last.
A run without `finished.json` (never started, failed, killed, timed out) is done again by the
next submission, resuming from its scores; a finished one is skipped.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import shutil
import time
import traceback
from pathlib import Path

from rlshift import paths, runs
from rlshift.errors import InputError
from rlshift.sweep.grid import Run, Sweep

FINISHED = "finished.json"
FAILED = "failed.json"
SUBMITIT_CLUSTERS = {"slurm": "slurm", "submitit-local": "local", "submitit-debug": "debug"}


def run_folder(folder: Path, run: Run) -> Path:
    return Path(folder) / "runs" / run.name


def finished(run_dir: Path) -> bool:
    return (Path(run_dir) / FINISHED).exists()


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=str))
    tmp.replace(path)


IN_FLIGHT = ("PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING")


def in_flight(run_dir: Path) -> str | None:
    """The SLURM state of a run's last job while it is queued or running (so submitting the grid
    again does not start it twice); None when it is not, or was never submitted to SLURM."""
    job_file = Path(run_dir) / "job.json"
    if finished(run_dir) or not job_file.exists():
        return None
    job = json.loads(job_file.read_text())
    if job.get("cluster") != "slurm":
        return None
    import submitit

    state = submitit.SlurmJob(folder=Path(job["stdout"]).parent, job_id=job["job_id"]).state
    return state if state.split()[0] in IN_FLIGHT else None


def prepare(sweep: Sweep, folder: Path) -> list[tuple[Run, Path, bool]]:
    """Every run's folder with its `run.json`; (run, folder, finished already)."""
    folder = paths.check_folder_to_make(folder, "sweep folder")
    out = []
    for run in sweep.runs:
        run_dir = run_folder(folder, run)
        run_dir.mkdir(parents=True, exist_ok=True)
        parameters = dict(run.parameters)
        if sweep.cache == "per_job":
            parameters["cache_dir"] = str((run_dir / "scores").resolve())
        elif sweep.cache_dir:
            parameters["cache_dir"] = sweep.cache_dir
        spec = {"study": run.study, "notebook": str(run.notebook), "key": run.key, "point": run.point,
                "parameters": parameters, "cache": sweep.cache, "sweep": sweep.name}
        if not finished(run_dir):
            _write_json(run_dir / "run.json", spec)
        out.append((run, run_dir, finished(run_dir)))
    copy = Path(folder) / "grid.yaml"
    if not (copy.exists() and copy.samefile(sweep.source)):  # the grid as last submitted, beside its runs
        shutil.copyfile(sweep.source, copy)
    return out


@contextlib.contextmanager
def _stderr_to(path: Path):
    """This process's stderr (file descriptor 2, which the run's kernel inherits) into a log file."""
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def execute_run(run_dir: str) -> dict:
    """One run, start to finish (the body of a pool task or a submitit job); the kernel's own
    messages go to `kernel.log` beside the notebook."""
    run_dir = Path(run_dir)
    spec = json.loads((run_dir / "run.json").read_text())
    (run_dir / FAILED).unlink(missing_ok=True)
    _write_json(run_dir / "started.json", {"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "pid": os.getpid(),
                                           "host": os.uname().nodename})
    output = run_dir / f"{spec['study']}.ipynb"
    try:
        with _stderr_to(run_dir / "kernel.log"):
            seconds = runs.execute(Path(spec["notebook"]), output, spec["parameters"], quiet=True)
    except Exception as err:
        _write_json(run_dir / FAILED, {"error": f"{type(err).__name__}: {err}",
                                       "traceback": traceback.format_exc()})
        raise
    done = {"seconds": round(seconds, 1), "at": time.strftime("%Y-%m-%dT%H:%M:%S"), "notebook": output.name}
    _write_json(run_dir / FINISHED, done)
    return done


def _settle(run_dir: Path, wait) -> str | None:
    """`wait()` for one run; its error in one line (None when it finished), said as it lands."""
    try:
        wait()
        error = None
    except Exception as err:  # reported; the other runs go on
        text = str(err).strip()
        error = f"{type(err).__name__}: {text.splitlines()[-1] if text else ''}"
    print(f"{'finished' if error is None else 'FAILED  '} {run_dir.name}", flush=True)
    return error


def _run_here(todo: list[Path]) -> dict[Path, str | None]:
    """One run after another in this process (each is its own kernel): one worker needs no pool."""
    return {run_dir: _settle(run_dir, lambda d=run_dir: execute_run(str(d))) for run_dir in todo}


def _run_in_pool(todo: list[Path], workers: int) -> dict[Path, str | None]:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter per worker: no forked torch state
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(execute_run, str(d)): d for d in todo}
        return {futures[f]: _settle(futures[f], f.result) for f in concurrent.futures.as_completed(futures)}


def submitit_executor(settings: dict, folder: Path):
    """A submitit AutoExecutor from the grid file's executor settings; the job's time limit
    defaults to four hours (submitit's local executor would otherwise stop a job after two minutes)."""
    try:
        import submitit
    except ImportError as err:
        raise InputError(f"executor.kind {settings['kind']!r} runs through submitit, which is not installed: "
                         f"pip install 'rlshift[cluster]' (or submitit). Accepted without it: kind local.") from err

    cluster = SUBMITIT_CLUSTERS[settings["kind"]]
    if cluster == "slurm" and not shutil.which("srun"):
        raise InputError("executor.kind 'slurm' submits with SLURM's sbatch and srun, which are not on PATH here: "
                         "run `rlshift sweep` on the cluster's login node. Accepted here: kind local (a process "
                         "pool), submitit-local or submitit-debug.")
    executor = submitit.AutoExecutor(folder=str(Path(folder) / "jobs" / "%j"), cluster=cluster)
    options = {k: v for k, v in settings.items() if k not in ("kind", "workers")}
    options.setdefault("timeout_min", 240)
    executor.update_parameters(name="rlshift", **options)
    return executor


def _link_logs(job, run_dir: Path, cluster: str) -> None:
    """The job's id and logs beside its notebook (submitit writes them under SWEEP/jobs/)."""
    _write_json(run_dir / "job.json", {"job_id": job.job_id, "cluster": cluster,
                                       "stdout": str(job.paths.stdout), "stderr": str(job.paths.stderr)})
    for name, target in (("job.out", job.paths.stdout), ("job.err", job.paths.stderr)):
        link = run_dir / name
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(target, run_dir))


def submit_jobs(todo: list[Path], settings: dict, folder: Path) -> list:
    """The runs as one submitit batch (a job array on SLURM); returns the jobs."""
    executor = submitit_executor(settings, folder)
    with executor.batch():
        jobs = [executor.submit(execute_run, str(d)) for d in todo]
    for job, run_dir in zip(jobs, todo):
        _link_logs(job, run_dir, executor.cluster)
    return jobs


def wait_for(jobs: list, todo: list[Path]) -> dict[Path, str | None]:
    """Each submitit job's outcome (a failed or killed one is reported; the others still collected)."""
    return {run_dir: _settle(run_dir, job.result) for job, run_dir in zip(jobs, todo)}


def run_sweep(sweep: Sweep, folder: Path, *, dry_run: bool = False, wait: bool | None = None) -> dict:
    """Submit what is missing. Local runs are waited for; SLURM jobs are waited for only when
    `wait` is true. Returns {"finished": [...], "todo": [...], "errors": {...}, "jobs": [...]}."""
    planned = prepare(sweep, folder) if not dry_run else [(r, run_folder(folder, r), finished(run_folder(folder, r)))
                                                          for r in sweep.runs]
    flying = {d: in_flight(d) for _, d, done in planned if not done and sweep.executor["kind"] == "slurm"}
    todo = [d for _, d, done in planned if not done and not flying.get(d)]
    report = {"finished": [d for _, d, done in planned if done], "todo": todo, "errors": {}, "jobs": [],
              "in_flight": [d for d, state in flying.items() if state]}
    for run, run_dir, done in planned:
        status = "skip (finished)" if done else f"skip ({flying[run_dir].lower()})" if flying.get(run_dir) else "run"
        print(f"{status:16s} {run.name}  {json.dumps(run.point, default=str)}")
    flying_text = f"{len(report['in_flight'])} queued or running, " if report["in_flight"] else ""
    print(f"{len(planned)} runs: {len(report['finished'])} finished, {flying_text}{len(todo)} to run "
          f"({sweep.executor['kind']} executor, {sweep.cache} score cache)", flush=True)
    if dry_run or not todo:
        return report
    kind = sweep.executor["kind"]
    if kind == "local":
        workers = sweep.executor.get("workers", 1)
        if not isinstance(workers, int) or workers < 1:
            raise InputError(f"{sweep.source}: executor.workers={workers!r}; accepted: a whole number, 1 or more.")
        report["errors"] = _run_in_pool(todo, workers) if workers > 1 else _run_here(todo)
        return report
    jobs = submit_jobs(todo, sweep.executor, folder)
    report["jobs"] = jobs
    print("submitted " + ", ".join(f"{d.name}: job {j.job_id}" for j, d in zip(jobs, todo)), flush=True)
    if wait if wait is not None else kind != "slurm":
        report["errors"] = wait_for(jobs, todo)
    return report
