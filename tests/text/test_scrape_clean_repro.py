"""`dvc repro scrape clean` in a throwaway git repository: the exact files the two stages write."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PAGES = ["Trưng sisters", "Lê Lợi", "Hồng Bàng dynasty", "Not a snapshot title"]


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_dvc_repro_scrape_clean(tmp_path: Path) -> None:
    dvc = Path(sys.executable).parent / "dvc"
    if not dvc.exists() or shutil.which("git") is None:
        pytest.skip("dvc (in the venv) and git are needed")
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(REPO / "dvc.yaml", repo)
    for package in ("stages", "docent"):
        shutil.copytree(REPO / package, repo / package, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["scrape"]["pages"] = PAGES
    (repo / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (repo / "data" / "documents").mkdir(parents=True)
    (repo / "data" / "documents" / ".gitkeep").write_text("")
    # The venv first on PATH: dvc runs `python -m stages.x` with the venv's python.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    run(["git", "init", "-q"], repo, env)
    run([str(dvc), "init", "-q"], repo, env)

    run([str(dvc), "repro", "scrape", "clean"], repo, env)

    written = sorted(p.relative_to(repo).as_posix() for p in (repo / "data").rglob("*"))
    written += sorted(p.relative_to(repo).as_posix() for p in (repo / "metrics").rglob("*"))
    assert written == [
        "data/clean", "data/clean/.gitignore", "data/clean/code.jsonl", "data/clean/sentences.jsonl",
        "data/documents", "data/documents/.gitkeep", "data/http_cache",
        "data/http_cache/CACHEDIR.TAG", "data/raw", "data/raw/.gitignore",
        "data/raw/pages.jsonl", "metrics/clean.json", "metrics/machine", "metrics/machine/clean.json",
        "metrics/machine/scrape.json", "metrics/scrape.json",
    ]
    assert (repo / "dvc.lock").exists()
    assert set(yaml.safe_load((repo / "dvc.lock").read_text())["stages"]) == {"scrape", "clean"}

    pages = [json.loads(line) for line in (repo / "data/raw/pages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [p["title"] for p in pages] == PAGES[:3]
    scrape_metrics = json.loads((repo / "metrics/scrape.json").read_text(encoding="utf-8"))
    assert (scrape_metrics["pages_fetched"], scrape_metrics["pages_missing_titles"]) == (3, "Not a snapshot title")
    sentences = [json.loads(line)
                 for line in (repo / "data/clean/sentences.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {s["doc_id"] for s in sentences} == {p["id"] for p in pages}
    assert any("Trưng Trắc" in s["text"] for s in sentences)
    clean_metrics = json.loads((repo / "metrics/clean.json").read_text(encoding="utf-8"))
    assert clean_metrics["sentences_kept"] == len(sentences) >= 8
    assert {(s["section"], s["kind"]) for s in sentences} == {("", "sentence")}  # lead sections: no headings
    assert (repo / "data/clean/code.jsonl").read_text(encoding="utf-8") == ""

    # Nothing changed: a second repro runs no stage.
    again = run([str(dvc), "repro", "scrape", "clean"], repo, env)
    assert "didn't change, skipping" in again.stdout and "Running stage" not in again.stdout
