"""The LM head and the cross-entropy as one step, a few rows at a time.

The plain path computes logits for every answer position ([n, vocab]: 49,152 columns for
SmolLM2, 60 MB for a 300-answer-token row), keeps them for backward, and its backward allocates
and zero-fills two more tensors of that size (the cross-entropy's and the logits index's
gradients). On a CPU those fresh 60 MB buffers cost page faults on every step: measured, the
fills alone took 5% of a training step, the log-softmax backward another 3%.

Here the gradient w.r.t. the hidden states (and the head weight, when it trains) is computed in
the forward, CHUNK_ROWS positions at a time: softmax(logits) - onehot(target) is the CE's
gradient w.r.t. the logits, times the weight it is the gradient w.r.t. the hidden state. The
[CHUNK_ROWS, vocab] buffer (12.6 MB at 64 x 49,152 floats) is small enough for malloc to reuse
instead of mapping fresh pages, and nothing of vocab size outlives the forward.

Only for models whose logits are exactly `lm_head(final hidden state)`: HEAD_FUSABLE_MODELS.
Others (soft-capped or scaled logits, an adapter or quantised layer on the head) keep the
plain path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from docent.modeling.adapters import transformers_model

CHUNK_ROWS = 64
# model types whose *ForCausalLM.forward computes logits = lm_head(hidden_states) with nothing after it
HEAD_FUSABLE_MODELS = frozenset({"llama", "mistral", "qwen2", "qwen3", "gpt_neox", "falcon"})


class ChunkedHeadCrossEntropy(torch.autograd.Function):
    """sum_i CE(hidden_i @ weight.T, target_i), gradients computed in the forward pass."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        need_hidden, need_weight = ctx.needs_input_grad[:2]
        grad_hidden = torch.empty_like(hidden) if need_hidden else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if need_weight else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, hidden.shape[0], CHUNK_ROWS):
            rows = hidden[start:start + CHUNK_ROWS]
            target = targets[start:start + CHUNK_ROWS]
            logits = (rows @ weight.T).float()
            log_norm = torch.logsumexp(logits, dim=-1)
            total += (log_norm - logits.gather(1, target[:, None]).squeeze(1)).sum()
            if need_hidden or need_weight:
                grad_logits = logits.sub_(log_norm[:, None]).exp_()   # softmax, in place
                grad_logits[torch.arange(target.shape[0], device=target.device), target] -= 1.0
                grad_logits = grad_logits.to(weight.dtype)
                if grad_hidden is not None:
                    grad_hidden[start:start + CHUNK_ROWS] = grad_logits @ weight
                if grad_weight is not None:
                    grad_weight += (grad_logits.T @ rows).float()
        if grad_weight is not None:
            grad_weight = grad_weight.to(weight.dtype)
        ctx.save_for_backward(*(g for g in (grad_hidden, grad_weight) if g is not None))
        return total

    @staticmethod
    def backward(ctx: Any, grad_total: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        saved = iter(ctx.saved_tensors)
        need_hidden, need_weight = ctx.needs_input_grad[:2]
        grad_hidden = next(saved) * grad_total if need_hidden else None
        grad_weight = next(saved) * grad_total if need_weight else None
        return grad_hidden, grad_weight, None


def head_cross_entropy_sum(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed next-token cross-entropy of logits = hidden @ weight.T ([n, d] hidden, [n] targets)."""
    return ChunkedHeadCrossEntropy.apply(hidden, weight, targets)


def fusable_head(model: torch.nn.Module) -> torch.nn.Linear | None:
    """The model's LM head when the loss may replace it (plain bias-free Linear, listed model type)."""
    base = transformers_model(model)
    if getattr(base.config, "model_type", None) not in HEAD_FUSABLE_MODELS:
        return None
    head = base.get_output_embeddings()
    if type(head) is not torch.nn.Linear or head.bias is not None:
        return None
    return head


@contextmanager
def head_bypassed(model: torch.nn.Module, head: torch.nn.Linear) -> Iterator[None]:
    """Within the block the model's 'logits' are its final hidden states (the head is an Identity).

    The model's own forward still runs (DDP's gradient hooks and peft's wrappers need that);
    only the head's matrix product moves into head_cross_entropy_sum.
    """
    base = transformers_model(model)
    base.set_output_embeddings(torch.nn.Identity())
    try:
        yield
    finally:
        base.set_output_embeddings(head)
