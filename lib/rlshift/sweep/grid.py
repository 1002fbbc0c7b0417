"""A sweep's grid file, expanded into runs whose parameters are all checked before anything starts.

    executor: {kind: local, workers: 1}      # local | slurm | submitit-local | submitit-debug
    cache: shared                            # shared | per_job
    runs:
      - study: calibration
        profile: book                        # start from book/studies.yaml's profile (optional)
        parameters: {n_items: 200}           # the same in every run of this block
        grid: {model_pair: [llama-2-7b, llama-2-13b], seed: [0, 1]}   # every combination
        zip: {tasks: [[a], [b]], n_items: [10, 20]}                   # varied together

A run is identified by its notebook's code and its checked parameters (defaults filled in, the
score cache's place left out, as it changes no number): the same run in a later submission is
the same folder, so a finished one is skipped and an unfinished one resumes from its scores.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from rlshift import paths, runs
from rlshift.errors import InputError, closest, unknown

EXECUTORS = ("local", "slurm", "submitit-local", "submitit-debug")
CACHES = ("shared", "per_job")
TOP_KEYS = ("name", "executor", "cache", "cache_dir", "runs")
BLOCK_KEYS = ("study", "profile", "parameters", "grid", "zip")
EXECUTOR_KEYS = ("kind", "workers", "timeout_min", "gpus_per_node", "cpus_per_task", "mem_gb",
                 "slurm_partition", "slurm_array_parallelism", "slurm_additional_parameters", "slurm_setup")
NOT_IN_KEY = ("cache_dir",)  # where scores are kept changes no number


@dataclass(frozen=True)
class Run:
    study: str
    notebook: Path
    parameters: dict  # checked, defaults filled in
    point: dict  # the values this block varies, as the grid file wrote them
    key: str

    @property
    def name(self) -> str:
        return f"{self.study}-{self.key}"


@dataclass(frozen=True)
class Sweep:
    source: Path
    name: str
    executor: dict
    cache: str
    cache_dir: str | None
    runs: list[Run]


def notebook_code_sha(notebook: Path) -> str:
    """sha256 of a notebook's code cells: what it computes, not its outputs or metadata."""
    nb = nbformat.read(notebook, as_version=4)
    code = "\n\0".join(c.source for c in nb.cells if c.cell_type == "code")
    return hashlib.sha256(code.encode()).hexdigest()


def run_key(study: str, notebook: Path, parameters: dict) -> str:
    identity = {"study": study, "notebook": notebook_code_sha(notebook),
                "parameters": {k: v for k, v in parameters.items() if k not in NOT_IN_KEY}}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _mapping(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where} must be a mapping (name: value), got {type(value).__name__}.")
    return value


def _lists(value, where: str) -> dict:
    value = _mapping(value, where)
    for name, options in value.items():
        if not isinstance(options, list) or not options:
            raise InputError(f"{where}.{name} must be a non-empty list of values, got {options!r}.")
    return value


def _check_keys(found: dict, accepted: tuple, where: str) -> None:
    for key in found:
        if key not in accepted:
            raise InputError(f"{where}: unknown key {key!r}.{closest(key, accepted)} Accepted: {', '.join(accepted)}.")


def _points(grid: dict, zipped: dict, where: str) -> list[dict]:
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        raise InputError(f"{where}.zip: its lists must have one length, got "
                         f"{ {k: len(v) for k, v in zipped.items()} }.")
    both = set(grid) & set(zipped)
    if both:
        raise InputError(f"{where}: {sorted(both)} are in both 'grid' and 'zip'; a parameter is varied one way.")
    zip_points = [dict(zip(zipped, values)) for values in zip(*zipped.values())] or [{}]
    grid_points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    return [{**g, **z} for g in grid_points for z in zip_points]


def _block_runs(block, index: int, source: Path) -> list[Run]:
    where = f"{source}: runs[{index}]"
    block = _mapping(block, where)
    _check_keys(block, BLOCK_KEYS, where)
    table = runs.studies()
    study = block.get("study")
    if study not in table:
        raise unknown(f"{where}.study", study, table)
    base = {}
    if block.get("profile") is not None:
        if block["profile"] not in table[study]:
            raise InputError(f"{where}.profile: study {study!r} has no profile {block['profile']!r} in "
                             f"{runs.STUDIES_FILE}. Accepted: {', '.join(k for k in table[study] if k != 'notebook')}.")
        base = dict(table[study][block["profile"]] or {})
    fixed = _mapping(block.get("parameters"), f"{where}.parameters")
    varied = _points(_lists(block.get("grid"), f"{where}.grid"), _lists(block.get("zip"), f"{where}.zip"), where)
    notebook = paths.REPO_ROOT / table[study]["notebook"]
    schema = runs.schema_for(notebook)
    out = []
    for point in varied:
        values = {**base, **fixed, **point}
        try:
            checked = schema.validate(values)
        except InputError as err:
            raise InputError(f"{where}, the run {point or '(no varied parameters)'}: {err}") from err
        out.append(Run(study, notebook, checked, point, run_key(study, notebook, checked)))
    return out


def load(grid_file: str | Path) -> Sweep:
    """The grid file read and expanded; every run's parameters checked against its study's
    schema, so a typo fails here, before a job is submitted."""
    source = Path(grid_file)
    if not source.is_file():
        raise InputError(f"grid file {str(source)!r} does not exist or is not a file. Accepted: a YAML grid "
                         f"file (see book/sweeps/ for examples).")
    try:
        spec = yaml.safe_load(source.read_text())
    except yaml.YAMLError as err:
        raise InputError(f"grid file {source} is not valid YAML: {err}") from err
    spec = _mapping(spec, str(source))
    _check_keys(spec, TOP_KEYS, str(source))
    executor = dict(_mapping(spec.get("executor"), f"{source}: executor") or {"kind": "local"})
    _check_keys(executor, EXECUTOR_KEYS, f"{source}: executor")
    executor.setdefault("kind", "local")
    if executor["kind"] not in EXECUTORS:
        raise unknown(f"{source}: executor.kind", executor["kind"], EXECUTORS)
    cache = spec.get("cache", "per_job" if executor["kind"] == "slurm" else "shared")
    if cache not in CACHES:
        raise unknown(f"{source}: cache", cache, CACHES)
    blocks = spec.get("runs")
    if not isinstance(blocks, list) or not blocks:
        raise InputError(f"{source}: 'runs' must be a non-empty list of blocks ({', '.join(BLOCK_KEYS)}).")
    all_runs: dict[str, Run] = {}
    for i, block in enumerate(blocks):
        for run in _block_runs(block, i, source):
            all_runs.setdefault(run.name, run)  # the same run named twice is run once
    return Sweep(source, str(spec.get("name") or source.stem), executor, cache, spec.get("cache_dir"),
                 list(all_runs.values()))
