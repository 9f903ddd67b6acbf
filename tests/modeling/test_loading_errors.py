"""The shared loader refuses bad models with one clear line, before any training starts."""

from __future__ import annotations

import json

import pytest

from docent.cli import UserError
from docent.config import ModelParams
from docent.modeling.loading import convert_gguf, load_base_model, load_tokenizer, resolve_model_source


def model_params(name: str, **kw) -> ModelParams:
    base = {"name": name, "trust_remote_code": False, "allow_pickle": False, "dtype": "auto",
            "attn_implementation": "auto"}
    return ModelParams(**{**base, **kw})


def test_missing_local_path(tmp_path):
    with pytest.raises(UserError, match="folder does not exist"):
        resolve_model_source(model_params(str(tmp_path / "nope")), tmp_path)


def test_folder_without_config(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(UserError, match=r"no config\.json"):
        resolve_model_source(model_params(str(tmp_path / "m")), tmp_path)


def test_pickle_weights_refused_unless_allowed(tmp_path, tiny_model_dir):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(UserError, match=r"only pickle weights \(pytorch_model.bin\)"):
        resolve_model_source(model_params(str(folder)), tmp_path)
    assert resolve_model_source(model_params(str(folder), allow_pickle=True), tmp_path) == str(folder)


def test_not_a_causal_lm(tmp_path, tiny_model_dir):
    folder = tmp_path / "t5"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "t5", "vocab_size": 10}))
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(UserError, match="not a causal"):
        load_base_model(model_params(str(folder)), tmp_path)


def test_corrupt_gguf(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(UserError, match=r"broken\.gguf: not a readable GGUF model"):
        convert_gguf(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tiny_model_loads_in_float32_with_pad_token(tiny_model_dir, tmp_path):
    import torch

    model = load_base_model(model_params(str(tiny_model_dir)), tmp_path)
    assert model.dtype == torch.float32
    tokenizer = load_tokenizer(str(tiny_model_dir))
    assert tokenizer.pad_token is not None


def test_corrupt_weights(tmp_path, tiny_model_dir):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    (folder / "model.safetensors").write_bytes(b"\x01")
    with pytest.raises(UserError, match="cannot load weights"):
        load_base_model(model_params(str(folder)), tmp_path)
