"""dvc.yaml, params.yaml and docent/config.py agree: declared params exist, cmd paths match deps/outs."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import click
import pytest
import yaml

from docent.config import SECTIONS, TOP_LEVEL_SCALARS

REPO = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
STAGES: dict[str, dict[str, Any]] = DVC["stages"]
CODE_ROOTS = ("stages", "docent")


def entry_paths(entries: list[Any]) -> list[str]:
    """deps/outs/metrics/plots entries are either 'path' or {'path': {options}}."""
    return [e if isinstance(e, str) else next(iter(e)) for e in entries or []]


def declared_paths(stage: dict[str, Any]) -> tuple[set[str], set[str]]:
    deps = set(entry_paths(stage.get("deps", [])))
    outs = set()
    for kind in ("outs", "metrics", "plots"):
        outs |= set(entry_paths(stage.get(kind, [])))
    return deps, outs


def cmd_options(stage: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """`python -m stages.x --opt value ...` -> ('stages.x', {'--opt': 'value'})."""
    argv = shlex.split(stage["cmd"])
    assert argv[:2] == ["python", "-m"], f"cmd must be 'python -m stages.<name> ...': {stage['cmd']}"
    options = argv[3:]
    assert len(options) % 2 == 0 and all(o.startswith("--") for o in options[::2]), stage["cmd"]
    pairs = dict(zip(options[::2], options[1::2], strict=True))
    assert len(pairs) == len(options) // 2, f"an option is repeated: {stage['cmd']}"
    return argv[2], pairs


def gitignored_cache(path: str) -> bool:
    """A folder named in .gitignore and tracked by no stage: a cache (models/cache), not data."""
    ignored = {line.strip().strip("/") for line in (REPO / ".gitignore").read_text().splitlines()}
    return path.strip("/") in ignored


def is_under(path: str, folder: str) -> bool:
    return PurePosixPath(path).is_relative_to(PurePosixPath(folder))


@pytest.mark.parametrize("name", sorted(STAGES))
def test_declared_params_exist_in_params_yaml_and_config(name: str) -> None:
    for entry in STAGES[name].get("params", []):
        assert isinstance(entry, str), f"{name}: params entries name keys of params.yaml: {entry!r}"
        section, _, key = entry.partition(".")
        assert section in PARAMS, f"{name}: '{entry}' not in params.yaml"
        if section in TOP_LEVEL_SCALARS:
            assert not key, f"{name}: '{entry}' is a scalar"
            continue
        assert section in SECTIONS, f"{name}: '{section}' has no dataclass in docent/config.py SECTIONS"
        if key:
            assert key in PARAMS[section], f"{name}: '{entry}' not in params.yaml"
            fields = {f.name for f in dataclasses.fields(SECTIONS[section])}
            assert key in fields, f"{name}: '{entry}' not a field of {SECTIONS[section].__name__}"


def test_params_yaml_and_config_have_the_same_sections_and_keys() -> None:
    assert set(PARAMS) == set(SECTIONS) | set(TOP_LEVEL_SCALARS)
    for section, cls in SECTIONS.items():
        assert set(PARAMS[section]) == {f.name for f in dataclasses.fields(cls)}, section


@pytest.mark.parametrize("name", sorted(STAGES))
def test_cmd_paths_match_deps_and_outs(name: str) -> None:
    stage = STAGES[name]
    module, options = cmd_options(stage)
    assert module == f"stages.{name}"
    assert options.pop("--params", None) == "params.yaml", f"{name}: cmd needs --params params.yaml"
    deps, outs = declared_paths(stage)
    assert f"stages/{name}.py" in deps, f"{name}: its own module must be a dep"
    assert not deps & outs, f"{name}: both dep and out: {deps & outs}"
    data_paths = {p for p in deps | outs if not p.startswith(CODE_ROOTS)}

    for option, value in options.items():
        covered = value in data_paths or any(is_under(p, value) for p in data_paths)
        assert covered or gitignored_cache(value), (
            f"{name}: {option} {value} is neither a dep/out (nor a folder of them) nor a gitignored cache")
    for path in data_paths:
        assert any(path == v or is_under(path, v) for v in options.values()), (
            f"{name}: {path} is declared in dvc.yaml but no cmd option passes it")


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_module_options_match_cmd(name: str) -> None:
    module, options = cmd_options(STAGES[name])
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} not written yet")
    command = importlib.import_module(module).main
    assert isinstance(command, click.Command)
    flags = {opt: p for p in command.params for opt in p.opts}
    assert set(options) <= set(flags), f"{name}: cmd passes options the stage lacks: {set(options) - set(flags)}"
    required = {p.opts[0] for p in command.params if p.required}
    assert required <= set(options), f"{name}: required options missing from cmd: {required - set(options)}"


def test_stage_outputs_do_not_overlap_between_stages() -> None:
    owner: dict[str, str] = {}
    for name, stage in STAGES.items():
        for path in declared_paths(stage)[1]:
            assert path not in owner, f"{path} is an output of both {owner[path]} and {name}"
            owner[path] = name
