"""What gets trained: LoRA / QLoRA adapters or full weights, frozen blocks, and merging.

Works on any decoder-only model without naming its module path: the decoder blocks are found
as the model's ModuleList with one entry per hidden layer, and adapter targets are resolved
to explicit module names inside the blocks that are trained. Frozen blocks therefore carry no
adapter at all, and since the embeddings are frozen too, autograd records nothing below the
lowest trained block (no backward pass through it).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from docent.cli import UserError
from docent.config import FreezeParams, LoraParams, ModelParams, QuantParams, parse_block_ranges

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)

# lora.target_modules: auto -> these leaf names, by config.model_type. Attention and MLP
# projections everywhere: on small models adapting only q/v learns facts much more slowly.
_LLAMA_LIKE = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DEFAULT_TARGET_MODULES: dict[str, tuple[str, ...]] = {
    **{t: _LLAMA_LIKE for t in ("llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2",
                                "gemma3_text", "olmo", "olmo2", "granite", "smollm3", "cohere")},
    "starcoder2": ("q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj"),
    "falcon": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
    "gpt_neox": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
    "gptj": ("q_proj", "k_proj", "v_proj", "out_proj", "fc_in", "fc_out"),
    "gpt2": ("c_attn", "c_proj", "c_fc"),
    "gpt_bigcode": ("c_attn", "c_proj", "c_fc"),
    "phi": ("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"),
    "phi3": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
    "bloom": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
    "opt": ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
}


@dataclass(frozen=True)
class Blocks:
    """The decoder blocks: where they live and which are trained."""

    path: str                 # e.g. "model.layers" (qualified name of the ModuleList)
    count: int
    frozen: tuple[int, ...]   # no adapter, no gradient below the lowest trained block

    @property
    def trainable(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.count) if i not in set(self.frozen))

    @property
    def lowest_trainable(self) -> int:
        return self.trainable[0]


# ---------------------------------------------------------------- finding the blocks

def _num_layers(model: PreTrainedModel) -> int | None:
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        value = getattr(text, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def find_decoder_blocks(model: torch.nn.Module) -> tuple[str, torch.nn.ModuleList]:
    """The ModuleList of decoder blocks, found by shape rather than by name.

    The candidate is a ModuleList whose children all share one class; among those, the one whose
    length equals the config's layer count wins, else the longest. Works for `model.layers`
    (Llama, Qwen, Mistral), `transformer.h` (GPT-2, Falcon), `gpt_neox.layers`, PEFT wrappers, ...
    """
    import torch

    expected = _num_layers(cast("PreTrainedModel", model)) if hasattr(model, "config") else None
    candidates: list[tuple[str, torch.nn.ModuleList]] = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > 0:
            kinds = {type(child) for child in module}
            if len(kinds) == 1:
                candidates.append((name, module))
    if not candidates:
        raise UserError("model: no stack of decoder blocks found (is it a decoder-only transformer?)")
    exact = [c for c in candidates if expected is not None and len(c[1]) == expected]
    pool = exact or candidates
    return max(pool, key=lambda c: (len(c[1]), -c[0].count(".")))


def resolve_frozen_blocks(freeze: FreezeParams, count: int) -> tuple[int, ...]:
    """freeze.layers N -> blocks 0..N-1; "0-11,20" -> those; freeze.fraction f -> the bottom floor(f*count)."""
    if isinstance(freeze.layers, str) and freeze.layers.strip():
        frozen = parse_block_ranges(freeze.layers, key="freeze.layers")
        bad = [b for b in frozen if b >= count]
        if bad:
            raise UserError(f"freeze.layers = {freeze.layers!r}: block {bad[0]} does not exist "
                            f"(the model has blocks 0-{count - 1})")
    elif isinstance(freeze.layers, int) and freeze.layers > 0:
        if freeze.layers >= count:
            raise UserError(f"freeze.layers = {freeze.layers}: the model has {count} blocks; "
                            f"freeze fewer so some are left to train")
        frozen = list(range(freeze.layers))
    else:
        frozen = list(range(math.floor(freeze.fraction * count)))
    if len(set(frozen)) >= count:
        raise UserError(f"freeze.layers = {freeze.layers!r}: freezes all {count} blocks; nothing left to train")
    return tuple(sorted(set(frozen)))


# ---------------------------------------------------------------- LoRA targets

def _adaptable_types() -> tuple[type, ...]:
    import torch
    from transformers.pytorch_utils import Conv1D

    # bitsandbytes' Linear4bit / Linear8bitLt subclass torch.nn.Linear, so quantised models match too
    return (torch.nn.Linear, Conv1D)


def block_linear_modules(model: torch.nn.Module, blocks: Blocks) -> dict[int, list[str]]:
    """Qualified names of the adaptable (linear) modules in each decoder block."""
    types = _adaptable_types()
    prefix = blocks.path + "."
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found: dict[int, list[str]] = {i: [] for i in range(blocks.count)}
    for name, module in model.named_modules():
        if isinstance(module, types) and name.startswith(prefix):
            m = pattern.match(name)
            if m:
                found[int(m.group(1))].append(name)
    return found


def resolve_target_modules(model: torch.nn.Module, lora: LoraParams, blocks: Blocks) -> list[str]:
    """lora.target_modules -> the qualified module names to adapt, in trained blocks only.

    A list names leaf modules (`q_proj`) or dotted suffixes (`self_attn.q_proj`); each must exist
    in the blocks, else UserError listing the ones that do.
    """
    per_block = block_linear_modules(model, blocks)
    all_names = [n for names in per_block.values() for n in names]
    leaves = sorted({n.rsplit(".", 1)[-1] for n in all_names})
    if lora.target_modules == "all-linear":
        wanted: Iterable[str] = leaves
    elif lora.target_modules == "auto":
        model_type = getattr(getattr(model, "config", None), "model_type", "")
        defaults = DEFAULT_TARGET_MODULES.get(model_type)
        if defaults is None:
            log.info("lora.target_modules = auto: no default list for model_type %r; using all linear layers",
                     model_type)
            wanted = leaves
        else:
            wanted = [d for d in defaults if d in leaves]
            if not wanted:
                wanted = leaves
    else:
        wanted = list(lora.target_modules)
        missing = [w for w in wanted if not any(n == w or n.endswith("." + w) for n in all_names)]
        if missing:
            raise UserError(
                f"lora.target_modules: {', '.join(repr(m) for m in missing)} not in the model's decoder blocks; "
                f"modules that exist: {', '.join(leaves)}"
            )
    wanted = list(wanted)
    keep = set(blocks.trainable)
    return sorted(
        n for block, names in per_block.items() if block in keep
        for n in names if any(n.endswith("." + w) for w in wanted)
    )


# ---------------------------------------------------------------- building the trainable model

def prepare_trainable_model(
    model: PreTrainedModel,
    method: str,
    lora: LoraParams,
    freeze: FreezeParams,
    gradient_checkpointing: bool,
) -> tuple[torch.nn.Module, Blocks]:
    """Wrap `model` for training with `method` (lora | qlora | full) and freeze what params say."""

    path, modules = find_decoder_blocks(model)
    blocks = Blocks(path=path, count=len(modules), frozen=resolve_frozen_blocks(freeze, len(modules)))
    if blocks.frozen:
        log.info("freezing decoder blocks %s of %d (%s); training from block %d up",
                 _ranges(blocks.frozen), blocks.count, path, blocks.lowest_trainable)

    if method == "full":
        for p in model.parameters():
            p.requires_grad_(not blocks.frozen)
        if blocks.frozen:
            _freeze_full_model(model, blocks, modules)
        trained: torch.nn.Module = model
    else:
        from peft import LoraConfig, get_peft_model

        targets = resolve_target_modules(model, lora, blocks)
        if not targets:
            raise UserError("lora.target_modules: no matching modules in the trained blocks")
        if method == "qlora":
            from peft import prepare_model_for_kbit_training

            # our own checkpointing below (non-reentrant, so no input-grad hook that would
            # backprop through the frozen bottom blocks)
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        config = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,  # type: ignore[arg-type]  # peft scales by any number; its hint says int
            lora_dropout=lora.dropout,
            bias=lora.bias,
            target_modules=targets,  # explicit names: frozen blocks get no adapter
            task_type="CAUSAL_LM",
        )
        trained = get_peft_model(model, config)
    if gradient_checkpointing:
        base = transformers_model(trained)
        base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        # transformers adds a hook making the embeddings' output require grad (needed only for
        # reentrant checkpointing); it would make autograd run through the frozen blocks.
        base.disable_input_require_grads()
    if hasattr(trained, "config"):
        cast(Any, trained).config.use_cache = False
    return trained, blocks


def transformers_model(model: torch.nn.Module) -> PreTrainedModel:
    """The transformers model inside a DistributedDataParallel and/or peft wrapper (or the model itself)."""
    inner: Any = getattr(model, "module", model)
    return inner.get_base_model() if hasattr(inner, "get_base_model") else inner


def _freeze_full_model(model: torch.nn.Module, blocks: Blocks, modules: torch.nn.ModuleList) -> None:
    """Full fine-tuning with frozen blocks: train the trained blocks and what runs after them.

    Everything below the lowest trained block stays frozen, embeddings included, so no gradient
    flows there. Outside the blocks, embedding tables are the input side; anything else (final
    norm, untied lm head) runs after the blocks and is trained. A tied lm head is the input
    embedding itself and stays frozen with it.
    """
    import torch

    embedding_params = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    block_params = {id(p) for p in modules.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) not in block_params and id(p) not in embedding_params)
    for i in blocks.trainable:
        for p in modules[i].parameters():
            p.requires_grad_(True)


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit weights count as the elements they hold."""
    trainable = total = 0
    seen: set[int] = set()
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        n = p.numel()
        if p.__class__.__name__ == "Params4bit":
            n *= 2  # two 4-bit values per stored byte
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total


def _ranges(blocks: Iterable[int]) -> str:
    blocks = sorted(blocks)
    parts: list[str] = []
    start: int | None = None
    prev = -2
    for b in blocks:
        if start is None:
            start = prev = b
        elif b == prev + 1:
            prev = b
        else:
            parts.append(f"{start}-{prev}" if start != prev else str(start))
            start = prev = b
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else str(start))
    return ",".join(parts)


# ---------------------------------------------------------------- merging

def merge_adapter(
    adapter_dir: str | Path,
    method: str,
    model_params: ModelParams,
    cache_dir: str | Path,
    quant: QuantParams | None,
) -> PreTrainedModel:
    """Base + adapter merged into one plain model.

    QLoRA: the adapter was trained against the 4-bit base, so it is merged into that base
    *dequantised* (exactly the weights the adapter saw), not into the original float weights
    and not re-quantised after merging (peft's 4-bit merge rounds the sum back to 4 bits).
    """
    from peft import PeftModel

    from docent.modeling.loading import load_base_model

    if method == "qlora":
        base = load_base_model(model_params, cache_dir, quant=quant)
        from docent.modeling.loading import resolve_dtype

        base = base.dequantize(dtype=resolve_dtype(quant.compute_dtype) if quant else None)
    else:
        base = load_base_model(model_params, cache_dir)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.eval()
    return merged
