"""GPU settings switch on by themselves with CUDA, and nothing GPU-only is needed without it.

The CPU side runs for real here. The CUDA side is the same resolution code with torch's CUDA
probes answering as a GPU machine would (no GPU on the test machine); the Docker image's GPU run
itself is checked by hand, as the README's "GPU and Docker" section describes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from docent.config import QuantParams
from docent.modeling.loading import quantization_config, resolve_attn_implementation, resolve_dtype

REPO = Path(__file__).resolve().parents[2]
GPU_ONLY = re.compile(r"^(flash[-_]attn|triton|xformers|deepspeed|apex|nvidia-(?!ml-py)[a-z0-9-]+)==", re.IGNORECASE)


def test_requirements_hold_nothing_gpu_only() -> None:
    # nvidia-ml-py is only the NVML query binding (GPU memory in metrics); it imports without a GPU
    for name in ("requirements.txt", "requirements-nodeps.txt"):
        lines = (REPO / name).read_text().splitlines()
        assert not [line for line in lines if GPU_ONLY.match(line)], name


@pytest.fixture()
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture(params=[True, False], ids=["bf16-gpu", "fp16-gpu"])
def cuda_gpu(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """A CUDA machine; Ampere and newer support bf16, T4/V100 only fp16."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: request.param)
    return request.param


def test_cpu_defaults_are_float32_and_sdpa(cpu_only: None) -> None:
    assert resolve_dtype("auto") == torch.float32
    assert resolve_attn_implementation("auto") == "sdpa"
    quant = QuantParams(bits=4, quant_type="nf4", double_quant=True, compute_dtype="auto")
    config = quantization_config(quant)  # bitsandbytes' config builds without CUDA
    assert config.load_in_4bit and config.bnb_4bit_compute_dtype == torch.float32


def test_cuda_defaults_are_half_precision(cuda_gpu: bool) -> None:
    expected = torch.bfloat16 if cuda_gpu else torch.float16
    assert resolve_dtype("auto") == expected
    quant = QuantParams(bits=4, quant_type="nf4", double_quant=True, compute_dtype="auto")
    assert quantization_config(quant).bnb_4bit_compute_dtype == expected


def test_cuda_attention_is_flash_only_when_installed(cuda_gpu: bool) -> None:
    try:
        import flash_attn  # noqa: F401

        installed = True
    except ImportError:
        installed = False
    assert resolve_attn_implementation("auto") == ("flash_attention_2" if installed else "sdpa")
    assert resolve_attn_implementation("eager") == "eager"  # an explicit choice is kept


def test_explicit_dtype_is_kept_on_any_machine(cpu_only: None) -> None:
    assert resolve_dtype("bfloat16") == torch.bfloat16
