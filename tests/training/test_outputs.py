from __future__ import annotations

import json
from pathlib import Path

from docent.training.outputs import sort_target_modules


def test_target_modules_written_sorted(tmp_path: Path) -> None:
    # peft writes its set in hash order; two runs must give the same bytes
    path = tmp_path / "adapter_config.json"
    names = ["model.layers.2.mlp.up_proj", "model.layers.10.self_attn.q_proj", "model.layers.1.mlp.down_proj"]
    path.write_text(json.dumps({"r": 8, "target_modules": names}))
    sort_target_modules(path)
    first = path.read_bytes()
    assert json.loads(first)["target_modules"] == sorted(names)
    path.write_text(json.dumps({"r": 8, "target_modules": list(reversed(names))}))
    sort_target_modules(path)
    assert path.read_bytes() == first


def test_target_modules_string_and_missing_file_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "adapter_config.json"
    path.write_text(json.dumps({"target_modules": "all-linear"}))
    sort_target_modules(path)
    assert json.loads(path.read_text())["target_modules"] == "all-linear"
    sort_target_modules(tmp_path / "absent" / "adapter_config.json")  # full fine-tuning: no adapter
