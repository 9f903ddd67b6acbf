"""A temporary copy of the pipeline, for tests that drive it through DVC itself."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def copy_pipeline(dest: Path, params: dict[str, Any] | None = None) -> Path:
    """dvc.yaml, stages/ and docent/ copied into `dest` (an empty folder), with an empty
    data/documents/, the hand-written data/eval/ sets and params.yaml: the repo's own, or `params`
    when given."""
    for item in ("dvc.yaml", "stages", "docent"):
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / item)
    (dest / "data" / "documents").mkdir(parents=True)
    (dest / "data" / "documents" / ".gitkeep").touch()
    (dest / "data" / "eval").mkdir()
    # the hand-written question sets evaluate and the classifier read
    for name in ("natural_questions.jsonl", "everyday_questions.txt"):
        shutil.copy(REPO / "data" / "eval" / name, dest / "data" / "eval")
    if params is None:
        shutil.copy(REPO / "params.yaml", dest / "params.yaml")
    else:
        (dest / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return dest
