"""The calibration notebook executed by papermill with small parameters, and the book build."""
import time
from pathlib import Path

import nbformat
from conftest import notebook_text
import pytest
from papermill.exceptions import PapermillExecutionError

from rlshift import cli, paths

NOTEBOOK = paths.REPO_ROOT / "notebooks" / "calibration.ipynb"
QUICK = cli.studies()["calibration"]["quick"]


def test_every_study_runs_and_the_book_builds(quick_book, quick_site):
    """Each study notebook executed by papermill with its quick parameters (conftest.quick_book),
    then the book built (warnings as errors) from that copy of the book files (conftest.quick_site)."""
    root = quick_book
    nb = nbformat.read(root / "book" / "executed" / NOTEBOOK.name, as_version=4)
    text = notebook_text(nb)
    assert "**H1 (the tuned model is worse calibrated" in text and "**H1b" in text
    assert "Main run: {'base': 'fp32', 'tuned': 'fp32'}; compared here: bf16" in text
    assert len(nb.metadata["rlshift"]["fingerprint"]) == 64  # stamped when finished (tests/test_book_rebuild.py)
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 5
    for entry in cli.studies().values():
        html = quick_site / "notebooks" / (Path(entry["notebook"]).stem + ".html")
        assert "Verdict" in html.read_text(), html
    assert "Reliability diagrams" in (quick_site / "notebooks" / "calibration.html").read_text()


def test_hub_pair_fails_fast_naming_the_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.time()
    with pytest.raises(PapermillExecutionError, match="HF_HUB_OFFLINE|Hugging Face Hub"):
        cli.execute(NOTEBOOK, tmp_path / "out.ipynb",
                    dict(QUICK, model_pair="llama-2-7b", cache_dir=str(tmp_path / "s.sqlite")))
    assert time.time() - start < 120


def test_runner_refuses_bad_parameters_before_starting_a_kernel(capsys, tmp_path):
    code = cli.main(["run", str(NOTEBOOK), "-p", "n_item", "5", "-o", str(tmp_path / "o.ipynb")])
    assert code == 2
    assert "unknown parameter 'n_item'. Did you mean 'n_items'?" in capsys.readouterr().err
    assert not (tmp_path / "o.ipynb").exists()
    assert cli.main(["run", str(NOTEBOOK), "-p", "quantize", "int3"]) == 2
