"""Attention over packed rows: one causal SDPA call per example instead of one masked call per row.

A packed row holds several examples back to back (docent.training.data.PackedCollator). Given
only restarting position ids, transformers builds a [T, T] block-diagonal causal mask and SDPA
computes all T*T scores, then masks the cross-example ones away: with 8 examples of ~70 tokens
that is 8x the work of attending within each example, and a dense mask also keeps PyTorch's CPU
SDPA off its fused causal kernel (measured: 27.5 ms vs 9.5 ms forward+backward per layer for
8 x 75 tokens, 9 query / 3 key-value heads, 2 CPU threads).

The collator also emits the examples' boundaries as `cu_seq_lens_q/k` (cumulative lengths,
transformers' varlen convention, the same kwargs its flash-attention path reads for packed
batches). `segment_sdpa_forward` slices q/k/v at those boundaries and runs SDPA with
`is_causal=True` on each slice; without them (generation, padded batches, a KV cache) it is
plain SDPA. Registered as attention implementation "sdpa_segments", with SDPA's mask function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

SEGMENT_ATTENTION = "sdpa_segments"


def segment_sdpa_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                         attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                         **kwargs: Any) -> tuple[torch.Tensor, None]:
    """SDPA per packed example when `cu_seq_lens_q` marks them; [B, T, H, D] output like transformers' SDPA."""
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    bounds = kwargs.get("cu_seq_lens_q")
    packed = (bounds is not None and query.shape[0] == 1 and query.shape[2] == key.shape[2]
              and int(bounds[-1]) == query.shape[2])
    if not packed:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    assert bounds is not None  # `packed` says so
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:  # repeat once for the row: cheaper on the CPU than SDPA's enable_gqa per slice
        key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    # split, not slicing: a slice's backward writes into a zero-filled copy of the whole row per
    # example, split's backward is one concatenation
    lengths = (bounds[1:] - bounds[:-1]).tolist()
    outputs = [
        torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=scaling, is_causal=True)
        for q, k, v in zip(query.split(lengths, dim=2), key.split(lengths, dim=2), value.split(lengths, dim=2),
                            strict=True)
    ]
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def register_segment_attention() -> None:
    """Make "sdpa_segments" a valid `attn_implementation` (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(SEGMENT_ATTENTION, segment_sdpa_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(SEGMENT_ATTENTION, sdpa_mask)


def use_segment_attention(model: torch.nn.Module) -> bool:
    """Switch a model running PyTorch SDPA to per-example SDPA (other implementations, e.g.
    flash_attention_2, already honour `cu_seq_lens_*`). Returns whether it switched."""
    from docent.modeling.adapters import transformers_model

    base = transformers_model(model)
    if getattr(base.config, "_attn_implementation", None) != "sdpa":
        return False
    register_segment_attention()
    base.set_attn_implementation(SEGMENT_ATTENTION)
    return True
