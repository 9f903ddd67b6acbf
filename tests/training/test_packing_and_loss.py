"""Packed rows: same logits as one example at a time; loss only on answer tokens; shifted labels."""

from __future__ import annotations

import pytest
import torch
from tiny_models import FACTS, build_tiny_llama, build_tiny_tokenizer

from docent.cli import UserError
from docent.modeling.prompt import IGNORE_INDEX, answer_only_labels, prompt_text
from docent.training.data import PackedCollator, tokenize_rows
from docent.training.trainer import packed_loss


def _examples(tok, n=3):
    return [answer_only_labels(tok, q, a, 64) for q, a in FACTS[:n]]


def test_packed_logits_equal_per_example_logits() -> None:
    tok = build_tiny_tokenizer()
    model = build_tiny_llama(len(tok))
    examples = _examples(tok)
    batch = PackedCollator()(examples)
    with torch.no_grad():
        # use_cache=False as in training: with a KV cache transformers does not look for packing
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        start = 0
        for ex in examples:
            n = len(ex["input_ids"])
            alone = model(input_ids=torch.tensor([ex["input_ids"]]), use_cache=False).logits[0]
            torch.testing.assert_close(packed[start:start + n], alone, atol=1e-5, rtol=1e-4)
            start += n
        # and the mask really is block-diagonal: with one position-id run the logits differ
        contiguous = model(input_ids=batch["input_ids"], use_cache=False).logits[0]
    n0 = len(examples[0]["input_ids"])
    assert not torch.allclose(contiguous[n0:], packed[n0:], atol=1e-3)


def test_labels_cover_answer_and_end_token_only() -> None:
    tok = build_tiny_tokenizer()
    q, a = FACTS[0]
    ex = answer_only_labels(tok, q, a, 64)
    prompt_len = len(tok(prompt_text(tok, q), add_special_tokens=False)["input_ids"])
    assert all(label == IGNORE_INDEX for label in ex["labels"][:prompt_len])
    learned = [t for t in ex["labels"] if t != IGNORE_INDEX]
    assert tok.decode(learned[:-1]) == a
    assert learned[-1] == tok.convert_tokens_to_ids("<|im_end|>")


def test_shift_labels_stop_at_example_boundaries() -> None:
    tok = build_tiny_tokenizer()
    examples = _examples(tok, 2)
    batch = PackedCollator()(examples)
    n0 = len(examples[0]["input_ids"])
    shift = batch["shift_labels"][0].tolist()
    assert shift[:n0 - 1] == examples[0]["labels"][1:]
    assert shift[n0 - 1] == IGNORE_INDEX  # the first example's last token predicts nothing
    assert batch["position_ids"][0, n0].item() == 0
    assert shift[-1] == IGNORE_INDEX


def test_packed_row_is_the_examples_back_to_back() -> None:
    tok = build_tiny_tokenizer()
    examples = _examples(tok, len(FACTS))
    batch = PackedCollator()(examples)
    # the reference the collator must match, one example at a time
    ids, positions, shift, bounds = [], [], [], [0]
    for ex in examples:
        ids += ex["input_ids"]
        positions += range(len(ex["input_ids"]))
        shift += [*ex["labels"][1:], IGNORE_INDEX]
        bounds.append(len(ids))
    assert batch["input_ids"][0].tolist() == ids
    assert batch["position_ids"][0].tolist() == positions
    assert batch["shift_labels"][0].tolist() == shift
    assert batch["labels"][0].tolist() == [label for ex in examples for label in ex["labels"]]  # prompts start at -100
    assert batch["cu_seq_lens"].tolist() == bounds and batch["cu_seq_lens"].dtype == torch.int32
    with pytest.raises(UserError, match="without tokens"):
        PackedCollator()([examples[0], {"input_ids": [], "labels": []}])


def test_packed_loss_equals_mean_answer_token_cross_entropy() -> None:
    tok = build_tiny_tokenizer()
    model = build_tiny_llama(len(tok))
    examples = _examples(tok)
    batch = PackedCollator()(examples)
    with torch.no_grad():
        loss, _ = packed_loss(model, batch, None)
        total, count = 0.0, 0
        for ex in examples:
            logits = model(input_ids=torch.tensor([ex["input_ids"]])).logits[0, :-1]
            target = torch.tensor(ex["labels"][1:])
            total += torch.nn.functional.cross_entropy(logits, target, ignore_index=IGNORE_INDEX,
                                                       reduction="sum").item()
            count += int((target != IGNORE_INDEX).sum())
    assert abs(loss.item() - total / count) < 1e-4


def test_too_long_examples_are_counted_not_truncated() -> None:
    tok = build_tiny_tokenizer()
    rows = [{"question": q, "answer": a} for q, a in FACTS[:3]]
    rows.append({"question": "tell me about the red city", "answer": " ".join(["the red city"] * 40)})
    ds, skipped = tokenize_rows(tok, rows, 40)
    assert skipped == 1
    assert len(ds) == 3
    assert all(n <= 40 for n in ds["length"])


def test_packed_trainer_switches_sdpa_models_to_per_example_attention(tmp_path) -> None:
    from transformers import TrainingArguments

    from docent.modeling.packed_attention import SEGMENT_ATTENTION
    from docent.training.trainer import PackedTrainer

    tok = build_tiny_tokenizer()
    model = build_tiny_llama(len(tok))
    assert model.config._attn_implementation == "sdpa"
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, max_steps=1)
    PackedTrainer(model=model, args=args, data_collator=PackedCollator())
    assert model.config._attn_implementation == SEGMENT_ATTENTION
