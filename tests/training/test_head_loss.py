"""The chunked head + cross-entropy: same loss and gradients as logits -> cross_entropy."""

from __future__ import annotations

import pytest
import torch
from tiny_models import FACTS, build_tiny_llama, build_tiny_tokenizer

from docent.modeling.prompt import IGNORE_INDEX, answer_only_labels
from docent.training import head_loss
from docent.training.data import PackedCollator
from docent.training.head_loss import fusable_head, head_cross_entropy_sum
from docent.training.trainer import packed_loss


@pytest.mark.parametrize("weight_trains", [False, True])
def test_chunked_loss_and_gradients_match_plain_cross_entropy(weight_trains: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    rows = 150  # three chunks, the last one partial
    hidden = torch.randn(rows, 16, generator=gen, requires_grad=True)
    weight = torch.randn(300, 16, generator=gen, requires_grad=weight_trains)
    targets = torch.randint(0, 300, (rows,), generator=gen)
    assert rows > 2 * head_loss.CHUNK_ROWS
    ours = head_cross_entropy_sum(hidden, weight, targets)
    (ours * 0.5).backward()
    ours_grads = (hidden.grad.clone(), weight.grad.clone() if weight_trains else None)
    hidden.grad = None
    weight.grad = None
    plain = torch.nn.functional.cross_entropy(hidden @ weight.T, targets, reduction="sum")
    (plain * 0.5).backward()
    torch.testing.assert_close(ours, plain)
    torch.testing.assert_close(ours_grads[0], hidden.grad)
    if weight_trains:
        torch.testing.assert_close(ours_grads[1], weight.grad)


def test_packed_loss_fused_equals_plain_path_and_restores_the_head() -> None:
    tok = build_tiny_tokenizer()
    model = build_tiny_llama(len(tok))
    head = fusable_head(model)
    assert head is model.lm_head
    batch = PackedCollator()([answer_only_labels(tok, q, a, 64) for q, a in FACTS[:3]])
    fused, outputs = packed_loss(model, batch, None)
    assert outputs.logits is None  # no hidden states passed off as logits
    assert model.lm_head is head
    fused.backward()
    fused_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    shift = batch["shift_labels"][0]
    keep = (shift != IGNORE_INDEX).nonzero().squeeze(-1)
    logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], logits_to_keep=keep,
                   use_cache=False).logits[0]
    plain = torch.nn.functional.cross_entropy(logits, shift[keep])
    plain.backward()
    torch.testing.assert_close(fused, plain)
    assert fused_grads.keys() == {n for n, p in model.named_parameters() if p.grad is not None}
    for name, grad in fused_grads.items():
        torch.testing.assert_close(grad, dict(model.named_parameters())[name].grad, atol=1e-6, rtol=1e-4,
                                   msg=name)


def test_unlisted_architectures_keep_the_plain_head() -> None:
    tok = build_tiny_tokenizer()
    model = build_tiny_llama(len(tok))
    model.config.model_type = "gemma2"  # soft-caps its logits after the head
    assert fusable_head(model) is None
