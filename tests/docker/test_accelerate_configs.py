"""configs/accelerate/*.yaml: valid for the installed accelerate, and each does what its name says.

The files go through accelerate's own launcher code (config loader, argument validation and the
environment it hands to the workers), and the FSDP file's wrap policy is resolved on tiny models of
the pipeline's architectures. The CPU file really launches two gloo workers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
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


TRIVIAL_GLOO = """
import torch
import torch.distributed as dist
from accelerate import PartialState

state = PartialState(cpu=True)  # what TrainingArguments(use_cpu=True) does on a machine without CUDA
total = torch.tensor([float(state.process_index + 1)])
dist.all_reduce(total)
print(f"rank={state.process_index} world={state.num_processes} backend={state.backend} sum={total.item():g}")
"""


def test_cpu_2proc_launches_two_gloo_workers(tmp_path: Path) -> None:
    script = tmp_path / "trivial_gloo.py"
    script.write_text(TRIVIAL_GLOO)
    accelerate = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [str(accelerate), "launch", "--config_file", str(CONFIGS / "cpu_2proc.yaml"), str(script)],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # both workers share one stdout pipe, so their lines can interleave: find the reports anywhere
    lines = sorted(re.findall(r"rank=\d+ world=\d+ backend=\w+ sum=\d+", result.stdout))
    # 1 + 2 = 3 only if both workers took part in the all-reduce
    assert lines == ["rank=0 world=2 backend=gloo sum=3", "rank=1 world=2 backend=gloo sum=3"]
