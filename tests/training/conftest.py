"""Fixtures for the finetune tests (helpers live in tiny_lm.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_lm import FACTS, build_model, build_tokenizer, qa_rows, write_jsonl


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local model folder (config.json + model.safetensors + tokenizer), like model.name: ./folder."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = build_tokenizer()
    model = build_model(tok)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture()
def stage_files(tmp_path: Path) -> dict[str, Path]:
    """train/val/sentences inputs and output paths for one stage run under tmp_path."""
    train = write_jsonl(tmp_path / "train.jsonl", qa_rows(FACTS[:4]))
    val = write_jsonl(tmp_path / "val.jsonl", qa_rows(FACTS[4:], prefix="v"))
    sentences = write_jsonl(tmp_path / "sentences.jsonl", [
        {"doc_id": "d", "title": "red city", "sent_id": i, "text": a} for i, (_, a) in enumerate(FACTS)])
    return {"train": train, "val": val, "sentences": sentences, "index": tmp_path / "index",
            "cache": tmp_path / "cache",
            "checkpoints": tmp_path / "checkpoints", "out": tmp_path / "finetuned", "live": tmp_path / "live",
            "metrics": tmp_path / "train.json", "machine_metrics": tmp_path / "machine_train.json"}


