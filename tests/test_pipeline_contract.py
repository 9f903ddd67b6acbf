"""dvc.yaml, params.yaml, docent/config.py and the code agree: declared params exist, cmd paths match
deps/outs, code deps are the stage's import closure, declared params are the keys its code reads."""

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
from code_deps import code_dep_problems, import_closure, is_inert, params_problems, stage_closure
from pipeline_copy import copy_pipeline

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


# ---------------------------------------------------------------- deps and params from the code (tests/code_deps.py)

def _skip_unwritten(*names: str) -> None:
    for name in names:
        if not (REPO / "stages" / f"{name}.py").is_file():
            pytest.skip(f"stages/{name}.py not written yet")


@pytest.mark.parametrize("name", sorted(STAGES))
def test_code_deps_are_the_import_closure(name: str) -> None:
    """Every project file the stage imports (lazily too) is a dep, and every code dep is imported."""
    _skip_unwritten(name)
    assert code_dep_problems(REPO, {name: STAGES[name]}) == []


@pytest.mark.parametrize("name", sorted(STAGES))
def test_declared_params_are_the_keys_the_code_reads(name: str) -> None:
    _skip_unwritten(name)
    assert params_problems(REPO, {name: STAGES[name]}) == []


def test_a_removed_dep_or_a_drifted_param_is_reported(tmp_path: Path) -> None:
    """The checks on the real code, against a dvc.yaml with one dep removed and two params changed."""
    edited = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    edited["stages"]["evaluate"]["deps"].remove("docent/relevance/classifier.py")
    edited["stages"]["generate_qa"]["params"] = ["seed", "qa", "model.name"]  # the drift issue 16 found
    edited["stages"]["index"]["params"].append("retrieval.p_gold")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(edited), encoding="utf-8")
    stages = yaml.safe_load((tmp_path / "dvc.yaml").read_text(encoding="utf-8"))["stages"]

    assert code_dep_problems(REPO, stages) == ["evaluate: imports docent/relevance/classifier.py, which no dep covers"]
    assert params_problems(REPO, stages) == [
        "generate_qa: reads model.allow_pickle, not declared in params",
        "generate_qa: reads model.attn_implementation, not declared in params",
        "generate_qa: reads model.dtype, not declared in params",
        "generate_qa: reads model.trust_remote_code, not declared in params",
        "index: declares retrieval.p_gold, which its code never reads",
    ]
    # a folder that holds a module the stage does not import would re-run it for nothing
    edited["stages"]["evaluate"]["deps"].append("docent/relevance")
    assert code_dep_problems(REPO, edited["stages"]) == [
        "evaluate: dep docent/relevance/__main__.py (in docent/relevance) is not imported by the stage",
        "evaluate: dep docent/relevance/train.py (in docent/relevance) is not imported by the stage",
    ]


SYNTHETIC = {
    "stages/__init__.py": '"""Stages."""\n',
    "stages/foo.py": (
        "from docent.config import load_params\n"
        "def main():\n"
        "    params = load_params('params.yaml', 'retrieval', 'seed')\n"
        "    from docent.pkg import mod\n"  # lazy, and a submodule named by `from package import`
        "    mod.run(params.retrieval, params.seed)\n"
        "if __name__ == '__main__':\n"
        "    main()\n"),
    "docent/__init__.py": '"""The package."""\nfrom __future__ import annotations\n',
    "docent/config.py": "LOADER = 1\n",
    "docent/pkg/__init__.py": '"""Inert."""\n',
    "docent/pkg/mod.py": (
        "from typing import TYPE_CHECKING\n"
        "from docent.config import RetrievalParams\n"
        "if TYPE_CHECKING:\n"
        "    from docent import hidden\n"
        "def run(r: RetrievalParams, seed: int):\n"
        "    from .helper import passages\n"  # relative, inside a function
        "    return passages(r)\n"
        "def never_called(r: RetrievalParams):\n"
        "    return r.min_score\n"),
    "docent/pkg/helper.py": (
        "import dataclasses\n"
        "def passages(cfg: 'RetrievalParams | None'):\n"
        "    k, words = cfg.k, cfg.passage_words\n"
        "    return dataclasses.replace(cfg, p_gold=0.5, abstain_share=0.0, min_score=0.0)\n"),
    "docent/hidden.py": "import os\n",
    "docent/other.py": "import os\n",
}


def test_the_checks_on_a_synthetic_project(tmp_path: Path) -> None:
    """Lazy, relative and `from package import submodule` imports are followed, TYPE_CHECKING ones and
    inert files are not; a key read only in a function no stage code calls is not a read."""
    for rel, text in SYNTHETIC.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    assert import_closure(tmp_path, tmp_path / "stages/foo.py") == {
        "stages/foo.py", "docent/config.py", "docent/pkg/mod.py", "docent/pkg/helper.py"}
    stages = {"foo": {"deps": ["stages/foo.py", "docent/config.py", "docent/pkg", "docent/other.py"],
                      "params": ["seed", "retrieval.k", "retrieval.min_score"]}}
    assert code_dep_problems(tmp_path, stages) == ["foo: dep docent/other.py is not imported by the stage"]
    stages["foo"]["deps"] = ["stages/foo.py", "docent/config.py", "docent/pkg/mod.py"]
    assert code_dep_problems(tmp_path, stages) == ["foo: imports docent/pkg/helper.py, which no dep covers"]
    assert params_problems(tmp_path, stages) == [
        "foo: reads retrieval.absent_document_share, not declared in params",  # through dataclasses.replace
        "foo: reads retrieval.abstain_min_prob, not declared in params",
        "foo: reads retrieval.answer_mode, not declared in params",
        "foo: reads retrieval.answer_type_bonus, not declared in params",
        "foo: reads retrieval.code_lead_words, not declared in params",
        "foo: reads retrieval.distractor_pool, not declared in params",
        "foo: reads retrieval.embedding_model, not declared in params",
        "foo: reads retrieval.gold_position, not declared in params",
        "foo: reads retrieval.lexical_weight, not declared in params",
        "foo: reads retrieval.min_query_match, not declared in params",
        "foo: reads retrieval.min_similarity, not declared in params",
        "foo: reads retrieval.passage_words, not declared in params",
        "foo: reads retrieval.resolve_references, not declared in params",
        "foo: reads retrieval.train_embeddings, not declared in params",
        "foo: declares retrieval.min_score, which its code never reads",
    ]


def _fake_outputs(root: Path, stages: dict[str, dict[str, Any]]) -> None:
    """A stand-in for every data dep and output that is not there: a small file, or a folder with one."""
    for stage in stages.values():
        for kind in ("deps", "outs", "metrics", "plots"):
            for rel in entry_paths(stage.get(kind, [])):
                path = root / rel
                if path.exists():
                    continue
                if path.suffix:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("{}\n", encoding="utf-8")
                else:
                    path.mkdir(parents=True)
                    (path / "part").write_text("x\n", encoding="utf-8")


def test_dvc_status_after_touching_a_module_lists_exactly_its_importers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a copy of the pipeline, locked by `dvc commit -f` over stand-in outputs (no stage runs):
    appending a comment to a module makes `dvc status` list the stages whose import closure holds
    it, and no other. One module per distinct set of importing stages (none included)."""
    from dvc.repo import Repo

    _skip_unwritten(*STAGES)
    (tmp_path / "repo").mkdir()
    root = copy_pipeline(tmp_path / "repo")
    # code deps are what is under test: without the params entries dvc status reads no params.yaml
    # (over half of its time); deps and outs stay as dvc.yaml declares them
    pipeline = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))
    for stage in pipeline["stages"].values():
        stage.pop("params", None)
    (root / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False), encoding="utf-8")
    _fake_outputs(root, STAGES)
    monkeypatch.chdir(root)
    Repo.init(str(root), no_scm=True)
    repo = Repo(str(root))
    repo.commit(None, force=True)
    assert repo.status() == {}

    closures = {name: stage_closure(REPO, name) for name in STAGES}
    by_importers: dict[frozenset[str], str] = {}
    for path in sorted((REPO / "docent").rglob("*.py")) + sorted((REPO / "stages").rglob("*.py")):
        if "__pycache__" in path.parts or is_inert(path):
            continue
        rel = path.relative_to(REPO).as_posix()
        by_importers.setdefault(frozenset(n for n, c in closures.items() if rel in c), rel)
    assert len(by_importers) > len(STAGES)  # shared modules, single-stage ones and unimported ones
    for importers, rel in by_importers.items():
        module = root / rel
        original = module.read_bytes()
        module.write_bytes(original + b"\n# touched\n")
        try:
            # a folder dep is reported by its folder's name: the stage is what counts
            listed = {name for name, changes in repo.status().items() if any("changed deps" in c for c in changes)}
        finally:
            module.write_bytes(original)
        assert listed == set(importers), f"touching {rel}: dvc status lists {sorted(listed)}"
    assert repo.status() == {}
