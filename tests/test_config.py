"""params.yaml validation: every mistake stops with one line naming the key, through the loader and a stage."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from docent.config import SECTIONS, ParamsError, load_params, parse_block_ranges

REPO = Path(__file__).resolve().parents[1]
DEFAULTS: dict[str, Any] = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))


def write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def with_value(dotted: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(DEFAULTS)
    section, key = dotted.split(".")
    raw[section][key] = value
    return raw


def test_repository_params_load_completely() -> None:
    params = load_params(REPO / "params.yaml", "seed", *SECTIONS)
    assert params.seed == DEFAULTS["seed"]
    assert params.scrape.pages == tuple(DEFAULTS["scrape"]["pages"])
    assert all(getattr(params, name) is not None for name in SECTIONS)


@pytest.mark.parametrize(("dotted", "value", "message"), [
    # wrong type
    ("clean.min_words", "five", "clean.min_words = 'five': must be an integer"),
    ("scrape.retries", True, "scrape.retries = True: must be an integer"),
    ("scrape.timeout_s", "20s", "scrape.timeout_s = '20s': must be a number"),
    ("scrape.pages", "Vietnam", "scrape.pages = 'Vietnam': must be a list of strings"),
    ("classifier.sublinear_tf", "yes please", "classifier.sublinear_tf = 'yes please': must be true or false"),
    ("scrape.source", "snapshots",
     "scrape.source = 'snapshots': must be one of 'snapshot', 'wikipedia', 'files' (did you mean 'snapshot'?)"),
    # out of range
    ("scrape.retries", 11, "scrape.retries = 11: must be <= 10"),
    ("scrape.max_page_bytes", 10, "scrape.max_page_bytes = 10: must be >= 1000"),
    ("scrape.max_file_bytes", 999, "scrape.max_file_bytes = 999: must be >= 1000"),
    ("scrape.max_pdf_pages", 0, "scrape.max_pdf_pages = 0: must be >= 1"),
    ("clean.max_code_lines", 0, "clean.max_code_lines = 0: must be >= 1"),
    ("clean.max_signature_chars", 5, "clean.max_signature_chars = 5: must be >= 10"),
    ("scrape.timeout_s", 0, "scrape.timeout_s = 0.0: must be > 0"),
    ("lora.r", 0, "lora.r = 0: must be >= 1"),
    ("split.train", 1.0, "split.train = 1.0: must be < 1"),
    # cross-key checks
    ("clean.min_words", 80, "clean.min_words = 80: must be <= clean.max_words (60)"),
    ("scrape.pages", [], "scrape.pages: empty; list at least one page title"),
    ("split.test", 0.2, "split.train + split.val + split.test = 1.1: must sum to 1 (got 0.8 + 0.1 + 0.2)"),
    # block ranges
    ("freeze.layers", "5-2", "freeze.layers = '5-2': must be a block count or ranges like '0-11,20'"),
    ("freeze.layers", "a-b", "freeze.layers = 'a-b': must be a block count or ranges like '0-11,20'"),
    ("freeze.layers", -1, "freeze.layers = -1: must be >= 0"),
])
def test_bad_value_names_key_value_and_rule(tmp_path: Path, dotted: str, value: Any, message: str) -> None:
    section = dotted.split(".")[0]
    with pytest.raises(ParamsError) as info:
        load_params(write(tmp_path, with_value(dotted, value)), section)
    assert info.value.format_message() == message


def test_unknown_key_and_section_suggest_the_closest(tmp_path: Path) -> None:
    raw = copy.deepcopy(DEFAULTS)
    raw["scrape"]["max_page"] = raw["scrape"].pop("max_pages")
    with pytest.raises(ParamsError, match=re.escape("scrape.max_page: unknown key (did you mean 'max_pages'?)")):
        load_params(write(tmp_path, raw), "scrape")
    raw = copy.deepcopy(DEFAULTS)
    raw["claen"] = raw.pop("clean")
    with pytest.raises(ParamsError, match=re.escape("claen: unknown params section (did you mean 'clean'?)")):
        load_params(write(tmp_path, raw), "scrape")  # checked for the whole file, whatever the stage reads


def test_missing_key_and_file_problems(tmp_path: Path) -> None:
    raw = copy.deepcopy(DEFAULTS)
    del raw["clean"]["max_words"]
    with pytest.raises(ParamsError, match=re.escape("clean.max_words: missing from params")):
        load_params(write(tmp_path, raw), "clean")
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml", "clean")
    broken = tmp_path / "broken.yaml"
    broken.write_text("clean:\n  min_words: 5\n   max_words: [\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=re.escape(f"{broken}:3:")):
        load_params(broken, "clean")


def test_block_ranges_parse() -> None:
    assert parse_block_ranges("0-3, 7,5") == [0, 1, 2, 3, 5, 7]
    assert parse_block_ranges("2,2-3") == [2, 3]


def stage_stderr(tmp_path: Path, stage: str, raw: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    params = write(tmp_path, raw)
    paths = {
        "scrape": ["--documents", str(tmp_path / "docs"), "--http-cache", str(tmp_path / "cache"),
                   "--out", str(tmp_path / "pages.jsonl"), "--metrics", str(tmp_path / "m.json"),
                   "--machine-metrics", str(tmp_path / "machine_m.json")],
        "clean": ["--pages", str(tmp_path / "pages.jsonl"), "--out", str(tmp_path / "s.jsonl"),
                  "--code-out", str(tmp_path / "code.jsonl"), "--metrics", str(tmp_path / "m.json"),
                  "--machine-metrics", str(tmp_path / "machine_m.json")],
    }[stage]
    return subprocess.run([sys.executable, "-m", f"stages.{stage}", "--params", str(params), *paths],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.mark.parametrize(("stage", "dotted", "value", "message"), [
    ("scrape", "scrape.max_page_bytes", "5 MB", "error: scrape.max_page_bytes = '5 MB': must be an integer"),
    ("clean", "clean.max_words", 0, "error: clean.max_words = 0: must be >= 1"),
])
def test_stage_with_bad_params_exits_2_with_one_line(tmp_path: Path, stage: str, dotted: str, value: Any,
                                                     message: str) -> None:
    result = stage_stderr(tmp_path, stage, with_value(dotted, value))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [message]  # one line, no traceback, nothing logged before it
    assert result.stdout == ""
    assert not (tmp_path / "m.json").exists()
