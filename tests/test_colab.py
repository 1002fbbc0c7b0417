"""Colab, tested by simulation (issue 24, item 2): every notebook opened "in Colab" installs the
project with its own setup cell and imports it from the clone; three chapters run their quick
profile to the verdicts there (which, and why, below).

The simulated runtime, built once per run in a temporary folder:
- A fresh virtualenv holding only "Colab's own" packages: this machine's CPU torch (the project
  venv's exact build, `torch==<version>+cpu`, a wheel on this disk; pip is never allowed to fetch
  another torch: a constraint file pins it, for the setup cell's pip too), numpy (the project
  venv's version; torch binds it at import, and the setup cell imports torch before installing)
  and ipykernel.
  Python: Colab has 3.12; this machine has a Python 3.12 (pyenv 3.12.1) but no torch for it that
  is not a multi-GB download (PyPI's Linux torch wheels are CUDA builds; the CPU wheel on disk is
  cp311), so the venv uses this interpreter's Python (3.11).
- `google.colab` is a stub package (a PEP 420 namespace `google`: protobuf lives there too) that
  the kernel imports before anything else, as Colab's kernel launcher does: the kernel spec
  `python3` (first on a temporary JUPYTER_PATH, so kernels a notebook starts itself, e.g. a
  sweep's runs, are Colab kernels too) runs `colab_kernel_launcher`, which imports it and then
  starts ipykernel. Other processes (pip, git) do not import it, as in Colab.
- No ../shared (RLSHIFT_DATA_MIRROR unset), no hub (HF_HUB_OFFLINE=1, HF_DATASETS_OFFLINE=1, an
  empty HF_HOME). The authors' files that the quick profiles fetch by URL are answered by a
  stand-in: the cache (`<RLSHIFT_CACHE_DIR>/data/<folder>/<name>`, where `remote.fetch` looks
  first and verifies the sha256) is seeded with their bytes, taken from the mirror on this disk.
  The embedded models and the pinned wheels are the user's real cache (`models`, `wheels`
  symlinked into the temporary cache), so no test re-converts GBs; scores, trained reward models
  and the sweep go to temporary folders.
- The repository that the setup cell clones is a temporary git repository: a snapshot of this
  working tree (`git ls-files --cached --others --exclude-standard`) committed on the branch named
  in _config.yml, cloned by its file:// URL. Each notebook is the snapshot's copy with only its
  setup cell regenerated for that URL (`book.setup_source`), and one cell appended at the end that
  reports where `rlshift` and `torch` were imported from.
- Each notebook runs in its own empty working folder (Colab's /content of a fresh runtime), with
  rlshift uninstalled from the venv, so every chapter's setup cell clones and installs. The venv
  is shared: the first chapter pays the full install of the dependencies (Colab pays it for every
  new runtime), the others install only the package itself.

Which notebooks: three run to their verdicts (abstention, logit_lens, sweep_comparison); every
other notebook runs its first four code cells (setup, parameters, imports with the parameters'
checks, the data it reads). All of them would be ~20 min or more here, over this test's 15-minute
share of CI's 90 (the suite is ~25 min), and the quick book (tests/conftest.py) already runs every
chapter to the end outside Colab; what Colab adds is the install and the clone, which every
chapter's setup cell exercises here, and the three together cover scoring and generation with the
embedded models, a reward model trained on HH-RLHF fetched by URL, and a sweep whose runs are
kernels started by the chapter's own kernel.
Measured here (2 cores, 2026-12-05; seconds): the venv with torch, numpy and ipykernel 49-62; the
first setup cell (clone + `pip install -e` with every dependency) 55-78, each later one 7-10;
the setup checks 12-24 each; abstention 62, logit_lens 88, sweep_comparison 97 (its two
calibration runs); the whole test 7.2 min. For comparison, every chapter in full on a machine
also running other test suites (load ~5): tuned_pair 552, calibration 1088,
uncertainty_expressions 566, reward_collapse 534, logit_lens 302, abstention 224.

Differences from Colab that remain: Python 3.11 (not 3.12); no GPU, so the `[gpu]` extra
(bitsandbytes) is never installed and CUDA paths are not run; pip also sees this machine's local
wheel folders and indexes (PyPI's packages, served from disk), where Colab sees PyPI alone; the
venv starts with torch, numpy and ipykernel only, where Colab's image has many more packages
(transformers, pandas, ...) at its own versions; and the user's model cache is warm.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from rlshift import book, paths, runs
from rlshift.data import linguistic, preferences, summaries

pytestmark = pytest.mark.slow

ROOT = paths.REPO_ROOT
STUDIES = runs.studies()
PROBE_TAG = "colab-probe"
PROBE = f'''# {PROBE_TAG}: added by tests/test_colab.py, not part of the chapter
import importlib.util, json, os, resource, sys
import rlshift, rlshift.paths, torch
_usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
print("COLAB-PROBE " + json.dumps({{
    "rlshift": os.path.realpath(rlshift.__file__), "repo_root": str(rlshift.paths.REPO_ROOT),
    "cwd": os.getcwd(), "executable": sys.executable, "python": sys.version.split()[0],
    "torch": torch.__version__, "torch_file": torch.__file__, "cuda": torch.cuda.is_available(),
    "bitsandbytes": importlib.util.find_spec("bitsandbytes") is not None,
    "colab": "google.colab" in sys.modules,
    "cpu_s": round(sum(u.ru_utime + u.ru_stime for u in _usage), 1)}}))'''

STUB = '''"""Stand-in for Colab's google.colab (tests/test_colab.py): only its presence matters."""
SIMULATED = True
'''
LAUNCHER = '''"""The simulated Colab kernel: google.colab imported first, as Colab's own launcher does."""
import sys

if sys.path and sys.path[0] == "":
    del sys.path[0]
import google.colab  # noqa: E402,F401

from ipykernel import kernelapp  # noqa: E402

kernelapp.launch_new_instance()
'''
TORCH_INFO = ("import json, os, torch; print(json.dumps({'version': torch.__version__, 'file': torch.__file__, "
              "'mtime_ns': os.stat(torch.__file__).st_mtime_ns}))")


@dataclass
class Runtime:
    root: Path
    python: Path  # the simulated runtime's interpreter
    repo: book.Repository  # what the setup cell clones
    env: dict[str, str]  # the kernel's environment (None values: unset)
    torch_before: dict
    install_s: float  # creating the venv with torch, numpy and ipykernel (not the project's install)
    timings: dict = field(default_factory=dict)


def _run(cmd, what: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"{what} failed ({result.returncode}): {' '.join(map(str, cmd))}\n"
                    f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}", pytrace=False)
    return result


def _mirror() -> Path:
    mirror = Path(os.environ.get("RLSHIFT_DATA_MIRROR") or ROOT.parent / "shared" / "data")
    if not mirror.is_dir():
        pytest.fail(f"the stand-in for the authors' URLs serves their files from {mirror} (RLSHIFT_DATA_MIRROR, "
                    f"else ../shared/data beside the repository); it is missing.", pytrace=False)
    return mirror


def seed_pinned_files(cache: Path) -> list[Path]:
    """Every pinned file of every preference source and linguistic dataset, in the cache where
    `remote.fetch` finds it, with the authors' bytes (the mirror gzips some that upstream serves plain)."""
    mirror, seeded = _mirror(), []
    files = [(spec.folder, local, pinned) for spec in preferences.SPECS.values()
             for local, pinned in zip(spec.files, spec.pinned)]
    files += [(spec.folder, pinned.name, pinned) for name, spec in linguistic.DATASETS.items()  # the linguistic
              for pinned in (linguistic.pinned(name) if spec.upstream else ())]              # chapter's URL files
    files += [(relative.split("/")[0], relative.split("/", 1)[1], pinned)  # the collapse chapter's
              for pinned, relative, *_ in summaries.SOURCES.values()]
    for folder, local, pinned in files:
        source = mirror / folder / local
        if not source.is_file():
            pytest.fail(f"the authors' file for {pinned.url} is not in the mirror: {source} is missing.",
                        pytrace=False)
        body = source.read_bytes()
        if local.endswith(".gz") and not pinned.name.endswith(".gz"):
            body = gzip.decompress(body)
        if hashlib.sha256(body).hexdigest() != pinned.sha256:
            pytest.fail(f"{source} does not hold the pinned bytes of {pinned.url} (sha256 {pinned.sha256}).",
                        pytrace=False)
        target = cache / "data" / folder / pinned.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        seeded.append(target)
    return seeded


def snapshot_repository(dest: Path, branch: str) -> book.Repository:
    """A git repository holding this working tree as `git ls-files` sees it (tracked and
    untracked-but-not-ignored files, as they are on disk), committed on `branch`."""
    listed = _run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                  "listing the working tree").stdout.split("\0")
    dest.mkdir(parents=True)
    copied = 0
    for name in filter(None, listed):
        source = ROOT / name
        if not os.path.lexists(source):  # tracked, deleted in the working tree
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / name, follow_symlinks=False)
        copied += 1
    assert copied, f"git ls-files listed nothing to copy from {ROOT}"
    git = ["git", "-C", dest, "-c", "user.name=colab-sim", "-c", "user.email=colab-sim@localhost",
           "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"]
    _run(git + ["init", "-q"], "git init")
    _run(git + ["checkout", "-q", "-b", branch], "git checkout -b")
    _run(git + ["add", "-A"], "git add")
    _run(git + ["commit", "-q", "-m", "snapshot of the working tree for tests/test_colab.py"], "git commit")
    return book.Repository(dest.resolve().as_uri(), branch)


def torch_info(python: Path) -> dict:
    return json.loads(_run([python, "-c", TORCH_INFO], "importing torch in the Colab venv").stdout)


def build_runtime(root: Path) -> Runtime:
    import numpy
    import torch

    if "+" not in torch.__version__:
        pytest.fail(f"the Colab venv takes this venv's torch build by its exact version (a CPU wheel on this "
                    f"disk, e.g. 2.13.0+cpu); torch {torch.__version__} has no local label, so pip would fetch a "
                    f"multi-GB CUDA build from PyPI. Install the CPU build (requirements.txt) first.", pytrace=False)
    start = time.time()
    venv, python = root / "venv", root / "venv" / "bin" / "python"
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", "--upgrade-deps", venv], "creating the Colab venv")
    constraints = root / "constraints.txt"  # Colab's torch, never replaced: a different one is refused
    constraints.write_text(f"torch=={torch.__version__}\n")
    pip_env = dict(os.environ, PIP_CONSTRAINT=str(constraints))
    # numpy too: Colab always has it, and torch, imported by the setup cell before the install,
    # binds numpy at import (without it: "RuntimeError: Numpy is not available" for the kernel's life)
    _run([python, "-m", "pip", "install", "-q", "--only-binary=torch", f"torch=={torch.__version__}",
          f"numpy=={numpy.__version__}", "ipykernel"],
         "installing Colab's own packages (torch, numpy, ipykernel) into the venv", env=pip_env)
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     "locating the venv's site-packages").stdout.strip())
    (site / "google" / "colab").mkdir(parents=True)  # no google/__init__.py: a namespace shared with protobuf
    (site / "google" / "colab" / "__init__.py").write_text(STUB)
    (site / "colab_kernel_launcher.py").write_text(LAUNCHER)
    kernels = root / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "colab_kernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (simulated Colab)", "language": "python"}, indent=1))
    install_s = time.time() - start

    real_cache = Path(os.environ.get("RLSHIFT_CACHE_DIR") or Path.home() / ".cache" / "rlshift").expanduser()
    cache = root / "cache"
    cache.mkdir()
    for name in ("models", "wheels"):  # converted embedded models and pinned wheels: GBs, not converted again
        (real_cache / name).mkdir(parents=True, exist_ok=True)
        (cache / name).symlink_to(real_cache / name, target_is_directory=True)
    seed_pinned_files(cache)

    repo = snapshot_repository(root / "origin", book.repository(ROOT).branch)  # _config.yml's branch

    env = {name: None for name in ("RLSHIFT_DATA_MIRROR", "RLSHIFT_WHEELHOUSE", "RLSHIFT_RESULTS_DIR",
                                   "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(RLSHIFT_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               HF_HOME=str(root / "hf"), JUPYTER_PATH=str(root / "jupyter"), IPYTHONDIR=str(root / "ipython"),
               PIP_CONSTRAINT=str(constraints), PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    return Runtime(root, python, repo, env, torch_info(python), install_s)


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    runtime = build_runtime(tmp_path_factory.mktemp("colab"))
    yield runtime
    (runtime.root / "timings.json").write_text(json.dumps(
        {"venv_s": round(runtime.install_s, 1), "notebooks": runtime.timings}, indent=1))
    print(f"\nColab simulation times (s): venv {runtime.install_s:.0f}; "
          + "; ".join(f"{k}: setup {v['setup_s']}, total {v['total_s']}, kernel CPU {v['kernel_cpu_s']}"
                      for k, v in runtime.timings.items()) + f" ({runtime.root / 'timings.json'})")


def colab_notebook(runtime: Runtime, name: str, code_cells: int | None) -> nbformat.NotebookNode:
    """The chapter as Colab opens it from the repository, its setup cell pointing at `runtime.repo`;
    only its first `code_cells` code cells (None: all), then the probe."""
    notebook = Path(runtime.repo.url.removeprefix("file://")) / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert "google.colab" in setup.source and setup.source == book.setup_source(book.repository(ROOT)), (
        f"{notebook}: its first code cell is not the setup cell that `rlshift links --write` makes")
    setup.source = book.setup_source(runtime.repo)
    if code_cells is not None:
        ends = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        nb.cells = nb.cells[:ends[min(code_cells, len(ends)) - 1] + 1]
    nb.cells.append(nbformat.v4.new_code_cell(PROBE, metadata={"tags": [PROBE_TAG]}))
    return nb


def quick_parameters(runtime: Runtime, name: str) -> dict:
    """The study's quick profile, with the temporary folders that tests/conftest.py's quick_book
    uses; a notebook that is no study in book/studies.yaml runs with its own defaults."""
    study = next((s for s, e in STUDIES.items() if Path(e["notebook"]).stem == name), None)
    if study is None:
        return {}
    root = runtime.root
    extras = {"reward_collapse": {"model_dir": str(root / "reward_models"),
                                  "annotation_sheet": str(root / "annotation_sheet.csv")},
              "tuned_pair": {"model_dir": str(root / "reward_models")},
              "abstention": {"model_dir": str(root / "reward_models")},
              "linguistic": {"annotation_dir": str(root / "linguistic_sheets")},
              "data_collapse": {"model_dir": str(root / "reward_models"),
                                "annotation_dir": str(root / "data_collapse_sheets")},
              "sweep_comparison": {"sweep_dir": str(root / "sweeps" / "quick")}}
    return dict(STUDIES[study]["quick"], cache_dir=str(root / "scores"), **extras.get(study, {}))


def probe(nb) -> dict:
    cell = next(c for c in nb.cells if PROBE_TAG in c.metadata.get("tags", []))
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    line = next((ln for ln in text.splitlines() if ln.startswith("COLAB-PROBE ")), None)
    assert line, f"the probe cell printed nothing: {cell.get('outputs')}"
    return json.loads(line.removeprefix("COLAB-PROBE "))


def open_in_colab(runtime: Runtime, name: str, monkeypatch, code_cells: int | None = None):
    """Run the notebook in the simulated Colab from a fresh working folder; the executed notebook
    and what the probe found there. Checks what every chapter's setup must achieve."""
    import papermill

    for var, value in runtime.env.items():
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    # Colab gives each notebook a fresh runtime: rlshift not installed (a kernel that can import it
    # is one started after an install); the dependencies that an earlier chapter installed stay
    _run([runtime.python, "-m", "pip", "uninstall", "-q", "-y", "rlshift"], "uninstalling rlshift from the venv")
    content = runtime.root / "content" / name  # a fresh runtime's working folder (Colab's /content)
    content.mkdir(parents=True)
    source = runtime.root / "notebooks" / f"{name}.ipynb"
    source.parent.mkdir(exist_ok=True)
    nbformat.write(colab_notebook(runtime, name, code_cells), source)
    output = runtime.root / "executed" / source.name
    output.parent.mkdir(exist_ok=True)
    start = time.time()
    papermill.execute_notebook(str(source), str(output), parameters=quick_parameters(runtime, name),
                               kernel_name="python3", cwd=str(content), progress_bar=False, log_output=False)
    total = time.time() - start
    nb = nbformat.read(output, as_version=4)
    found = probe(nb)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    runtime.timings[name] = {"cells": "all" if code_cells is None else code_cells,
                             "setup_s": round(setup.metadata.papermill.duration, 1), "total_s": round(total, 1),
                             "kernel_cpu_s": found["cpu_s"]}

    clone = (content / "rlshift").resolve()
    assert found["colab"], "google.colab was not imported in the kernel, so the setup cell did nothing"
    assert Path(found["executable"]).parent == runtime.python.parent, found["executable"]
    assert found["rlshift"].startswith(str(clone / "lib") + os.sep), (
        f"rlshift was imported from {found['rlshift']}, not from the clone in {clone / 'lib'}")
    assert Path(found["repo_root"]).resolve() == clone, found["repo_root"]
    assert (found["torch"], found["torch_file"]) == (runtime.torch_before["version"], runtime.torch_before["file"]), (
        f"the kernel's torch {found['torch']} ({found['torch_file']}) is not Colab's own {runtime.torch_before}")
    assert not found["bitsandbytes"], "bitsandbytes was installed without CUDA (the [gpu] extra is for CUDA only)"
    return nb


NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
# Run to the end here: together they cover scoring and generation with the embedded models, a
# reward model trained on HH-RLHF fetched by URL (the stand-in), and a sweep whose runs are kernels
# started by the chapter's own kernel. The others are run in full by the quick book
# (tests/conftest.py) outside Colab; here, their first cells. See the module docstring for times.
FULL = [n for n in ("abstention", "logit_lens", "sweep_comparison") if n in NOTEBOOKS]
SETUP_CELLS = 4  # setup, parameters, imports with the parameters' checks, and the data each study reads


@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if n not in FULL])
def test_chapter_setup_installs_from_the_clone_in_colab(colab, name, monkeypatch):
    """Every other chapter's setup cell in a fresh working folder: clone, install, then the
    chapter's imports and its data (a study's quick profile; other notebooks: imports only)."""
    open_in_colab(colab, name, monkeypatch, SETUP_CELLS if quick_parameters(colab, name) else 3)


@pytest.mark.parametrize("name", FULL)
def test_chapter_runs_to_its_verdicts_in_colab(colab, name, monkeypatch):
    nb = open_in_colab(colab, name, monkeypatch)
    heading = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "Verdict" in c.source), None)
    assert heading is not None, f"{name}: the executed notebook has no Verdict section"
    verdict_cells = [c for c in nb.cells[heading + 1:] if c.cell_type == "code"
                     and PROBE_TAG not in c.metadata.get("tags", [])]
    assert verdict_cells and all(c.execution_count for c in verdict_cells), f"{name}: the verdicts did not run"
    assert any(o.get("output_type") in ("display_data", "execute_result", "stream")
               for c in verdict_cells for o in c.outputs), f"{name}: the verdict cells showed nothing"


def test_colab_torch_untouched_and_no_gpu_extra(colab):
    """After every chapter's install: Colab's torch is the one it came with (same version, same
    file, not rewritten) and the GPU extra was not installed without CUDA."""
    assert colab.timings, "no chapter ran in the simulated Colab"
    after = torch_info(colab.python)
    assert after == colab.torch_before, f"pip replaced Colab's torch: before {colab.torch_before}, after {after}"
    found = _run([colab.python, "-c", "import importlib.util; print(importlib.util.find_spec('bitsandbytes'))"],
                 "looking for bitsandbytes in the Colab venv").stdout.strip()
    assert found == "None", f"bitsandbytes is installed in the Colab venv without CUDA: {found}"
