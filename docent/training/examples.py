"""The examples of one run: QA rows (with RAFT contexts when train.context = retrieved) and,
optionally, passage examples, tokenized; every row that does not fit is counted."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docent.cli import UserError
from docent.config import Params

log = logging.getLogger(__name__)


@dataclass
class RunExamples:
    train: Any                       # datasets.Dataset of tokenized rows
    val: Any | None                  # None: no validation rows (no eval loss, no early stopping)
    val_rows: list[dict[str, Any]]   # as prompted (with contexts), for the BLEU sample
    inputs: list[Path]               # the files whose content shapes the run (its fingerprint)
    qa_examples: int = 0
    passage_examples: int = 0
    skipped_too_long: int = 0
    passages_skipped_too_long: int = 0
    val_skipped_too_long: int = 0
    context_counts: dict[str, int] = field(default_factory=dict)


def run_examples(params: Params, tokenizer: Any, train_path: Path, val_path: Path, sentences_path: Path,
                 index_dir: Path | None) -> RunExamples:
    from docent.training.data import passage_rows, read_qa, tokenize_rows

    assert params.train is not None
    train = params.train
    train_rows = read_qa(train_path)
    val_rows = read_qa(val_path, allow_empty=True)
    inputs = [train_path, val_path]
    context_counts: dict[str, int] = {}
    if train.context == "retrieved":
        train_rows, val_rows, context_counts = _with_contexts(params, index_dir, train_rows, val_rows)
        assert index_dir is not None
        inputs.append(index_dir / "manifest.json")  # it holds the passages' hash
    train_ds, skipped = tokenize_rows(tokenizer, train_rows, train.max_seq_len)
    n_qa = len(train_ds)
    n_passages = passages_skipped = 0
    if train.mix_passages:
        from datasets import concatenate_datasets

        doc_ids = {str(r["doc_id"]) for r in train_rows if "doc_id" in r}
        passages = passage_rows(sentences_path, doc_ids, tokenizer, train.max_seq_len)
        passage_ds, passages_skipped = tokenize_rows(tokenizer, passages, train.max_seq_len) if passages else (None, 0)
        if passage_ds is not None:
            n_passages = len(passage_ds)
            train_ds = concatenate_datasets([train_ds, passage_ds])
        inputs.append(sentences_path)
    if len(train_ds) == 0:
        raise UserError(f"{train_path}: no example fits in train.max_seq_len = {train.max_seq_len} tokens "
                        f"({skipped} too long); raise train.max_seq_len")
    if skipped:
        log.warning("%d of %d training examples are longer than train.max_seq_len = %d tokens: skipped (counted)",
                    skipped, len(train_rows), train.max_seq_len)
    val_ds, val_skipped = tokenize_rows(tokenizer, val_rows, train.max_seq_len) if val_rows else (None, 0)
    if val_ds is None or len(val_ds) == 0:
        log.warning("%s: no validation examples; no eval loss, no early stopping, last step kept", val_path)
        val_ds = None
    return RunExamples(train=train_ds, val=val_ds, val_rows=val_rows, inputs=inputs, qa_examples=n_qa,
                       passage_examples=n_passages, skipped_too_long=skipped,
                       passages_skipped_too_long=passages_skipped, val_skipped_too_long=val_skipped,
                       context_counts=context_counts)


def _with_contexts(params: Params, index_dir: Path | None, train_rows: list[dict[str, Any]],
                   val_rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """train.context = retrieved: RAFT contexts for train and val (val: the same mix, so eval loss
    measures the task the model is trained for)."""
    from docent.retrieval.build import index_manifest
    from docent.retrieval.index import load_index
    from docent.training.contexts import with_contexts

    assert params.retrieval and params.assistant and params.seed is not None
    if index_dir is None:
        raise UserError("train.context = 'retrieved' needs the index (--index models/index); "
                        "or set train.context: none")
    index = load_index(index_dir, expect=index_manifest(params.retrieval))
    abstain = params.assistant.abstain
    train_rows, counts = with_contexts(train_rows, index, params.retrieval, abstain, params.seed)
    val_rows, val_counts = with_contexts(val_rows, index, params.retrieval, abstain, params.seed)
    counts.update({f"val_{k}": v for k, v in val_counts.items()})
    if params.retrieval.k > len(index.passages):
        counts["k_clamped_to_passages"] = len(index.passages)
    log.info("contexts: %s", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return train_rows, val_rows, dict(counts)
