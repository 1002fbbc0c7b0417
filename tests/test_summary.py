"""The summary page ("What RL did, at a glance"), the headline tables the chapters record for it,
and the one repository URL behind every badge, setup cell and launch button."""
from __future__ import annotations

import shutil

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import executed, notebook_text

from rlshift import book, paths, results
from rlshift.errors import InputError
from rlshift.studies import summary as sm


def _row(**kw):
    base = dict(measure="m", where="w", contrast="tuned - base", format="chat", estimate=0.1, ci_low=0.05,
                ci_high=0.15, p_holm=0.01, n=40, unit="nats")
    return {**base, **kw}


def test_an_effect_is_clear_only_when_its_interval_excludes_zero_and_its_holm_p_is_below_alpha():
    table = pd.DataFrame([_row(), _row(ci_low=-0.01), _row(p_holm=0.2), _row(p_holm=np.nan),
                          _row(estimate=-0.1, ci_low=-0.2, ci_high=-0.02), _row(ci_low=np.nan, ci_high=np.nan)])
    glance = sm.at_a_glance(table.assign(chapter="c"), alpha=0.05)
    assert glance["clear"].tolist() == [True, False, False, True, True, False]
    assert glance["direction"].tolist() == ["up", "no clear change", "no clear change", "up", "down",
                                           "no clear change"]
    per = sm.by_chapter(glance)
    assert per.loc[0, "effects"] == 6 and per.loc[0, "clear"] == 3 and per.loc[0, "without_interval"] == 1


def test_a_headline_table_is_checked_and_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ENV, str(tmp_path))
    with pytest.raises(InputError, match="lacks unit"):
        results.headline(pd.DataFrame([_row()]).drop(columns="unit"))
    results.headline(pd.DataFrame([_row(n=12.0)]))
    got = pd.read_parquet(tmp_path / "headline.parquet")
    assert list(got.columns) == list(results.HEADLINE) and got["n"].dtype.kind == "i"
    results.headline(pd.DataFrame())  # a run too small for any effect records an empty table
    assert list(pd.read_parquet(tmp_path / "headline.parquet").columns) == list(results.HEADLINE)


def test_missing_chapters_are_named_with_the_command_that_makes_them(tmp_path):
    with pytest.raises(InputError, match=r"no recorded headline for calibration.*rlshift book --studies calibration"):
        sm.headlines(str(tmp_path), ["calibration"])
    with pytest.raises(InputError, match="results_root"):
        sm.headlines(str(tmp_path / "absent"), ["calibration"])
    with pytest.raises(InputError, match="parameter 'chapters'"):
        sm.PARAMS.validate({"chapters": ["calibration", "nope"]})


@pytest.mark.slow
def test_the_summary_page_reads_every_chapters_headline(quick_book):
    root = quick_book / "book" / "executed"
    recorded = {c: pd.read_parquet(root / f"{c}.results" / "headline.parquet") for c in sm.CHAPTERS}
    assert all(len(t) for c, t in recorded.items() if c != "uncertainty_expressions")  # the quick run's effects
    text = notebook_text(executed(quick_book, "summary"))
    n = sum(len(t) for t in recorded.values())
    clear = sum(int((((t["ci_low"] > 0) | (t["ci_high"] < 0)) & (t["p_holm"].isna() | (t["p_holm"] < 0.05))).sum())
                for t in recorded.values())
    assert f"Of {n} headline effects in" in text
    assert f"{clear} {'is' if clear == 1 else 'are'} distinguishable from zero" in text
    glance = pd.read_parquet(root / "summary.results" / "at_a_glance.parquet")
    assert set(glance["chapter"]) == {c for c, t in recorded.items() if len(t)}
    assert {"tuned - base"} <= set(glance["contrast"])


def test_every_notebook_agrees_with_the_repository_url():
    assert book.links(write=False) == {}, "run `rlshift links --write`"
    config = yaml.safe_load((paths.REPO_ROOT / "_config.yml").read_text())
    assert config["launch_buttons"]["colab_url"] == book.COLAB
    repo = book.repository()
    for path in sorted((paths.REPO_ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert repo.colab(path.name) in nb.cells[0].source
        setup = [c for c in nb.cells if c.cell_type == "code"][0]
        assert setup.source == book.setup_source(repo) and "remove-cell" in setup.metadata["tags"]


def test_a_fork_rewrites_every_badge_and_setup_cell(tmp_path):
    shutil.copytree(paths.REPO_ROOT / "notebooks", tmp_path / "notebooks")
    config = (paths.REPO_ROOT / "_config.yml").read_text().replace("https://github.com/rlshift/rlshift",
                                                                    "https://github.com/someone/rlshift-fork")
    (tmp_path / "_config.yml").write_text(config.replace("branch: main", "branch: dev"))
    changed = book.links(write=True, root=tmp_path)
    assert set(changed) == {p.name for p in (tmp_path / "notebooks").glob("*.ipynb")}
    assert book.links(write=False, root=tmp_path) == {}
    nb = nbformat.read(tmp_path / "notebooks" / "calibration.ipynb", as_version=4)
    assert "colab.research.google.com/github/someone/rlshift-fork/blob/dev/notebooks/calibration.ipynb" in nb.cells[0].source
    assert '"--branch", "dev"' in nb.cells[1].source and "someone/rlshift-fork" in nb.cells[1].source
    (tmp_path / "_config.yml").write_text(config.replace("https://github.com/someone/rlshift-fork", "gitlab.com/x/y"))
    with pytest.raises(InputError, match="repository.url"):
        book.repository(tmp_path)


def test_the_build_stages_the_chapters_where_the_launch_buttons_expect_them(tmp_path):
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(paths.REPO_ROOT / name, tmp_path / name)
    shutil.copytree(paths.REPO_ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("executed"))
    with pytest.raises(InputError, match="no executed chapters"):
        book.stage(tmp_path)
    (tmp_path / "book" / "executed").mkdir()
    shutil.copy(paths.REPO_ROOT / "notebooks" / "summary.ipynb", tmp_path / "book" / "executed" / "summary.ipynb")
    staged = book.stage(tmp_path)
    assert (staged / "notebooks" / "summary.ipynb").exists() and not (staged / "book" / "executed").exists()
    toc = (staged / "_toc.yml").read_text()
    assert "file: notebooks/summary" in toc and "book/executed" not in toc.split("parts:")[1]
