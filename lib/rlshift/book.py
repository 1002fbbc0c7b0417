"""The book as readers meet it: one repository URL (`_config.yml`'s `repository`) behind every
chapter's Colab badge, setup cell and Jupyter Book launch button, and the build.

The chapters are executed copies (`book/executed/`); the build stages them under `notebooks/`,
so a page's path is its notebook's path in the repository and Jupyter Book's own Colab launch
button opens the same notebook as the badge. To point the book at a fork: set
`repository.url` (and `branch`) in `_config.yml`, then `rlshift links --write`.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from rlshift import paths
from rlshift.errors import InputError

COLAB = "https://colab.research.google.com"
_BADGE = re.compile(r"\(https://colab\.research\.google\.com/github/[^)\s]*\)")
SETUP_TAGS = ["remove-cell"]  # plumbing a reader of the site need not see; Colab still runs it
HIDDEN_TAGS = ["hide-input"]  # parameters and their validation: collapsed, one click away


@dataclass(frozen=True)
class Repository:
    url: str  # https://github.com/<owner>/<name>
    branch: str

    @property
    def slug(self) -> str:
        return self.url.removeprefix("https://github.com/")

    def colab(self, notebook: str) -> str:
        """Colab's URL for a notebook of the repository (`notebooks/<name>.ipynb`)."""
        return f"{COLAB}/github/{self.slug}/blob/{self.branch}/notebooks/{notebook}"


def repository(root: Path = paths.REPO_ROOT) -> Repository:
    config = yaml.safe_load((Path(root) / "_config.yml").read_text())
    repo = config.get("repository") or {}
    url, branch = str(repo.get("url", "")).rstrip("/"), str(repo.get("branch", "main"))
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise InputError(f"{Path(root) / '_config.yml'}: repository.url {url!r} is not accepted. "
                         f"Accepted: https://github.com/<owner>/<name> (Colab opens notebooks from GitHub).")
    return Repository(url, branch)


def setup_source(repo: Repository) -> str:
    """The first code cell of every chapter: in Colab, where rlshift is not importable yet, clone
    the project beside the notebook and install it on Colab's own torch (never reinstalled; the
    GPU extra, bitsandbytes, only where a GPU is). A kernel that can import rlshift (a rerun, or a
    sweep's run started from this notebook) skips it."""
    return f'''# Setup: in Colab, clone the project and install it on Colab's own torch (the GPU extra,
# bitsandbytes, only where a GPU is); where rlshift is already importable, nothing happens.
import importlib.util, os, shutil, subprocess, sys
if "google.colab" in sys.modules and importlib.util.find_spec("rlshift") is None:
    home = os.path.abspath("rlshift")
    if not os.path.isdir(home):
        subprocess.run(["git", "clone", "--depth", "1", "--branch", "{repo.branch}",
                        "{repo.url}", home], check=True)
    extra = "[gpu]" if shutil.which("nvidia-smi") else ""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", home + extra], check=True)
    sys.path.insert(0, os.path.join(home, "lib"))  # this kernel started before the install'''


def _tagged(cell, tags: list[str]) -> bool:
    """Add `tags` to the cell; True when that changed it."""
    have = cell.metadata.get("tags", [])
    missing = [t for t in tags if t not in have]
    if missing:
        cell.metadata["tags"] = have + missing
    return bool(missing)


def sync(nb, notebook: Path, repo: Repository) -> list[str]:
    """Make a chapter notebook (`nb`, read from `notebook`) agree with the repository, in place:
    its badge, its setup cell, and the tags that hide plumbing on the site. Returns what changed."""
    changes = []
    intro = nb.cells[0]
    badge = f"({repo.colab(Path(notebook).name)})"
    if intro.cell_type != "markdown" or not _BADGE.search(intro.source):
        raise InputError(f"{notebook}: the first cell must be markdown with an 'Open in Colab' badge linking "
                         f"{COLAB}/github/...; it has none.")
    if _BADGE.sub(badge, intro.source) != intro.source:
        intro.source = _BADGE.sub(badge, intro.source)
        changes.append("badge")
    code = [c for c in nb.cells if c.cell_type == "code"]
    setup, parameters, validation = code[0], code[1], code[2]
    if "google.colab" not in setup.source:
        raise InputError(f"{notebook}: its first code cell must be the Colab setup cell.")
    if setup.source != setup_source(repo):
        setup.source = setup_source(repo)
        changes.append("setup cell")
    for cell, tags, what in ((setup, SETUP_TAGS, "setup"), (parameters, HIDDEN_TAGS, "parameters"),
                             (validation, HIDDEN_TAGS, "validation")):
        if _tagged(cell, tags):
            changes.append(f"{what} tags")
    return changes


def links(write: bool, root: Path = paths.REPO_ROOT) -> dict[str, list[str]]:
    """Every chapter notebook checked (or rewritten) against the repository URL."""
    repo = repository(root)
    out = {}
    for notebook in sorted((Path(root) / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(notebook, as_version=4)
        changes = sync(nb, notebook, repo)
        if changes:
            out[notebook.name] = changes
            if write:
                nbformat.write(nb, notebook)
    return out


def stage(root: Path) -> Path:
    """A copy of the book files with the executed chapters under notebooks/, where the launch
    buttons expect them (their path in the repository)."""
    root = Path(root)
    executed = sorted((root / "book" / "executed").glob("*.ipynb"))
    if not executed:
        raise InputError(f"no executed chapters in {root / 'book' / 'executed'}: run `rlshift book` first "
                         f"(or `rlshift run NOTEBOOK`).")
    staged = root / "_build" / "stage"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(root / name, staged / name)
    shutil.copytree(root / "book", staged / "book", ignore=shutil.ignore_patterns("executed", "*.results"))
    (staged / "notebooks").mkdir()
    for notebook in executed:  # papermill's injected parameters: collapsed like the parameters cell
        nb = nbformat.read(notebook, as_version=4)
        for cell in nb.cells:
            if "injected-parameters" in cell.metadata.get("tags", []):
                _tagged(cell, HIDDEN_TAGS)
        nbformat.write(nb, staged / "notebooks" / notebook.name)
    return staged


def build(root: Path = paths.REPO_ROOT, strict: bool = True) -> Path:
    """jupyter-book build of the staged book, warnings as errors; the site lands in root/_build/html."""
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(stage(root)), "--path-output", str(root)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    subprocess.run(cmd, check=True)
    return Path(root) / "_build" / "html"
