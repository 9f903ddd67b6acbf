"""configs/accelerate/*.yaml: valid for the installed accelerate, and each does what its name says.

The files go through accelerate's own launcher code (config loader, argument validation and the
environment it hands to the workers), and the FSDP file's wrap policy is resolved on tiny models of
the pipeline's architectures. The CPU file launches the finetune stage on two gloo workers in
tests/training/test_finetune_distributed.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "accelerate"


def launcher_env(config: Path) -> tuple[object, dict[str, str]]:
    """The parsed launch arguments and the environment `accelerate launch` would give the workers."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(config), "train.py"])
    args, _, _ = _validate_launch_command(args)
    env = prepare_multi_gpu_env(args) if (args.multi_gpu or args.use_fsdp) else {}
    return args, env


def test_every_config_loads_with_the_installed_accelerate() -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    names = sorted(p.name for p in CONFIGS.glob("*.yaml"))
    assert names == ["cpu_2proc.yaml", "ddp.yaml", "fsdp.yaml", "single_gpu.yaml"]
    for name in names:
        config = load_config_from_file(str(CONFIGS / name))  # unknown keys raise TypeError
        assert config.mixed_precision == "no", f"{name}: precision is the stage's choice"


def test_single_gpu_is_one_process() -> None:
    args, _ = launcher_env(CONFIGS / "single_gpu.yaml")
    assert args.num_processes == 1 and not args.multi_gpu and not args.use_fsdp


def test_ddp_spawns_one_worker_per_gpu() -> None:
    args, env = launcher_env(CONFIGS / "ddp.yaml")
    assert args.multi_gpu and not args.use_fsdp and not args.use_cpu
    assert args.nproc_per_node == str(args.num_processes) and args.num_processes >= 2
    assert "ACCELERATE_USE_FSDP" not in env


@pytest.mark.parametrize("arch", ["llama", "falcon"])
def test_fsdp_wraps_each_decoder_block(arch: str) -> None:
    from accelerate.utils import FullyShardedDataParallelPlugin
    from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
    from transformers import FalconConfig, FalconForCausalLM, LlamaConfig, LlamaForCausalLM

    args, env = launcher_env(CONFIGS / "fsdp.yaml")
    assert args.use_fsdp and env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_VERSION"] == "2"
    assert env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"  # finetune's output stays plain safetensors
    if arch == "llama":  # the embedded SmolLM2 and Llama-2
        model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
                                             num_hidden_layers=2, num_attention_heads=2))
    else:
        model = FalconForCausalLM(FalconConfig(vocab_size=64, hidden_size=16, num_attention_heads=2,
                                               num_hidden_layers=2))
    with mock.patch.dict(os.environ, env):
        plugin = FullyShardedDataParallelPlugin()
    plugin.set_auto_wrap_policy(model)
    assert plugin.auto_wrap_policy.func is transformer_auto_wrap_policy
    wrapped = plugin.auto_wrap_policy.keywords["transformer_layer_cls"]
    assert wrapped == {type(model.model.layers[0] if arch == "llama" else model.transformer.h[0])}
