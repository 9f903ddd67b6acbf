"""QLoRA on the CPU takes one float32 path on every CPU, whatever its widths.

On a CPU with avx512_bf16, bitsandbytes repacks 4-bit weights for a bf16 kernel on the first
no-grad eval forward; that kernel needs input widths that are multiples of 64 and has no autograd.
`load_base_model` switches the repacking off. These tests run the sequence a QLoRA run goes
through (train step, eval step, train step) and fail on such a CPU when the switch is missing:
the narrow model crashes in the eval step, the block-aligned one loses its input gradient after it.
On an AVX2-only CPU bitsandbytes never repacks, so the same float32 path runs there too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_models import build_tiny_llama, build_tiny_tokenizer

from docent.config import ModelParams, QuantParams

bnb = pytest.importorskip("bitsandbytes")

MODEL = dict(trust_remote_code=False, allow_pickle=False, dtype="float32", attn_implementation="sdpa")


def _save(path: Path, hidden: int, intermediate: int) -> Path:
    tok = build_tiny_tokenizer()
    model = build_tiny_llama(len(tok))
    if hidden != 32:
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(0)
        config = LlamaConfig(**{**model.config.to_dict(), "hidden_size": hidden, "intermediate_size": intermediate,
                                "head_dim": hidden // 4})
        model = LlamaForCausalLM(config)
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


def _input_grad(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """d(sum of logits)/d(input embeddings): flows through every frozen 4-bit layer."""
    model.train()
    embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    model(inputs_embeds=embeds).logits.sum().backward()
    assert embeds.grad is not None, "no gradient reached the input through the 4-bit layers"
    return embeds.grad


# hidden 32: q_proj's input width is below the 64-wide quantisation block (the old crash);
# hidden 64 / intermediate 128: every width block-aligned, so only the autograd loss shows.
@pytest.mark.parametrize(("hidden", "intermediate"), [(32, 64), (64, 128)])
def test_eval_between_train_steps_keeps_float32_path(tmp_path: Path, hidden: int, intermediate: int) -> None:
    from docent.modeling.loading import load_base_model

    folder = _save(tmp_path / "tiny", hidden, intermediate)
    quant = QuantParams(bits=4, quant_type="nf4", double_quant=True, compute_dtype="float32")
    model = load_base_model(ModelParams(name=str(folder), **MODEL), tmp_path / "cache", quant=quant)
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(layers) == 4 * 7  # q, k, v, o, gate, up, down in each of the 4 blocks
    assert not any(m.support_avx512bf16_for_cpu for m in layers)

    ids = torch.tensor([[5, 9, 12, 7, 20, 3, 8]])
    before = _input_grad(model, ids)
    with torch.no_grad():
        model.train()
        train_logits = model(input_ids=ids).logits
        model.eval()
        eval_logits = model(input_ids=ids).logits  # where the repacking used to happen
    assert not any(getattr(m.weight.quant_state, "packing_format_for_cpu", False) for m in layers)
    torch.testing.assert_close(eval_logits, train_logits, rtol=0, atol=0)
    after = _input_grad(model, ids)
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_8bit_quantisation_of_narrow_layers(tmp_path: Path) -> None:
    """quant.bits 8 (Linear8bitLt) has no repacking: narrow layers run and train on the CPU."""
    from docent.modeling.loading import load_base_model

    folder = _save(tmp_path / "tiny", 32, 64)
    quant = QuantParams(bits=8, quant_type="nf4", double_quant=True, compute_dtype="float32")
    model = load_base_model(ModelParams(name=str(folder), **MODEL), tmp_path / "cache", quant=quant)
    assert any(isinstance(m, bnb.nn.Linear8bitLt) for m in model.modules())
    ids = torch.tensor([[5, 9, 12, 7]])
    before = _input_grad(model, ids)
    model.eval()
    with torch.no_grad():
        model(input_ids=ids)
    torch.testing.assert_close(_input_grad(model, ids), before, rtol=0, atol=0)
