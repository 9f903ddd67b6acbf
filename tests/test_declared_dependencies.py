"""Every package the code imports directly is declared in requirements.in and pinned in requirements.txt.

A package that arrives only through another one (ruamel.yaml through dvc, psutil through accelerate)
goes the day that one stops needing it; so each import of docent/, stages/ and benchmarks/ (lazy ones
inside functions too) must name a distribution of requirements.in, at the version requirements.txt
pins and the environment has. Optional imports (inside `try: ... except ImportError`, such as
flash_attn on CUDA) may be missing from the environment; when they are installed they count too.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CODE = ("docent", "stages", "benchmarks")
PROJECT = {"docent", "stages", "benchmarks"}


def normalize(name: str) -> str:
    """PEP 503: rouge_score, rouge-score and Rouge.Score are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name -> version of each `name==version` line."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[normalize(name.split("[", 1)[0])] = version.split(";", 1)[0].strip()
    return found


def _guarded(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside a `try:` whose handlers catch ImportError."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = set()
        for handler in node.handlers:
            types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            caught |= {t.id for t in types if isinstance(t, ast.Name)}
        if caught & {"ImportError", "ModuleNotFoundError", "Exception"}:
            ids |= {id(n) for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Import | ast.ImportFrom)}
    return ids


def imported_top_levels(roots: tuple[str, ...] = CODE) -> dict[str, dict[str, bool]]:
    """top-level module -> {file: optional} for every absolute import of a non-stdlib, non-project module."""
    found: dict[str, dict[str, bool]] = {}
    for root in roots:
        for path in sorted((REPO / root).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            optional = _guarded(tree)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".", 1)[0]
                    if top in sys.stdlib_module_names or top in PROJECT or top == "__future__":
                        continue
                    rel = path.relative_to(REPO).as_posix()
                    found.setdefault(top, {})
                    found[top][rel] = found[top].get(rel, True) and id(node) in optional
    return found


DECLARED = pins(REPO / "requirements.in")
PINNED = pins(REPO / "requirements.txt")
DISTRIBUTIONS = importlib.metadata.packages_distributions()
IMPORTS = imported_top_levels()


def test_the_scan_finds_the_imports_it_should() -> None:
    """Lazy imports inside functions count (psutil is imported in a function of docent/runtime.py)."""
    assert {"torch", "transformers", "click", "yaml", "psutil"} <= set(IMPORTS)
    assert "docent/runtime.py" in IMPORTS["psutil"]
    assert "os" not in IMPORTS and "docent" not in IMPORTS


@pytest.mark.parametrize("module", sorted(IMPORTS))
def test_every_imported_package_is_declared_and_pinned(module: str) -> None:
    files = IMPORTS[module]
    dists = sorted({normalize(d) for d in DISTRIBUTIONS.get(module, [])})
    if not dists:
        assert all(files.values()), (
            f"{module} (imported in {sorted(f for f, opt in files.items() if not opt)}) is installed by no "
            "distribution: add it to requirements.in")
        pytest.skip(f"{module}: an optional import, not installed here")
    declared = [d for d in dists if d in DECLARED]
    assert declared, (f"{module} (distribution {', '.join(dists)}; imported in {sorted(files)}) is not in "
                      "requirements.in: it arrives only through another package")
    for dist in declared:
        assert PINNED.get(dist) == DECLARED[dist], (
            f"{dist}: requirements.in says {DECLARED[dist]}, requirements.txt pins {PINNED.get(dist)}")
        installed = importlib.metadata.version(dist).split("+", 1)[0]  # torch's local build tag (+cpu)
        assert installed == DECLARED[dist], f"{dist}: {installed} installed, {DECLARED[dist]} pinned"
