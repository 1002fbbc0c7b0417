"""The library's shape: imports only point down the layers, no import circle, no module uses
another's private names, and no file outgrows what a reader can hold in their head."""
from __future__ import annotations

import ast
from pathlib import Path

from rlshift import paths

LIB = paths.REPO_ROOT / "lib" / "rlshift"
# bottom to top; a module may import its own layer or lower ones
LAYERS = {"rlshift": 0, "errors": 0, "paths": 0, "params": 0,
          "wheels": 1, "manifest": 1, "timings": 1, "cache": 1, "requests": 1, "metrics": 1, "stats": 1, "plots": 1, "prompts": 1, "results": 1,
          "artifacts": 2,
          "models": 3, "data": 3, "tasks": 3,
          "engine": 4, "footprints": 4,
          "training": 5,
          "studies": 6,
          "progress": 7, "runs": 7, "sweep": 7, "book": 7, "cli": 7}
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(LIB.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in LIB.rglob("*.py")}


def _imports(path: Path, known: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(imported rlshift module, names taken from it) for every import in the file, function-level ones too."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("rlshift")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rlshift"):
            for a in node.names:  # `from rlshift.x import y`: y is a module or a name in x
                sub = f"{node.module}.{a.name}"
                out.append((sub, []) if sub in known else (node.module, [a.name]))
                if sub in known:  # the package x itself runs first: an edge to it too
                    out.append((node.module, []))
    return out


def _private_attributes(path: Path, known: dict[str, Path]) -> list[str]:
    """`alias._name` where alias is an rlshift module the file imported."""
    tree = ast.parse(path.read_text())
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rlshift"):
            aliases.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names
                            if f"{node.module}.{a.name}" in known})
        elif isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names if a.asname and a.name.startswith("rlshift")})
    return [f"{aliases[n.value.id]}.{n.attr}" for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in aliases
            and n.attr.startswith("_") and not n.attr.startswith("__")]


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else "rlshift"]


def test_imports_point_down_and_take_no_private_names():
    known = _modules()
    bad = []
    for module, path in known.items():
        for target, names in _imports(path, known):
            assert target in known, f"{module} imports {target}, which is not a module of rlshift"
            if _layer(target) > _layer(module):
                bad.append(f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})")
            bad += [f"{module} takes the private name {target}.{n}" for n in names if n.startswith("_")]
        bad += [f"{module} uses the private name {name}" for name in _private_attributes(path, known)]
    assert not bad, "\n".join(bad)


def test_no_import_circle():
    """A plain cycle search over module -> imported module (a package's __init__ imports its
    modules, so a module that imports its own package's __init__ is a circle too)."""
    known = _modules()
    graph = {m: {t for t, _ in _imports(p, known) if t != m} for m, p in known.items()}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1  # on the current path
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(trail + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_no_file_is_too_long():
    long = {str(p.relative_to(LIB)): n for p in LIB.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_every_study_has_the_same_small_shape():
    for study in (LIB / "studies").iterdir():
        if study.is_dir() and (study / "__init__.py").exists():
            files = {p.name for p in study.glob("*.py")}
            assert {"__init__.py", "params.py", "inputs.py", "analysis.py", "figures.py", "verdicts.py"} <= files, study
