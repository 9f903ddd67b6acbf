"""Per-example attention over packed rows: same numbers as the masked SDPA it replaces."""

from __future__ import annotations

import copy

import torch
from tiny_models import build_tiny_llama

from docent.modeling.packed_attention import SEGMENT_ATTENTION, use_segment_attention

LENGTHS = (7, 12, 5)


def _packed_row() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 60, (1, sum(LENGTHS)), generator=gen)
    positions = torch.cat([torch.arange(n) for n in LENGTHS]).unsqueeze(0)
    bounds = torch.tensor([0, *torch.tensor(LENGTHS).cumsum(0).tolist()], dtype=torch.int32)
    return {"input_ids": ids, "position_ids": positions, "cu_seq_lens_q": bounds, "cu_seq_lens_k": bounds,
            "max_length_q": max(LENGTHS), "max_length_k": max(LENGTHS)}


def _models() -> tuple[torch.nn.Module, torch.nn.Module]:
    masked = build_tiny_llama(64, layers=2)
    masked.set_attn_implementation("sdpa")
    segmented = copy.deepcopy(masked)
    assert use_segment_attention(segmented)
    assert segmented.config._attn_implementation == SEGMENT_ATTENTION
    return masked, segmented


def test_segment_attention_matches_block_diagonal_sdpa_and_single_examples(monkeypatch) -> None:
    masked, segmented = _models()
    row = _packed_row()
    # the masked model sees only restarting position ids, from which transformers builds the block mask
    reference = masked(input_ids=row["input_ids"], position_ids=row["position_ids"], use_cache=False).logits
    sdpa = torch.nn.functional.scaled_dot_product_attention
    calls: list[tuple[int, bool]] = []

    def counting_sdpa(query, *args, **kwargs):
        calls.append((query.shape[2], kwargs.get("is_causal", False)))
        return sdpa(query, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counting_sdpa)
    ours = segmented(**row, use_cache=False).logits
    monkeypatch.undo()
    # one unmasked causal call per example and layer: the per-example path ran, not a masked fallback
    assert calls == [(n, True) for n in LENGTHS] * 2
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-4)
    start = 0
    for n in LENGTHS:
        alone = masked(input_ids=row["input_ids"][:, start:start + n], use_cache=False).logits
        torch.testing.assert_close(ours[:, start:start + n], alone, atol=1e-5, rtol=1e-4)
        start += n


def test_segment_attention_gradients_match() -> None:
    masked, segmented = _models()
    row = _packed_row()
    reference = masked(input_ids=row["input_ids"], position_ids=row["position_ids"], use_cache=False).logits
    reference.square().mean().backward()
    segmented(**row, use_cache=False).logits.square().mean().backward()
    for (name, a), (_, b) in zip(masked.named_parameters(), segmented.named_parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, atol=1e-6, rtol=1e-4, msg=name)


def test_without_boundaries_it_is_plain_sdpa() -> None:
    """Generation and padded batches pass no cu_seq_lens: masks and KV caches work as with sdpa."""
    masked, segmented = _models()
    ids = torch.randint(4, 60, (2, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # left padding
    torch.testing.assert_close(segmented(input_ids=ids, attention_mask=mask).logits,
                               masked(input_ids=ids, attention_mask=mask).logits, atol=1e-5, rtol=1e-4)
    kwargs = {"max_new_tokens": 5, "do_sample": False, "pad_token_id": 3}
    assert torch.equal(segmented.generate(input_ids=ids, attention_mask=mask, **kwargs),
                       masked.generate(input_ids=ids, attention_mask=mask, **kwargs))


def test_only_sdpa_models_are_switched() -> None:
    eager = build_tiny_llama(64, layers=1)
    eager.set_attn_implementation("eager")
    assert not use_segment_attention(eager)
    assert eager.config._attn_implementation == "eager"
