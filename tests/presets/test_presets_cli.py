"""`python -m docent.presets`: show's -S arguments do what apply does, and both validate first."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from docent.config import SECTIONS, load_params
from docent.presets import main

REPO = Path(__file__).resolve().parents[2]
PRESET_NAMES = sorted(p.stem for p in (REPO / "presets").glob("*.yaml"))


@pytest.fixture()
def params_copy(tmp_path: Path) -> Path:
    return Path(shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml"))


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_list_names_every_preset_with_its_description() -> None:
    result = run("list")
    assert result.exit_code == 0
    listed = dict(line.split("\t") for line in result.output.splitlines())
    assert sorted(listed) == PRESET_NAMES
    assert all(listed.values())


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_show_arguments_make_dvc_write_what_apply_writes(name: str, params_copy: Path, tmp_path: Path) -> None:
    from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` runs on params.yaml

    shown = run("show", name, "--params", str(params_copy))
    assert shown.exit_code == 0, shown.output
    tokens = shlex.split(shown.output)
    assert tokens[0::2] == ["-S"] * (len(tokens) // 2)
    via_dvc = Path(shutil.copy(params_copy, tmp_path / "via_dvc.yaml"))
    apply_overrides(via_dvc, tokens[1::2])

    applied = run("apply", name, "--params", str(params_copy))
    assert applied.exit_code == 0, applied.output

    assert yaml.safe_load(via_dvc.read_text()) == yaml.safe_load(params_copy.read_text())
    # and the stages' loader accepts the result, every section
    params = load_params(params_copy, "seed", *SECTIONS)
    overlay = yaml.safe_load((REPO / "presets" / f"{name}.yaml").read_text())
    for section, values in overlay.items():
        for key, value in values.items():
            got = getattr(getattr(params, section), key)
            assert (list(got) if isinstance(got, tuple) else got) == value, f"{section}.{key}"


def test_apply_changes_only_the_preset_keys_and_keeps_comments(params_copy: Path) -> None:
    before = params_copy.read_text().splitlines()
    assert run("apply", "falcon-7b-qlora", "--params", str(params_copy)).exit_code == 0
    after = params_copy.read_text().splitlines()
    assert len(after) == len(before)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    changed_keys = sorted(b.split(":")[0].strip() for b, _ in changed)
    # (the preset's batch_size 4 is params.yaml's own since the RAFT contexts: that line stays)
    assert changed_keys == sorted(["name", "r", "alpha", "dropout", "target_modules", "layers",
                                   "method", "optimizer", "epochs"])
    # each changed line keeps its explanatory comment
    assert all(a.split("#", 1)[1:] == b.split("#", 1)[1:] for b, a in changed)


def write_preset(tmp_path: Path, text: str) -> Path:
    presets = tmp_path / "presets"
    presets.mkdir(exist_ok=True)
    (presets / "custom.yaml").write_text(text)
    return presets


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lora:\n  alpah: 8\n", "lora.alpah: unknown key (did you mean 'alpha'?)"),
        ("lroa:\n  r: 8\n", "lroa: unknown params section (did you mean 'lora'?)"),
        ("lora:\n  dropout: 1.5\n", "lora.dropout = 1.5: must be < 1"),
        ("train:\n  optimizer: adam\n", "train.optimizer = 'adam': must be one of"),
        ("freeze:\n  layers: 4\n  fraction: 0.5\n", "freeze.fraction: set either"),
    ],
)
@pytest.mark.parametrize("command", ["show", "apply"])
def test_bad_presets_stop_with_one_line_and_leave_params_alone(
    tmp_path: Path, params_copy: Path, text: str, message: str, command: str
) -> None:
    presets = write_preset(tmp_path, text)
    before = params_copy.read_bytes()
    result = CliRunner().invoke(main, [command, "custom", "--params", str(params_copy), "--presets-dir", str(presets)])
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert params_copy.read_bytes() == before
    assert sorted(p.name for p in params_copy.parent.iterdir()) == sorted(["params.yaml", "presets"])


def test_unknown_preset_lists_the_available_ones(params_copy: Path) -> None:
    result = CliRunner().invoke(main, ["show", "falcon", "--params", str(params_copy)])
    assert result.exit_code == 2
    assert all(name in result.output for name in PRESET_NAMES)


def test_small_floats_are_written_so_the_params_loader_reads_numbers(tmp_path: Path, params_copy: Path) -> None:
    # YAML 1.1 (PyYAML, docent.config) reads `1e-05` as a string; apply must write `1.0e-05`
    presets = write_preset(tmp_path, "train:\n  learning_rate: 1.0e-5\n  weight_decay: 0.00002\n")
    assert run("apply", "custom", "--params", str(params_copy), "--presets-dir", str(presets)).exit_code == 0
    train = load_params(params_copy, "train").train
    assert train.learning_rate == 1e-5 and train.weight_decay == 2e-5


def test_show_quotes_values_the_override_grammar_would_misread(tmp_path: Path, params_copy: Path) -> None:
    from dvc.utils.hydra import apply_overrides

    # a model folder with a space and a literal that looks like a number must stay strings
    presets = write_preset(tmp_path, "model:\n  name: ./my models/v1.0\nfreeze:\n  layers: '12'\n")
    shown = run("show", "custom", "--params", str(params_copy), "--presets-dir", str(presets))
    assert shown.exit_code == 0, shown.output
    apply_overrides(params_copy, shlex.split(shown.output)[1::2])
    data = yaml.safe_load(params_copy.read_text())
    assert data["model"]["name"] == "./my models/v1.0"
    assert data["freeze"]["layers"] == "12"


@pytest.mark.parametrize("value", [
    "Mercury (planet)", "Halley's Comet", "I don't find that", 'say "hi"', "x,y", "a=b", "#c", "~", "[x]", "{y}",
    "${not_interpolated}", "a\\b", "ends\\", "q\\'x", " padded ", "inf", "NaN", "True", "null", "12", "1e5",
    "./my models/v1.0", "all-linear", "Huế", "",
])
def test_show_writes_strings_that_dvc_reads_back_unchanged(value: str, tmp_path: Path) -> None:
    """The -S values are written without Hydra (docent.presets quotes by the grammar's rules); dvc,
    which parses them with Hydra, gets the same string back."""
    from dvc.utils.hydra import apply_overrides

    from docent.presets import set_param_args

    target = tmp_path / "params.yaml"
    target.write_text("assistant:\n  domain: x\n", encoding="utf-8")
    args = set_param_args([("assistant.domain", value)])
    apply_overrides(target, args[1::2])
    assert yaml.safe_load(target.read_text(encoding="utf-8"))["assistant"]["domain"] == value
