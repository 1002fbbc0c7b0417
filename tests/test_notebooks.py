"""Every chapter's notebook has the same shape: output-free, a Colab badge to itself, a setup
cell that installs the project in Colab, one `parameters` cell whose names and values are the
study's schema defaults, and a next cell that collects exactly those names."""
from __future__ import annotations

import nbformat
import pytest

from rlshift import cli, paths

STUDIES = cli.studies()


@pytest.mark.parametrize("study", list(STUDIES))
def test_notebook_shape_and_parameters_equal_the_schema_defaults(study):
    path = paths.REPO_ROOT / STUDIES[study]["notebook"]
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code), f"{path} has outputs"
    assert f"colab.research.google.com/github/rlshift/rlshift/blob/main/notebooks/{path.name}" in nb.cells[0].source
    assert "google.colab" in code[0].source and "pip" in code[0].source
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path}: {len(tagged)} cells tagged 'parameters'"
    namespace: dict = {}
    exec(code[tagged[0]].source, namespace)  # plain assignments
    values = {k: v for k, v in namespace.items() if not k.startswith("__")}
    schema = cli.schema_for(path)
    assert values == schema.defaults(), {k: (values.get(k), v) for k, v in schema.defaults().items()
                                         if values.get(k, object()) != v}
    assert ".PARAMS.collect(globals())" in code[tagged[0] + 1].source


@pytest.mark.parametrize("study", list(STUDIES))
def test_every_code_cell_is_valid_python(study):
    """A cell that does not parse fails only when its notebook runs, minutes in; catch it here."""
    import ast

    nb = nbformat.read(paths.REPO_ROOT / STUDIES[study]["notebook"], as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            ast.parse(cell.source, filename=f"{study}.ipynb:{cell.get('id')}")


@pytest.mark.parametrize("study", list(STUDIES))
def test_every_profile_of_the_book_validates(study):
    """`rlshift book --profile X` takes any profile of book/studies.yaml: a bad name or value in one
    the tests do not run (the full profile) would otherwise fail only hours into that run."""
    entry = STUDIES[study]
    assert {"book", "full", "quick"} <= set(entry), f"{study}: profiles {sorted(entry)}"
    schema = cli.schema_for(paths.REPO_ROOT / entry["notebook"])
    for profile, values in entry.items():
        if profile != "notebook":
            schema.validate(values or {})
