"""Is the written GGUF the model that was evaluated? Read it back and compare.

The file is loaded with transformers' own GGUF loader (`gguf_file=`: dequantised to float32,
q/k permutation undone), its tokenizer too, and compared with the merged model on the
evaluation prompts:

- greedy answers: the merged model answers every prompt greedily, through evaluate's own
  generate_answers (up to eval.max_new_tokens, stopping at the stop tokens); then both models
  read prompt + that answer in one teacher-forced pass. The GGUF model's answer is identical
  exactly when its arg-max at every answer position is the merged model's token there (greedy
  decoding picks the arg-max each step, so it would write the same tokens and stop at the same
  place). One generation instead of two, and the same pass gives
- the logits: max and mean absolute difference over the answer positions (whole vocabulary);
- tokenizer ids: every prompt, and up to 100 questions, encode to identical ids with both
  tokenizers and decode back to the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# Per gguf_type: (max |logit difference| over answer positions, least share of identical greedy answers).
# f32 stores the merged weights exactly (only the float order of the q/k permutation); f16 rounds each
# weight to 11 significant bits; q8_0 to 8-bit blocks of 32 with one scale each.
TOLERANCES: dict[str, tuple[float, float]] = {"f32": (1e-3, 1.0), "f16": (0.5, 0.95), "q8_0": (2.5, 0.95)}
ROUND_TRIP_QUESTIONS = 100


@dataclass(frozen=True)
class Comparison:
    prompts: int
    greedy_identical: float
    merged_self_agreement: float
    max_logit_diff: float
    mean_logit_diff: float
    answer_tokens: int


def compare(merged: PreTrainedModel, exported: PreTrainedModel, prompts: Sequence[list[int]],
            answers: Sequence[list[int]], *, pad_id: int, batch_size: int = 4) -> Comparison:
    """Teacher-forced pass of both models over prompt + answer; see the module docstring."""
    import torch

    identical = self_agree = total_tokens = 0
    max_diff = 0.0
    diff_sum = 0.0
    rows = [i for i in range(len(prompts)) if answers[i]]
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        seqs = [list(prompts[i]) + list(answers[i][:-1]) for i in batch]
        width = max(len(s) for s in seqs)
        keep = max(len(answers[i]) for i in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, width - len(seq):] = torch.tensor(seq)
            mask[row, width - len(seq):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        device = next(merged.parameters()).device
        ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
        with torch.inference_mode():
            a = merged(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits.float()
            b = exported(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits.float()
        for row, i in enumerate(batch):
            n = len(answers[i])
            la, lb = a[row, keep - n:], b[row, keep - n:]
            target = torch.tensor(answers[i], device=la.device)
            diff = (la - lb).abs()
            max_diff = max(max_diff, float(diff.max()))
            diff_sum += float(diff.mean()) * n
            total_tokens += n
            identical += bool(torch.equal(lb.argmax(-1), target))
            self_agree += bool(torch.equal(la.argmax(-1), target))
    n_rows = max(len(rows), 1)
    return Comparison(prompts=len(rows), greedy_identical=identical / n_rows, merged_self_agreement=self_agree / n_rows,
                      max_logit_diff=max_diff, mean_logit_diff=diff_sum / max(total_tokens, 1),
                      answer_tokens=total_tokens)


def tokenizer_round_trip(reference: PreTrainedTokenizerBase, exported: PreTrainedTokenizerBase,
                         texts: Sequence[str]) -> tuple[int, int]:
    """(texts with identical ids and an exact decode, texts checked)."""
    same = 0
    for text in texts:
        a = reference(text, add_special_tokens=False)["input_ids"]
        b = exported(text, add_special_tokens=False)["input_ids"]
        same += a == b and exported.decode(b) == reference.decode(a)
    return same, len(texts)


def load_exported(folder: Any, filename: str, dtype: Any = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The file through transformers' GGUF loader, dequantised to `dtype` (float32 by default)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=filename)
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=filename, dtype=dtype or torch.float32)
    model.eval()
    return model, tokenizer
