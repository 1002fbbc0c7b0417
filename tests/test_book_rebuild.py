"""`rlshift book` twice: the second run re-executes only chapters whose inputs changed (the
fingerprint an executed notebook carries), so a warm rebuild is the book build alone."""
import json
import shutil

import nbformat
import pytest

from rlshift import cli, paths, runs

NOTEBOOK = paths.REPO_ROOT / "notebooks" / "calibration.ipynb"


@pytest.fixture
def repo_copy(tmp_path, monkeypatch):
    """The fingerprint's inputs in a scratch copy: lib, notebooks, book profiles, data."""
    root = tmp_path / "repo"
    for part in ("lib/rlshift", "notebooks", "book/sweeps", "data"):
        shutil.copytree(paths.REPO_ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("book/studies.yaml", "requirements.txt", "pyproject.toml"):
        shutil.copy(paths.REPO_ROOT / name, root / name)
    monkeypatch.setattr(paths, "REPO_ROOT", root)
    runs._inputs_digest.cache_clear()  # noqa: SLF001 (a fresh digest per state of the copy)
    yield root
    runs._inputs_digest.cache_clear()  # noqa: SLF001


def test_the_fingerprint_follows_code_data_parameters_and_profile(repo_copy):
    base = runs.fingerprint(NOTEBOOK, {"n_items": 4}, "quick")
    assert base == runs.fingerprint(NOTEBOOK, {"n_items": 4}, "quick")
    assert base != runs.fingerprint(NOTEBOOK, {"n_items": 5}, "quick")
    assert base != runs.fingerprint(NOTEBOOK, {"n_items": 4}, "book")
    assert base != runs.fingerprint(paths.REPO_ROOT / "notebooks" / "abstention.ipynb", {"n_items": 4}, "quick")
    for edited in ("lib/rlshift/metrics.py", "data/relations.jsonl", "book/studies.yaml"):
        with open(repo_copy / edited, "a") as f:
            f.write("\n")
        runs._inputs_digest.cache_clear()  # noqa: SLF001
        changed = runs.fingerprint(NOTEBOOK, {"n_items": 4}, "quick")
        assert changed != base, edited
        base = changed


def test_up_to_date_needs_a_finished_notebook_with_the_same_fingerprint(tmp_path):
    out = tmp_path / "calibration.ipynb"
    assert not runs.up_to_date(out, "abc")  # missing
    out.write_text("not json")
    assert not runs.up_to_date(out, "abc")
    nb = nbformat.v4.new_notebook()
    nbformat.write(nb, out)
    assert not runs.up_to_date(out, "abc")  # a run that did not finish carries no stamp
    nb.metadata["rlshift"] = {"fingerprint": "abc"}
    nbformat.write(nb, out)
    assert runs.up_to_date(out, "abc") and not runs.up_to_date(out, "abd")


def test_book_skips_current_chapters_and_force_reruns_them(tmp_path, monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(cli, "EXECUTED", tmp_path)
    monkeypatch.setattr(cli, "execute", lambda notebook, out, params, **kw: ran.append(notebook.stem) or 0.0)
    table = {"calibration": cli.studies()["calibration"]}
    monkeypatch.setattr(cli, "studies", lambda: table)
    params = table["calibration"]["book"]
    nb = nbformat.v4.new_notebook(metadata={"rlshift": {"fingerprint": runs.fingerprint(NOTEBOOK, params, "book")}})
    nbformat.write(nb, tmp_path / "calibration.ipynb")
    cli.main(["book", "--no-build"])
    assert ran == [] and "calibration: up to date" in capsys.readouterr().out
    cli.main(["book", "--no-build", "--profile", "quick"])  # other parameters: stale
    cli.main(["book", "--no-build", "--force"])
    assert ran == ["calibration", "calibration"]
    assert json.loads((tmp_path / "calibration.ipynb").read_text())["metadata"]["rlshift"]  # left as it was
