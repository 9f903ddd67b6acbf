"""The presets name modules and blocks that exist in the real architectures they are for.

Each architecture is built tiny from a config with the real checkpoint's module layout
(same config flags, same class, tiny sizes, random weights; nothing downloaded), and every
`lora.target_modules` name is injected with PEFT's own matching rules: it must hit exactly one
module per decoder block. freeze.layers is checked against the real checkpoints' block counts,
stated here from their config.json.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from docent.presets import load_preset

REPO = Path(__file__).resolve().parents[2]
PRESETS = REPO / "presets"

# config.json of tiiuae/falcon-7b-instruct: model_type falcon, hidden_size 4544, 71 heads,
# 32 layers, one shared k/v head (multi_query), attention and MLP in parallel, no biases, rotary.
FALCON_7B = {"num_hidden_layers": 32, "hidden_size": 4544, "num_attention_heads": 71,
             "multi_query": True, "parallel_attn": True, "new_decoder_architecture": False,
             "bias": False, "alibi": False, "vocab_size": 65024}
# config.json of meta-llama/Llama-2-7b-hf: 32 layers, hidden 4096, 32 heads (no GQA), MLP 11008.
LLAMA2_7B = {"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
             "num_key_value_heads": 32, "intermediate_size": 11008, "vocab_size": 32000}


def tiny_falcon():
    """Falcon-7B's layout (fused query_key_value, multi-query, parallel attention) at hidden size 32."""
    from transformers import FalconConfig, FalconForCausalLM

    layout = {k: FALCON_7B[k] for k in ("multi_query", "parallel_attn", "new_decoder_architecture", "bias", "alibi")}
    config = FalconConfig(vocab_size=128, hidden_size=32, num_attention_heads=4, num_hidden_layers=2, **layout)
    return FalconForCausalLM(config)


def tiny_llama():
    """Llama-2-7B's layout (separate q/k/v/o, gated MLP, heads == kv heads) at hidden size 32."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4)
    return LlamaForCausalLM(config)


CASES = {
    "falcon-7b-qlora": ("tiiuae/falcon-7b-instruct", "falcon", FALCON_7B, tiny_falcon),
    "llama2-7b-qlora": ("meta-llama/Llama-2-7b-hf", "llama", LLAMA2_7B, tiny_llama),
}


def adapted_module_names(model, target: str) -> list[str]:
    """Names of the modules PEFT wraps for target_modules=[target] (raises if it matches none)."""
    from peft import LoraConfig, inject_adapter_in_model

    inject_adapter_in_model(LoraConfig(r=2, lora_alpha=4, target_modules=[target]), model)
    return sorted(name for name, module in model.named_modules() if hasattr(module, "lora_A"))


def test_every_model_preset_file_is_covered() -> None:
    """Presets that set a model are checked here; the others (extra domains) only change the corpus."""
    model_presets = [p.stem for p in PRESETS.glob("*.yaml") if "model" in load_preset(p.stem)]
    assert sorted(model_presets) == sorted(CASES)


@pytest.mark.parametrize("preset", ["astronomy", "biology", "python-docs"])
def test_domain_presets_change_the_corpus_and_the_assistant_words(preset: str) -> None:
    overlay = load_preset(preset)
    # the corpus, how many of its documents are held out, the assistant's words: no hyperparameter
    assert {"scrape", "assistant"} <= set(overlay) <= {"scrape", "assistant", "split"}
    assert set(overlay.get("split", {})) <= {"absent_documents"}
    assert {"domain", "refusal", "abstain"} <= set(overlay["assistant"])


@pytest.mark.parametrize("preset", sorted(CASES))
def test_preset_targets_one_module_per_block(preset: str) -> None:
    hub_id, model_type, _, build = CASES[preset]
    overlay = load_preset(preset)
    assert overlay["model"]["name"] == hub_id
    targets = overlay["lora"]["target_modules"]
    assert isinstance(targets, list) and targets
    model = build()
    assert model.config.model_type == model_type
    blocks = model.config.num_hidden_layers
    for target in targets:
        names = adapted_module_names(build(), target)
        assert len(names) == blocks, f"{preset}: target {target!r} matched {names}"
        assert all(n.endswith(f".{target}") for n in names)
    # together the targets cover distinct modules: no name is a duplicate of another's matches
    assert len({n for t in targets for n in adapted_module_names(build(), t)}) == blocks * len(targets)


def test_module_check_rejects_a_name_from_the_other_architecture() -> None:
    # the check above can fail: Llama's q_proj does not exist in Falcon, Falcon's fused
    # query_key_value does not exist in Llama
    with pytest.raises(ValueError):
        adapted_module_names(tiny_falcon(), "q_proj")
    with pytest.raises(ValueError):
        adapted_module_names(tiny_llama(), "query_key_value")


@pytest.mark.parametrize("preset", sorted(CASES))
def test_frozen_blocks_leave_blocks_to_train(preset: str) -> None:
    _, _, real, _ = CASES[preset]
    freeze = load_preset(preset).get("freeze", {})
    layers = freeze.get("layers", 0)
    assert isinstance(layers, int) and 0 <= layers < real["num_hidden_layers"]


def test_falcon_preset_freezes_the_bottom_half() -> None:
    # the reference setup froze the first 16 of Falcon-7B's 32 decoder blocks
    assert load_preset("falcon-7b-qlora")["freeze"]["layers"] * 2 == FALCON_7B["num_hidden_layers"]


def test_reference_architectures_are_native_causal_lms() -> None:
    # both load without trust_remote_code (the presets leave model.trust_remote_code false)
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    for _, model_type, _, _ in CASES.values():
        assert model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
