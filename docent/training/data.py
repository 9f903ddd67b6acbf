"""Training examples: QA rows -> prompt/answer token ids with answer-only labels, packed batches.

Tokenisation goes through `datasets` with `keep_in_memory=True`: the Arrow tables stay in
RAM (a few thousand short rows), so nothing is written to ~/.cache or beside the inputs,
where DVC would see undeclared files. The same rows always give the same ids, so re-runs and
resumed runs see identical data.

Packing: a batch of examples becomes ONE row, no padding (transformers' DataCollatorWithFlattening).
Position ids restart at 0 for each example, and `cu_seq_lens` (cumulative lengths: 0, len1,
len1+len2, ...) marks where each starts: attention runs within each example only
(docent.modeling.packed_attention; flash-attention reads the same boundaries), so no example
attends to another. `shift_labels[t]` is the token position t must predict (-100 where no loss:
prompt tokens and each example's last token, which would otherwise predict the next example).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docent.cli import UserError
from docent.io import read_jsonl
from docent.modeling.prompt import IGNORE_INDEX, answer_only_labels

if TYPE_CHECKING:
    import torch
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

PASSAGE_QUESTION = "Tell me about {title}."


def read_qa(path: str | Path, allow_empty: bool = False) -> list[dict[str, Any]]:
    """QA rows from split: each needs a non-empty question and answer."""
    return read_jsonl(path, required=("question", "answer"), nonempty=("question", "answer"),
                      allow_empty_file=allow_empty)


def passage_rows(
    sentences_path: str | Path,
    doc_ids: set[str],
    tokenizer: PreTrainedTokenizerBase,
    max_seq_len: int,
) -> list[dict[str, str]]:
    """'Tell me about <title>.' -> the document's opening sentences, for the taught documents.

    One example per document (several passages under one question would teach conflicting
    answers); sentences are added in order while the example fits in `max_seq_len` tokens.
    """
    from docent.modeling.prompt import answer_suffix, prompt_text

    rows = read_jsonl(sentences_path, required=("doc_id", "title", "sent_id", "text"), nonempty=("text",))
    by_doc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if str(row["doc_id"]) in doc_ids:
            by_doc[str(row["doc_id"])].append(row)
    suffix_len = len(tokenizer(answer_suffix(tokenizer), add_special_tokens=False)["input_ids"])
    out: list[dict[str, str]] = []
    for doc_id in sorted(by_doc):
        sents = sorted(by_doc[doc_id], key=lambda r: (int(r["sent_id"]) if str(r["sent_id"]).isdigit()
                                                      else 0, str(r["sent_id"])))
        question = PASSAGE_QUESTION.format(title=sents[0]["title"])
        budget = max_seq_len - suffix_len - len(
            tokenizer(prompt_text(tokenizer, question), add_special_tokens=False)["input_ids"])
        taken: list[str] = []
        used = 0
        for s in sents:
            n = len(tokenizer(" " + s["text"].strip(), add_special_tokens=False)["input_ids"])
            if used + n > budget:
                break
            taken.append(s["text"].strip())
            used += n
        if taken:
            out.append({"question": question, "answer": " ".join(taken)})
    return out


def tokenize_rows(
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict[str, Any]],
    max_seq_len: int,
) -> tuple[Dataset, int]:
    """(dataset of input_ids/labels/length, number of examples skipped as longer than max_seq_len).

    Too-long examples are skipped and counted, never truncated: a cut answer would teach the
    model not to emit its end token.
    """
    from datasets import Dataset

    def encode(row: dict[str, Any]) -> dict[str, Any]:
        enc = answer_only_labels(tokenizer, row["question"], row["answer"], max_seq_len)
        if enc is None:
            return {"input_ids": [], "labels": [], "length": 0}
        return {**enc, "length": len(enc["input_ids"])}

    table = Dataset.from_list([{"question": r["question"], "answer": r["answer"]} for r in rows])
    encoded = table.map(encode, remove_columns=["question", "answer"], keep_in_memory=True,
                        desc="tokenising", load_from_cache_file=False)
    kept = encoded.filter(lambda r: r["length"] > 0, keep_in_memory=True, load_from_cache_file=False)
    return kept, len(encoded) - len(kept)


@dataclass(frozen=True)
class PackedCollator:
    """Examples -> one packed row: input_ids, position_ids, labels, shift_labels (all shape [1, T]) and
    cu_seq_lens (shape [examples + 1], int32 as flash-attention's varlen kernels want it).

    transformers' DataCollatorWithFlattening packs; its labels put -100 on each example's first
    token, so shifted by one they are our shift_labels (measured: same tensors and the same 6
    PackedTrainer losses on the tiny model, tests/training/test_packing_and_loss.py).
    """

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        import torch
        from transformers import DataCollatorWithFlattening

        if not features or not all(len(f["input_ids"]) for f in features):
            # an empty example would shift the flattened labels against the ids
            raise UserError("training data: a batch with an example without tokens")
        batch = DataCollatorWithFlattening(return_flash_attn_kwargs=True, return_tensors="pt")(list(features))
        labels = batch["labels"]
        shift = torch.full_like(labels, IGNORE_INDEX)
        shift[:, :-1] = labels[:, 1:]  # position t predicts token t+1; -100 at each next example's start
        return {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"], "labels": labels,
                "shift_labels": shift, "cu_seq_lens": batch["cu_seq_lens_q"]}
