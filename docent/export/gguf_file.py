"""Merged weights -> one GGUF file, with the `gguf` package only (no llama.cpp build, no download).

Tensor names come from gguf's own map (`model.layers.3.self_attn.q_proj` -> `blk.3.attn_q`).
For the `llama` architecture llama.cpp stores the q and k projections with their rows permuted
(its RoPE pairs neighbouring dimensions, Hugging Face's pairs the two halves of each head), and
transformers' GGUF loader undoes that permutation on load (LlamaTensorProcessor); so do we here,
the other way round. `qwen2` files are not permuted.

Types (`export.gguf_type`): f32 everything; f16 every matrix (1-D norms stay f32, as llama.cpp's
own converter does); q8_0 every matrix whose rows are a multiple of the 32-value block (others f16).

Metadata and tokenizer:
- a base that came from a GGUF (model.name = embedded): every key of that file is carried over
  (architecture, hyperparameters, vocabulary, merges, special tokens), the file type updated and
  the chat template adjusted (below); only the tensors are replaced;
- a Llama-family hub model or local folder: hyperparameters from its config, the vocabulary from
  its tokenizer through gguf's vocabulary helpers (BpeVocab, else LlamaHfVocab; SpecialVocab for
  merges, special ids and the chat template).
The chat template: when the model was trained with an empty system turn in place of the
template's default system prompt (docent.modeling.prompt), the file's template says so too, so
llama.cpp's chat mode builds the prompt the model was trained on.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from docent.cli import UserError

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

GGUF_TYPES = ("f32", "f16", "q8_0")
# Hugging Face model_type -> GGUF architecture. Mistral is llama in llama.cpp (and in transformers'
# GGUF loader); SmolLM2 and Llama 2/3 are model_type llama.
SUPPORTED_MODEL_TYPES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2"}
PERMUTED_ARCHS = ("llama",)
Q8_BLOCK = 32
# Prepended to a chat template that injects a default system prompt: the empty system turn the
# model was trained with (docent.modeling.prompt.injects_default_system_prompt) becomes the default.
EMPTY_SYSTEM_DEFAULT = (
    "{%- if not messages or messages[0]['role'] != 'system' -%}"
    "{%- set messages = [{'role': 'system', 'content': ''}] + messages -%}"
    "{%- endif -%}"
)


def gguf_architecture(config: Any) -> str:
    """The GGUF architecture for a transformers config, or the one-line refusal."""
    model_type = getattr(config, "model_type", None)
    arch = SUPPORTED_MODEL_TYPES.get(str(model_type))
    if arch is None:
        raise UserError(f"export: model_type {model_type!r} is not supported; GGUF export supports the "
                        f"Llama family: {', '.join(SUPPORTED_MODEL_TYPES)} (SmolLM2 and Llama 2/3 are llama)")
    return arch


def trained_chat_template(tokenizer: PreTrainedTokenizerBase) -> str | None:
    """The tokenizer's chat template, made to open with the empty system turn when training used one."""
    from docent.modeling.prompt import has_chat_template, injects_default_system_prompt

    if not has_chat_template(tokenizer):
        return None
    template = str(tokenizer.chat_template)
    if injects_default_system_prompt(tokenizer) and not template.startswith(EMPTY_SYSTEM_DEFAULT):
        template = EMPTY_SYSTEM_DEFAULT + template
    return template


# ---------------------------------------------------------------- tensors

def permute_qk(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's row order for q/k (convert_hf_to_gguf.LlamaModel.permute); transformers reverses it."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def gguf_tensors(model: PreTrainedModel, arch: str) -> Iterator[tuple[str, np.ndarray]]:
    """(GGUF name, float32 array) for every weight of the merged model, q/k permuted for llama."""
    import gguf
    import torch

    config = model.config
    n_layers = int(config.num_hidden_layers)
    n_head = int(config.num_attention_heads)
    n_head_kv = int(getattr(config, "num_key_value_heads", None) or n_head)
    name_map = gguf.get_tensor_name_map(_model_arch(arch), n_layers)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    seen: set[str] = set()
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # the output layer is the embedding table: llama.cpp reads token_embd then
        name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise UserError(f"export: weight {hf_name!r} has no GGUF name for architecture {arch!r}")
        if name in seen:
            raise UserError(f"export: two weights map to the GGUF tensor {name!r}")
        seen.add(name)
        data = tensor.detach().to(device="cpu", dtype=torch.float32).numpy()
        if arch in PERMUTED_ARCHS and name.endswith(".attn_q.weight"):
            data = permute_qk(data, n_head, n_head)
        elif arch in PERMUTED_ARCHS and name.endswith(".attn_k.weight"):
            data = permute_qk(data, n_head, n_head_kv)
        yield name, data


def _model_arch(arch: str) -> Any:
    import gguf

    for key, value in gguf.MODEL_ARCH_NAMES.items():
        if value == arch:
            return key
    raise UserError(f"export: the installed gguf package does not know architecture {arch!r}")


def encode_tensor(name: str, data: np.ndarray, gguf_type: str) -> tuple[np.ndarray, Any]:
    """The array to write and its GGML type: 1-D tensors stay f32, matrices become gguf_type."""
    import gguf
    import numpy as np

    if gguf_type == "f32" or data.ndim < 2:
        return data.astype(np.float32, copy=False), gguf.GGMLQuantizationType.F32
    if gguf_type == "q8_0" and data.shape[-1] % Q8_BLOCK == 0:
        qtype = gguf.GGMLQuantizationType.Q8_0
        return gguf.quants.quantize(data, qtype), qtype
    return data.astype(np.float16), gguf.GGMLQuantizationType.F16


def file_type(gguf_type: str) -> int:
    import gguf

    return {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
            "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[gguf_type]


# ---------------------------------------------------------------- metadata

_SKIPPED_KEYS = ("general.architecture", "general.file_type", "general.quantization_version")


def copy_metadata(writer: Any, base_gguf: Path, chat_template: str | None, vocab_size: int) -> None:
    """Every key of the base GGUF except the header's and the file type (the tensors are new)."""
    import gguf

    reader = gguf.GGUFReader(str(base_gguf))
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    if tokens is not None and len(tokens.data) != vocab_size:
        raise UserError(f"export: the merged model has {vocab_size} token embeddings, the base GGUF "
                        f"{base_gguf.name} {len(tokens.data)} tokens; its tokenizer cannot be carried over")
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in _SKIPPED_KEYS:
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        if field.name == "tokenizer.chat_template" and chat_template is not None:
            value = chat_template
        writer.add_key_value(field.name, value, vtype, sub_type=sub_type)
    if "tokenizer.chat_template" not in reader.fields and chat_template is not None:
        writer.add_chat_template(chat_template)


def hf_metadata(writer: Any, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, tokenizer_dir: Path,
                name: str, chat_template: str | None) -> None:
    """Hyperparameters from the config, vocabulary from the tokenizer (gguf's vocabulary helpers)."""
    config = model.config
    n_head = int(config.num_attention_heads)
    hidden = int(config.hidden_size)
    head_dim = int(getattr(config, "head_dim", None) or hidden // n_head)
    rope = dict(getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {})
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in ("default", None):
        raise UserError(f"export: rope scaling {rope_type!r} is not supported (only unscaled RoPE)")
    theta = rope.get("rope_theta", getattr(config, "rope_theta", None)) or 10000.0
    writer.add_name(name)
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(hidden)
    writer.add_block_count(int(config.num_hidden_layers))
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(int(getattr(config, "num_key_value_heads", None) or n_head))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_rope_freq_base(float(theta))
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(int(config.vocab_size))
    add_hf_vocabulary(writer, tokenizer, tokenizer_dir, int(config.vocab_size), chat_template)


def add_hf_vocabulary(writer: Any, tokenizer: PreTrainedTokenizerBase, tokenizer_dir: Path, n_vocab: int,
                      chat_template: str | None) -> None:
    import gguf

    try:
        vocab: Any = gguf.BpeVocab(tokenizer_dir)  # byte-level BPE: SmolLM2, Llama 3, Qwen2
        model = "gpt2"
    except FileNotFoundError:
        try:
            vocab = gguf.LlamaHfVocab(tokenizer_dir)  # sentencepiece-style BPE with byte fallback: Llama 2, Mistral
            model = "llama"
        except (FileNotFoundError, TypeError) as exc:
            raise UserError(f"{tokenizer_dir}: no byte-level BPE or Llama-style tokenizer.json to export "
                            f"({type(exc).__name__})") from None
    tokens: list[str] = []
    scores: list[float] = []
    types: list[int] = []
    for text, score, kind in vocab.all_tokens():
        tokens.append(text.decode("utf-8") if isinstance(text, bytes | bytearray) else str(text))
        scores.append(float(score))
        types.append(int(kind))
    # added tokens as the tokenizer marks them: special -> CONTROL (kept whole, never split), the
    # others USER_DEFINED; BpeVocab marks only those outside the base vocabulary
    for token_id, added in getattr(tokenizer, "added_tokens_decoder", {}).items():
        if token_id < len(types):
            types[token_id] = int(gguf.TokenType.CONTROL if added.special else gguf.TokenType.USER_DEFINED)
    if len(tokens) > n_vocab:
        raise UserError(f"export: the tokenizer has {len(tokens)} tokens, the model only {n_vocab} embeddings")
    for i in range(len(tokens), n_vocab):  # embedding rows without a token (padded vocabularies)
        tokens.append(f"[PAD{i}]")
        scores.append(-1000.0)
        types.append(int(gguf.TokenType.UNUSED))
    writer.add_tokenizer_model(model)
    writer.add_tokenizer_pre(_pre_tokenizer(tokenizer_dir) if model == "gpt2" else "default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    if model == "llama":
        writer.add_token_scores(scores)
    special = gguf.SpecialVocab(tokenizer_dir, load_merges=model == "gpt2", n_vocab=len(tokens))
    if chat_template is not None:
        special.chat_template = chat_template
    special.add_to_gguf(writer, quiet=True)


def _pre_tokenizer(tokenizer_dir: Path) -> str:
    """llama.cpp's name for how text is split before BPE, read off tokenizer.json's pre_tokenizer.

    GPT-2's split (a ByteLevel pre-tokenizer with its regex: SmolLM, GPT-2) -> "gpt2"; the
    Llama 3 and Qwen2 split regexes -> "llama-bpe" / "qwen2" (the names transformers' GGUF loader
    maps back to those regexes). Anything else is refused: a wrong split changes the tokens.
    """
    from transformers.integrations.gguf import gguf_tokenizer_mapping as mapping

    data = json.loads((tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8"))
    pre = data.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [p.get("type") for p in parts]
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt2"
    regexes = [p.get("pattern", {}).get("Regex") for p in parts if p.get("type") == "Split"]
    for regex in regexes:
        for name, known in (("llama-bpe", mapping._LLAMA3_SPLIT), ("qwen2", mapping._QWEN2_SPLIT)):
            if regex == known:
                return name
    raise UserError(f"{tokenizer_dir}/tokenizer.json: pre-tokenizer {kinds} is not one GGUF export knows "
                    f"(GPT-2 byte level, Llama 3, Qwen2)")


# ---------------------------------------------------------------- the file

def write_gguf(
    path: Path,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    gguf_type: str,
    *,
    base_gguf: Path | None,
    tokenizer_dir: Path,
    name: str,
) -> dict[str, Any]:
    """Write `path` (through a temporary sibling, replaced atomically); returns tensor counts by type."""
    import gguf

    if gguf_type not in GGUF_TYPES:
        raise UserError(f"export.gguf_type = {gguf_type!r}: must be one of {', '.join(GGUF_TYPES)}")
    arch = gguf_architecture(model.config)
    chat_template = trained_chat_template(tokenizer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    counts: dict[str, int] = {}
    try:
        writer = gguf.GGUFWriter(str(tmp), arch)
        vocab_size = int(cast(Any, model.get_input_embeddings()).weight.shape[0])
        if base_gguf is not None:
            copy_metadata(writer, base_gguf, chat_template, vocab_size)
        else:
            hf_metadata(writer, model, tokenizer, tokenizer_dir, name, chat_template)
        writer.add_file_type(int(file_type(gguf_type)))
        if gguf_type == "q8_0":
            writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        for tensor_name, data in gguf_tensors(model, arch):
            encoded, qtype = encode_tensor(tensor_name, data, gguf_type)
            writer.add_tensor(tensor_name, encoded, raw_dtype=qtype)
            counts[qtype.name] = counts.get(qtype.name, 0) + 1
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        if exc.errno == errno.ENOSPC:
            raise UserError(f"{path}: disk full while writing the GGUF file; the previous export is "
                            f"unchanged; free space and re-run") from None
        raise
    except BaseException:
        _remove(tmp)
        raise
    return counts


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
