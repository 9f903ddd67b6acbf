"""Adapters and freezing on a tiny Llama: blocks found generically, no adapter or gradient below the boundary."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from docent.cli import UserError
from docent.config import FreezeParams, LoraParams
from docent.modeling.adapters import find_decoder_blocks, prepare_trainable_model, resolve_frozen_blocks

LORA = LoraParams(r=4, alpha=8.0, dropout=0.0, target_modules="auto", bias="none")


def tiny_llama(layers: int = 6) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
                                        num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1))


def test_blocks_found_without_naming_the_path() -> None:
    assert find_decoder_blocks(tiny_llama())[0] == "model.layers"
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=16, n_layer=3, n_head=2))
    assert find_decoder_blocks(gpt2)[0] == "transformer.h"


@pytest.mark.parametrize(("layers", "fraction", "expected"), [
    (2, 0.0, (0, 1)), ("0-1,4", 0.0, (0, 1, 4)), (0, 0.5, (0, 1, 2)), (0, 0.0, ()),
])
def test_freeze_spec(layers, fraction, expected) -> None:
    assert resolve_frozen_blocks(FreezeParams(layers=layers, fraction=fraction), 6) == expected


def test_freezing_everything_is_an_error() -> None:
    with pytest.raises(UserError, match=r"freeze\.layers"):
        resolve_frozen_blocks(FreezeParams(layers=6, fraction=0.0), 6)
    with pytest.raises(UserError, match="block 6 does not exist"):
        resolve_frozen_blocks(FreezeParams(layers="0-9", fraction=0.0), 6)


@pytest.mark.parametrize("method", ["lora", "full"])
def test_no_adapter_and_no_gradient_below_the_boundary(method: str) -> None:
    model, blocks = prepare_trainable_model(tiny_llama(), method, LORA, FreezeParams(layers="0-2,4", fraction=0.0),
                                            gradient_checkpointing=method == "lora")
    assert blocks.frozen == (0, 1, 2, 4) and blocks.lowest_trainable == 3
    names = [n for n, _ in model.named_modules()]
    if method == "lora":
        for i in range(6):
            has_adapter = any(f"layers.{i}." in n and n.endswith("lora_A") for n in names)
            assert has_adapter == (i in (3, 5)), i
    layers = find_decoder_blocks(model)[1]
    boundary_output: dict[str, bool] = {}

    def record(module, inputs, output) -> None:
        boundary_output["grad"] = (output[0] if isinstance(output, tuple) else output).requires_grad

    layers[2].register_forward_hook(record)
    model.train()
    ids = torch.randint(0, 64, (1, 12))
    model(input_ids=ids, labels=ids).loss.backward()
    assert boundary_output["grad"] is False  # autograd records nothing below block 3
    for name, p in model.named_parameters():
        block = next((i for i in range(6) if f"layers.{i}." in name), None)
        if (block is not None and block < 3) or "embed_tokens" in name:
            assert p.grad is None, name
    trained = [n for n, p in model.named_parameters() if p.grad is not None]
    assert any("layers.3." in n for n in trained) and any("layers.5." in n for n in trained)
