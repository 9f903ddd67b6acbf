"""train.mix_passages and train.eval_bleu: what each adds to the finetune stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from finetune_helpers import qa_rows, stage_args, write_jsonl, write_params
from tiny_models import FACTS, build_tiny_tokenizer

from docent.training.data import passage_rows, tokenize_rows
from stages.finetune import main as finetune_main


def run_stage(params: Path, files: dict[str, Path]):
    return CliRunner().invoke(finetune_main, stage_args(params, files), catch_exceptions=False)


def test_passage_rows_one_per_taught_document_in_sentence_order(tmp_path: Path) -> None:
    tok = build_tiny_tokenizer()
    texts = [a for _, a in FACTS[:3]]
    sentences = write_jsonl(tmp_path / "sentences.jsonl", [
        {"doc_id": "d", "title": "red city", "sent_id": 2, "text": texts[2]},
        {"doc_id": "d", "title": "red city", "sent_id": 0, "text": texts[0]},
        {"doc_id": "d", "title": "red city", "sent_id": 1, "text": texts[1]},
        {"doc_id": "x", "title": "silver coast", "sent_id": 0, "text": FACTS[3][1]},  # no train question on it
    ])
    rows = passage_rows(sentences, {"d"}, tok, max_seq_len=256)
    assert rows == [{"question": "Tell me about red city.", "answer": " ".join(texts)}]

    # a tight budget keeps the opening sentences that fit, and the example then fits max_seq_len
    one_sentence = len(tokenize_rows(tok, [{"question": "Tell me about red city.", "answer": texts[0]}], 256)[0][0]
                       ["input_ids"])
    tight = passage_rows(sentences, {"d"}, tok, max_seq_len=one_sentence + 2)
    assert tight == [{"question": "Tell me about red city.", "answer": texts[0]}]
    dataset, skipped = tokenize_rows(tok, tight, one_sentence + 2)
    assert skipped == 0 and len(dataset) == 1


def test_mix_passages_trains_on_the_passage_too(tmp_path: Path, tiny_model_dir: Path,
                                                stage_files: dict[str, Path]) -> None:
    params = write_params(tmp_path / "params.yaml", tiny_model_dir, **{
        "train.mix_passages": True, "train.max_seq_len": 128, "train.max_steps": 2})
    result = run_stage(params, stage_files)
    assert result.exit_code == 0, result.output
    metrics = json.loads(stage_files["metrics"].read_text())
    # 4 QA pairs, all about document "d", whose 6 sentences become one passage example
    assert metrics["train_examples"] == 4 and metrics["passage_examples"] == 1
    manifest = json.loads((stage_files["out"] / "docent.json").read_text())
    assert manifest["passage_examples"] == 1


def test_eval_bleu_is_logged_at_every_eval(tmp_path: Path, tiny_model_dir: Path,
                                           stage_files: dict[str, Path]) -> None:
    params = write_params(tmp_path / "params.yaml", tiny_model_dir, **{"train.eval_bleu": True, "train.max_steps": 4})
    result = run_stage(params, stage_files)
    assert result.exit_code == 0, result.output
    metrics = json.loads(stage_files["metrics"].read_text())
    logged = bleu_log(stage_files["live"])
    assert [step for step, _ in logged] == [0, 2, 4]  # the base model at step 0, then each eval (train.eval_steps = 2)
    # the metrics file reports the first (base) and last logged values, not numbers of their own
    assert metrics["base_eval_bleu"] == pytest.approx(logged[0][1], abs=1e-4)
    assert metrics["eval_bleu"] == pytest.approx(logged[-1][1], abs=1e-4)


def bleu_log(live: Path) -> list[tuple[int, float]]:
    """(step, bleu) rows of dvclive's eval/bleu.tsv."""
    lines = (live / "plots" / "metrics" / "eval" / "bleu.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    return [(int(r["step"]), float(r["bleu"])) for r in rows]


def test_eval_bleu_is_one_once_the_val_answers_are_learnt(tmp_path: Path, tiny_model_dir: Path,
                                                          stage_files: dict[str, Path]) -> None:
    """Trained on the val pairs themselves, greedy answers become the references word for word: BLEU 1.0,
    where the random base model scores about 0. A BLEU that ignored the answers could not do both."""
    write_jsonl(stage_files["train"], qa_rows(FACTS[4:]))
    params = write_params(tmp_path / "params.yaml", tiny_model_dir, **{
        "train.eval_bleu": True, "train.max_steps": 120, "train.batch_size": 2, "train.learning_rate": 0.01,
        "train.eval_steps": 120, "train.save_steps": 120, "train.early_stopping_patience": 0, "lora.r": 32,
        "lora.dropout": 0.0, "train.scheduler": "constant"})
    result = run_stage(params, stage_files)
    assert result.exit_code == 0, result.output
    metrics = json.loads(stage_files["metrics"].read_text())
    assert metrics["eval_bleu"] == 1.0
    assert metrics["base_eval_bleu"] < 0.1
    assert bleu_log(stage_files["live"]) == [(0, pytest.approx(metrics["base_eval_bleu"], abs=1e-4)),
                                             (120, pytest.approx(1.0))]


@pytest.mark.parametrize(("epochs", "min_steps", "steps"), [(1.0, 0, 1), (1.0, 5, 5), (6.0, 5, 6)])
def test_min_steps_repeats_epochs_of_a_small_corpus(tmp_path: Path, tiny_model_dir: Path,
                                                    stage_files: dict[str, Path], epochs: float, min_steps: int,
                                                    steps: int) -> None:
    """4 training questions, 2 x 2 per step: one epoch is 1 step. train.min_steps raises that to
    its count; epochs that already give more steps are left alone."""
    params = write_params(tmp_path / "params.yaml", tiny_model_dir, **{
        "train.max_steps": -1, "train.epochs": epochs, "train.min_steps": min_steps, "train.grad_accum": 2,
        "train.eval_steps": 100, "train.save_steps": 100})
    result = run_stage(params, stage_files)
    assert result.exit_code == 0, result.output
    metrics = json.loads(stage_files["metrics"].read_text())
    assert metrics["train_examples"] == 4 and metrics["steps"] == steps
