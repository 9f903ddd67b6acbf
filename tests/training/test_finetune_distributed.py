"""finetune under `accelerate launch` with 2 CPU processes (gloo): one set of outputs, sharded data.

configs/accelerate/cpu_2proc.yaml starts two workers through torchrun; the stage runs unchanged
in each. A small wrapper script records, per rank, the token ids of every batch that rank trained
on, then hands over to the real stage entry point.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from finetune_helpers import stage_args, write_params

REPO = Path(__file__).resolve().parents[2]

RECORDING_LAUNCHER = """
import atexit, json, os, sys

import torch.distributed as dist

from docent.training import trainer
from stages.finetune import main

seen = []
original_step = trainer.PackedTrainer.training_step

def recording_step(self, model, inputs, num_items_in_batch=None):
    seen.append(inputs["input_ids"].flatten().tolist())
    return original_step(self, model, inputs, num_items_in_batch)

trainer.PackedTrainer.training_step = recording_step
rank, backend = os.environ["RANK"], []

def report():
    with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as fh:
        json.dump({"world": os.environ["WORLD_SIZE"], "backend": backend, "batches": seen}, fh)

atexit.register(report)
original_init = trainer.PackedTrainer.__init__

def init_and_note_backend(self, *args, **kwargs):
    original_init(self, *args, **kwargs)
    backend.append(dist.get_backend() if dist.is_initialized() else "none")

trainer.PackedTrainer.__init__ = init_and_note_backend
main(sys.argv[2:])
"""


def test_two_cpu_processes_write_outputs_once_and_see_different_data(
        tmp_path: Path, tiny_model_dir: Path, stage_files: dict[str, Path]) -> None:
    # 4 training examples, 1 per process per step: each step trains on 2 examples, 4 steps = 2 epochs
    params = write_params(tmp_path / "params.yaml", tiny_model_dir, **{
        "train.batch_size": 1, "train.grad_accum": 1, "train.max_steps": 4, "train.eval_steps": 2,
        "train.save_steps": 2,
        "train.learning_rate": 0.01})
    script = tmp_path / "launch_recording.py"
    script.write_text(RECORDING_LAUNCHER)
    records = tmp_path / "records"
    records.mkdir()
    accelerate = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [str(accelerate), "launch", "--config_file", str(REPO / "configs/accelerate/cpu_2proc.yaml"),
         str(script), str(records), *stage_args(params, stage_files)],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-8000:]

    ranks = [json.loads((records / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == ["2", "2"] and [r["backend"] for r in ranks] == [["gloo"], ["gloo"]]
    batches = [[tuple(b) for b in r["batches"]] for r in ranks]
    assert [len(b) for b in batches] == [4, 4]
    first_epoch = [set(b[:2]) for b in batches]
    # the distributed sampler gives each process its own half of the 4 examples
    assert not first_epoch[0] & first_epoch[1]
    assert len(first_epoch[0] | first_epoch[1]) == 4
    assert all(b0 != b1 for b0, b1 in zip(batches[0], batches[1], strict=True))

    # outputs written once, by the main process: the usual folder, no leftover temporary siblings
    out = stage_files["out"]
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "adapter_config.json", "adapter_model.safetensors", "chat_template.jinja", "docent.json",
        "tokenizer.json", "tokenizer_config.json"]
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")] == []
    metrics = json.loads(stage_files["metrics"].read_text())
    machine = json.loads(stage_files["machine_metrics"].read_text())
    assert machine["processes"] == 2 and metrics["steps"] == 4
    # tokens of both processes: the 8 batches recorded above
    assert metrics["train_tokens"] == sum(len(b) for r in batches for b in r)
    loss_rows = (stage_files["live"] / "plots/metrics/train/loss.tsv").read_text().splitlines()[1:]
    assert [int(row.split("\t")[0]) for row in loss_rows] == [1, 2, 3, 4]  # one writer, each step once
    assert len(re.findall(r"docent: finetune: method=", result.stderr)) == 1
