"""Helpers for the finetune tests: QA files, params pointing at the tiny model (tests/tiny_models.py),
the stage's command line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml


def qa_rows(pairs: list[tuple[str, str]], prefix: str = "q") -> list[dict]:
    return [{"id": f"{prefix}{i}", "question": q, "answer": a, "doc_id": "d", "sent_ids": [i],
             "fact_id": i, "qtype": "what", "generator": "test"} for i, (q, a) in enumerate(pairs)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_params(path: Path, model_dir: Path | str, **overrides: object) -> Path:
    """The repo's params.yaml with model.name pointing at the tiny model and `section.key` overrides."""
    repo_params = Path(__file__).resolve().parents[2] / "params.yaml"
    params = yaml.safe_load(repo_params.read_text(encoding="utf-8"))
    params["model"]["name"] = str(model_dir)
    small = {"train.max_steps": 6, "train.batch_size": 2, "train.eval_steps": 2, "train.save_steps": 2,
             "train.max_seq_len": 64, "train.threads": 1, "train.warmup_ratio": 0.0, "freeze.layers": 0,
             "freeze.fraction": 0.0, "train.context": "none"}
    for key, value in {**small, **{k.replace("__", "."): v for k, v in overrides.items()}}.items():
        section, name = key.split(".")
        params[section][name] = value
    path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def stage_args(params: Path, files: dict[str, Path]) -> list[str]:
    return ["--params", str(params), "--train", str(files["train"]), "--val", str(files["val"]),
            "--sentences", str(files["sentences"]), "--index", str(files["index"]),
            "--model-cache", str(files["cache"]),
            "--checkpoints", str(files["checkpoints"]), "--out", str(files["out"]),
            "--live-dir", str(files["live"]), "--metrics", str(files["metrics"]),
            "--machine-metrics", str(files["machine_metrics"])]
