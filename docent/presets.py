"""Params presets: named overlays of params.yaml for reference setups (presets/<name>.yaml).

A preset sets the handful of keys that define a setup (base model, LoRA, freezing, optimiser,
schedule) and leaves every other key of params.yaml as it is. Two ways to use one:

    python -m docent.presets show falcon-7b-qlora      # the `-S key=value` list for `dvc exp run`
    args=$(python -m docent.presets show falcon-7b-qlora) && eval "dvc exp run $args"
    python -m docent.presets apply falcon-7b-qlora     # rewrite params.yaml with the preset merged in

Both first merge the preset into the current params.yaml and validate the result with
docent.config's loader (the one every stage uses), so a preset naming a key that does not exist,
or a value out of range, stops here with one line naming the key. `apply` keeps params.yaml's
comments and layout and replaces the file atomically (temporary file + rename).
"""

from __future__ import annotations

import copy
import difflib
import io
import re
import shlex
import typing
from pathlib import Path
from typing import Any

import click

from docent.cli import UserError
from docent.config import (
    SECTIONS,
    TOP_LEVEL_SCALARS,
    ParamsError,
    build_params,
    parse_params_text,
    read_params_file,
    validate_all,
)

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"


# ---------------------------------------------------------------- reading presets

def preset_names(presets_dir: Path = PRESETS_DIR) -> list[str]:
    return sorted(p.stem for p in Path(presets_dir).glob("*.yaml"))


def preset_path(name: str, presets_dir: Path = PRESETS_DIR) -> Path:
    path = Path(presets_dir) / f"{name}.yaml"
    if not path.is_file():
        available = ", ".join(preset_names(presets_dir)) or "none"
        raise UserError(f"preset {name!r}: no {path} (available: {available})")
    return path


def preset_description(path: Path) -> str:
    """The first comment line of a preset file: what the setup is."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            break
    return ""


def load_preset(name: str, presets_dir: Path = PRESETS_DIR) -> dict[str, Any]:
    """The overlay as a mapping section -> {key: value}, every name checked against docent.config."""
    path = preset_path(name, presets_dir)
    overlay = read_params_file(path)
    try:
        validate_all(overlay)
        for section, values in overlay.items():
            if section in TOP_LEVEL_SCALARS:
                continue
            if not isinstance(values, dict) or not values:
                raise ParamsError(f"{section}: must be a mapping of keys to override")
            fields = typing.get_type_hints(SECTIONS[section])
            for key in values:
                if key not in fields:
                    close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    raise ParamsError(f"{section}.{key}: unknown key{hint}")
    except ParamsError as exc:
        raise UserError(f"{path}: {exc.format_message()}") from None
    return overlay


def overrides(overlay: dict[str, Any]) -> list[tuple[str, Any]]:
    """Dotted keys and values, in file order: [('model.name', 'tiiuae/falcon-7b-instruct'), ...].

    An integer given for a float key becomes a float (alpha 16 -> 16.0), as docent.config would
    read it, so the written params show the key's real type.
    """
    pairs: list[tuple[str, Any]] = []
    for section, values in overlay.items():
        if section in TOP_LEVEL_SCALARS:
            pairs.append((section, values))
            continue
        hints = typing.get_type_hints(SECTIONS[section])
        for key, value in values.items():
            if hints[key] is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            pairs.append((f"{section}.{key}", value))
    return pairs


# ---------------------------------------------------------------- merging and writing params.yaml

def _yaml() -> Any:
    """ruamel round-trip YAML set up to reproduce params.yaml's layout byte for byte."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.preserve_quotes = True

    def represent_float(representer: Any, value: float) -> Any:
        # PyYAML (which docent.config reads with) takes '1e-05' for a string: YAML 1.1 floats need a
        # dot in the mantissa. repr() gives '1e-05' for small floats, so write '1.0e-05'.
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return representer.represent_scalar("tag:yaml.org,2002:float", text)

    yaml.representer.add_representer(float, represent_float)
    return yaml


def merged_params_text(params_path: Path, pairs: list[tuple[str, Any]]) -> str:
    """params.yaml's text with the overrides applied; comments and untouched lines kept."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = _yaml()
    try:
        text = Path(params_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{params_path}: params file not found") from None
    data = yaml.load(text)
    if not isinstance(data, dict):
        raise UserError(f"{params_path}: must be a mapping of sections")
    for dotted, value in pairs:
        value = copy.deepcopy(value)
        if isinstance(value, list):
            seq = CommentedSeq(value)
            seq.fa.set_flow_style()  # target_modules: [a, b, c] on one line, as params.yaml writes lists of names
            value = seq
        if "." not in dotted:
            data[dotted] = value
            continue
        section, key = dotted.split(".", 1)
        if section not in data or data[section] is None:
            data[section] = CommentedMap()
        data[section][key] = value
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()


def validate_params_text(text: str, source: str | Path = "merged params") -> None:
    """Load `text` exactly as a stage would (docent.config's loader, every section)."""
    raw = parse_params_text(text, source)
    build_params(raw, *(name for name in raw if name in SECTIONS or name in TOP_LEVEL_SCALARS))


def apply_preset(name: str, params_path: Path, presets_dir: Path = PRESETS_DIR) -> list[tuple[str, Any]]:
    """Merge preset `name` into `params_path` in place (validated, then written atomically)."""
    from docent.io import atomic_write

    pairs = overrides(load_preset(name, presets_dir))
    text = merged_params_text(params_path, pairs)
    try:
        validate_params_text(text, params_path)
    except ParamsError as exc:
        raise UserError(f"preset {name!r} merged into {params_path}: {exc.format_message()}") from None
    with atomic_write(params_path) as fh:
        fh.write(text)
    return pairs


# ---------------------------------------------------------------- `dvc exp run -S` arguments

# Hydra's override grammar reads an unquoted value as a number, a bool or null when it looks like one
# (case-insensitively: True, NULL, inf, nan, 1_000, 1e-5), and its brackets, braces, parentheses,
# commas, quotes, `=`, `#`, `~` and `${` as syntax (`Mercury (planet)` is a function call there).
_PLAIN = re.compile(r"[A-Za-z_/.][A-Za-z0-9_/.:+\-]*(?: [A-Za-z0-9_/.:+\-]+)*")
_NOT_A_STRING = re.compile(r"(?i)[+-]?(?:true|false|null|inf|nan)")


def _override_value(value: Any) -> str:
    """`value` as `dvc exp run -S key=value` reads it back (Hydra's override grammar): a plain string
    as it is, any other string quoted. The quoting follows the grammar's documented rules: in a
    quoted value `\\'` is a quote, `\\${` a literal `${`, and only backslashes right before a quote
    (the closing one included) are escapes, so those are doubled."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_override_value(v) for v in value) + "]"
    text = str(value)
    if _PLAIN.fullmatch(text) and not _NOT_A_STRING.fullmatch(text):
        return text
    body = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, text)
    body = body.replace("'", "\\'").replace("${", "\\${")
    return f"'{body}'"


def set_param_args(pairs: list[tuple[str, Any]]) -> list[str]:
    """['-S', 'model.name=tiiuae/falcon-7b-instruct', '-S', 'lora.r=64', ...]."""
    args: list[str] = []
    for dotted, value in pairs:
        args += ["-S", f"{dotted}={_override_value(value)}"]
    return args


def show_preset(name: str, params_path: Path, presets_dir: Path = PRESETS_DIR) -> str:
    """One shell-quoted line of `-S key=value` arguments, checked against the merged params."""
    pairs = overrides(load_preset(name, presets_dir))
    try:
        validate_params_text(merged_params_text(params_path, pairs), params_path)
    except ParamsError as exc:
        raise UserError(f"preset {name!r} merged into {params_path}: {exc.format_message()}") from None
    return shlex.join(set_param_args(pairs))


# ---------------------------------------------------------------- CLI

_params_option = click.option(
    "--params", "params_path", type=click.Path(dir_okay=False, path_type=Path), default="params.yaml",
    show_default=True, help="The params file the preset is merged into.",
)
_presets_option = click.option(
    "--presets-dir", type=click.Path(file_okay=False, path_type=Path), default=PRESETS_DIR,
    show_default="presets/", help="Folder of preset files (<name>.yaml).",
)


@click.group()
def main() -> None:
    """Params presets for reference setups: list, show as `dvc exp run -S` arguments, or apply."""


@main.command("list")
@_presets_option
def list_cmd(presets_dir: Path) -> None:
    """Name and one-line description of each preset."""
    for name in preset_names(presets_dir):
        click.echo(f"{name}\t{preset_description(Path(presets_dir) / f'{name}.yaml')}")


@main.command("show")
@click.argument("name")
@_params_option
@_presets_option
def show_cmd(name: str, params_path: Path, presets_dir: Path) -> None:
    """Print the `-S key=value` arguments that make NAME an experiment:

    args=$(python -m docent.presets show NAME) && eval "dvc exp run $args"
    """
    click.echo(show_preset(name, params_path, presets_dir))


@main.command("apply")
@click.argument("name")
@_params_option
@_presets_option
def apply_cmd(name: str, params_path: Path, presets_dir: Path) -> None:
    """Rewrite the params file with preset NAME merged in (comments kept; atomic)."""
    pairs = apply_preset(name, params_path, presets_dir)
    click.echo(f"{params_path}: applied preset {name} ({len(pairs)} keys)", err=True)


if __name__ == "__main__":
    main(prog_name="python -m docent.presets")
