"""The finetune stage end to end on a tiny model: outputs, methods, early stopping, resume, EOS."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from finetune_helpers import qa_rows, stage_args, write_jsonl, write_params
from safetensors.torch import load_file
from tiny_models import FACTS
from transformers import TrainerCallback

from docent.config import load_params
from docent.modeling.loading import load_base_model, load_finetuned, load_tokenizer
from stages.finetune import main as finetune_main

SECTIONS = ("seed", "model", "quant", "lora", "freeze", "train")


def run_stage(params: Path, files: dict[str, Path]):
    return CliRunner().invoke(finetune_main, stage_args(params, files), catch_exceptions=False)


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_lora_stage_output_contract(tmp_path: Path, tiny_model_dir: Path, stage_files: dict[str, Path]) -> None:
    params = write_params(tmp_path / "params.yaml", tiny_model_dir, **{"train.learning_rate": 0.01})
    result = run_stage(params, stage_files)
    assert result.exit_code == 0, result.output
    out = stage_files["out"]
    assert tree(out) == ["README.md", "adapter_config.json", "adapter_model.safetensors", "chat_template.jinja",
                         "docent.json", "tokenizer.json", "tokenizer_config.json"]
    targets = json.loads((out / "adapter_config.json").read_text())["target_modules"]
    assert targets == sorted(targets) and len(targets) > 1  # byte-stable across runs
    manifest = json.loads((out / "docent.json").read_text())
    assert manifest["method"] == "lora"
    assert manifest["base_model"] == str(tiny_model_dir)
    assert set(manifest["params"]) == set(SECTIONS) - {"quant"}
    assert {"torch", "transformers", "peft"} <= set(manifest["versions"])
    assert manifest["train_examples"] == 4 and manifest["skipped_too_long"] == 0

    metrics = json.loads(stage_files["metrics"].read_text())
    for key in ("train_loss", "eval_loss", "base_eval_loss", "eval_perplexity", "steps", "epochs",
                "trainable_params", "total_params", "train_examples", "skipped_too_long", "stopped_early"):
        assert key in metrics, key
    # machine figures are kept apart, in one naming scheme, so `dvc metrics diff` shows results only
    machine = json.loads(stage_files["machine_metrics"].read_text())
    assert set(machine) == {"tokens_per_s", "train_s", "total_s", "peak_rss_mb", "threads", "device", "processes"}
    assert not set(machine) & set(metrics)
    assert metrics["steps"] == 6 and metrics["resumed_from_step"] == 0
    assert all(not isinstance(v, dict | list) for v in metrics.values())

    plots = stage_files["live"] / "plots" / "metrics"
    for tsv in ("train/loss.tsv", "train/learning_rate.tsv", "eval/loss.tsv"):
        assert (plots / tsv).is_file(), tsv
    eval_steps = [int(line.split("\t")[0]) for line in (plots / "eval/loss.tsv").read_text().splitlines()[1:]]
    assert eval_steps == [0, 2, 4, 6]  # step 0 = the base model
    assert len((plots / "train/loss.tsv").read_text().splitlines()) == 1 + 6

    # what evaluate will load: the adapter changed, the base weights did not
    p = load_params(params, *SECTIONS)
    model, _tok = load_finetuned(out, p.model, stage_files["cache"])
    lora_b = [v for k, v in load_file(out / "adapter_model.safetensors").items() if "lora_B" in k]
    assert lora_b and all(t.abs().max() > 0 for t in lora_b)  # LoRA B starts at zero
    base = load_base_model(p.model, stage_files["cache"])
    merged_base = model.get_base_model()
    for name, weight in base.state_dict().items():
        peft_name = name.replace(".weight", ".base_layer.weight") if "proj" in name else name
        twin = merged_base.state_dict().get(peft_name, merged_base.state_dict().get(name))
        torch.testing.assert_close(twin, weight, atol=0, rtol=0)


def test_qlora_trains_and_merged_logits_match_adapter(tmp_path: Path, tiny_model_dir: Path,
                                                       stage_files: dict[str, Path]) -> None:
    pytest.importorskip("bitsandbytes")
    params = write_params(tmp_path / "params.yaml", tiny_model_dir, **{
        "train.method": "qlora", "train.merge": True, "train.learning_rate": 0.01, "train.max_steps": 4})
    result = run_stage(params, stage_files)
    assert result.exit_code == 0, result.output
    out = stage_files["out"]
    assert json.loads((out / "docent.json").read_text())["method"] == "qlora"
    assert (out / "merged" / "model.safetensors").is_file()
    assert (out / "merged" / "tokenizer.json").is_file()

    p = load_params(params, *SECTIONS)
    adapted, tok = load_finetuned(out, p.model, stage_files["cache"], quant=p.quant)
    merged = load_base_model(type(p.model)(**{**p.model.__dict__, "name": str(out / "merged")}), stage_files["cache"])
    ids = torch.tensor([tok(FACTS[0][0] + " " + FACTS[0][1])["input_ids"]])
    with torch.no_grad():
        with_adapter = adapted(input_ids=ids).logits
        merged_logits = merged(input_ids=ids).logits
    # merged = dequantised 4-bit base + B@A: equal up to float32 summation order
    torch.testing.assert_close(merged_logits, with_adapter, atol=1e-4, rtol=1e-4)


def test_full_method_with_frozen_blocks(tmp_path: Path, tiny_model_dir: Path, stage_files: dict[str, Path]) -> None:
    params = write_params(tmp_path / "params.yaml", tiny_model_dir, **{
        "train.method": "full", "freeze.layers": 2, "train.max_steps": 2})
    result = run_stage(params, stage_files)
    assert result.exit_code == 0, result.output
    out = stage_files["out"]
    assert {"config.json", "model.safetensors", "docent.json", "tokenizer.json"} <= set(tree(out))
    trained = load_file(out / "model.safetensors")
    base = load_file(tiny_model_dir / "model.safetensors")
    assert torch.equal(trained["model.layers.0.mlp.up_proj.weight"], base["model.layers.0.mlp.up_proj.weight"])
    assert torch.equal(trained["model.embed_tokens.weight"], base["model.embed_tokens.weight"])
    assert not torch.equal(trained["model.layers.3.mlp.up_proj.weight"], base["model.layers.3.mlp.up_proj.weight"])
    p = load_params(params, *SECTIONS)
    model, _ = load_finetuned(out, p.model, stage_files["cache"])
    assert model.config.num_hidden_layers == 4


@pytest.mark.parametrize(("override", "message"), [
    ({"lora.target_modules": ["q_proj", "query_key_value"]}, "query_key_value"),
    ({"freeze.layers": 9}, "freeze.layers"),
    ({"train.method": "prefix"}, "train.method"),
    ({"lora.r": 0}, "lora.r"),
])
def test_bad_params_exit_2(tmp_path: Path, tiny_model_dir: Path, stage_files: dict[str, Path],
                           override: dict, message: str) -> None:
    params = write_params(tmp_path / "params.yaml", tiny_model_dir, **override)
    result = CliRunner().invoke(finetune_main, stage_args(params, stage_files))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    if "target_modules" in str(override):
        assert "q_proj" in result.output and "down_proj" in result.output  # lists the modules that exist


def test_early_stopping_stops_the_run(tmp_path: Path, tiny_model_dir: Path, stage_files: dict[str, Path]) -> None:
    # val asks the training questions but expects other answers: learning train makes val worse
    swapped = [(q, FACTS[(i + 1) % 4][1]) for i, (q, _a) in enumerate(FACTS[:4])]
    write_jsonl(stage_files["val"], qa_rows(swapped, prefix="v"))
    params = write_params(tmp_path / "params.yaml", tiny_model_dir, **{
        "train.max_steps": 40, "train.eval_steps": 1, "train.save_steps": 1, "train.learning_rate": 0.02,
        "train.early_stopping_patience": 2, "train.batch_size": 4})
    result = run_stage(params, stage_files)
    assert result.exit_code == 0, result.output
    metrics = json.loads(stage_files["metrics"].read_text())
    assert metrics["stopped_early"] is True
    assert metrics["steps"] < 40
    assert metrics["eval_loss"] <= metrics["base_eval_loss"]  # the best checkpoint is kept


class SigintAtStep(TrainerCallback):
    """Press Ctrl-C (a real SIGINT to this process) once training reaches `step`.

    It runs after GracefulInterrupt's on_step_end, so the stop happens at the end of the next step.
    """

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path: Path, tiny_model_dir: Path,
                                                     stage_files: dict[str, Path]) -> None:
    from docent.training.callbacks import TrainingInterrupted
    from docent.training.run import run_finetune

    params_path = write_params(tmp_path / "params.yaml", tiny_model_dir, **{
        "train.max_steps": 8, "train.save_steps": 4, "train.eval_steps": 4, "train.learning_rate": 0.01,
        "lora.dropout": 0.0})
    params = load_params(params_path, *SECTIONS)
    paths = {"train_path": stage_files["train"], "val_path": stage_files["val"],
             "sentences_path": stage_files["sentences"], "model_cache": stage_files["cache"]}

    reference = run_finetune(params, checkpoints=tmp_path / "ref_ck", out_dir=tmp_path / "ref_out",
                             live_dir=tmp_path / "ref_live", **paths)
    with pytest.raises(TrainingInterrupted) as stop:
        run_finetune(params, checkpoints=stage_files["checkpoints"], out_dir=stage_files["out"],
                     live_dir=stage_files["live"], extra_callbacks=[SigintAtStep(2)], **paths)
    assert stop.value.step == 3  # the signal arrives during step 3's callbacks: that step finishes
    assert (stage_files["checkpoints"] / "checkpoint-3").is_dir()  # Ctrl-C saved where it stopped
    assert not stage_files["out"].exists()
    resumed = run_finetune(params, checkpoints=stage_files["checkpoints"], out_dir=stage_files["out"],
                           live_dir=stage_files["live"], **paths)
    assert resumed["resumed_from_step"] == 3
    assert resumed["steps"] == reference["steps"] == 8
    # same final weights as the uninterrupted run: step count, optimizer moments, scheduler and data
    # order all continued (a silent restart would train 8 more steps from scratch or lose Adam state)
    ref = load_file(tmp_path / "ref_out" / "adapter_model.safetensors")
    got = load_file(stage_files["out"] / "adapter_model.safetensors")
    for key, tensor in ref.items():
        torch.testing.assert_close(got[key], tensor, atol=1e-5, rtol=1e-4)
    loss_steps = [int(r.split("\t")[0]) for r in
                  (stage_files["live"] / "plots/metrics/train/loss.tsv").read_text().splitlines()[1:]]
    assert loss_steps == list(range(1, 9))  # no duplicated steps in the curve

    # changed params: the old checkpoints are not used
    changed = load_params(write_params(tmp_path / "p2.yaml", tiny_model_dir, **{"train.max_steps": 2}), *SECTIONS)
    fresh = run_finetune(changed, checkpoints=stage_files["checkpoints"], out_dir=stage_files["out"],
                         live_dir=stage_files["live"], **paths)
    assert fresh["resumed_from_step"] == 0 and fresh["steps"] == 2


def test_trained_model_answers_and_stops_with_end_token(tmp_path: Path, tiny_model_dir: Path,
                                                        stage_files: dict[str, Path]) -> None:
    from docent.modeling.prompt import prompt_text, stop_token_ids

    write_jsonl(stage_files["train"], qa_rows(FACTS[:3]))
    params = write_params(tmp_path / "params.yaml", tiny_model_dir, **{
        "train.max_steps": 120, "train.batch_size": 3, "train.learning_rate": 0.01, "train.eval_steps": 1000,
        "train.save_steps": 1000, "train.early_stopping_patience": 0, "lora.r": 32, "lora.dropout": 0.0,
        "train.scheduler": "constant"})
    result = run_stage(params, stage_files)
    assert result.exit_code == 0, result.output
    p = load_params(params, *SECTIONS)
    model, _ = load_finetuned(stage_files["out"], p.model, stage_files["cache"])
    tok = load_tokenizer(str(stage_files["out"]))
    end = stop_token_ids(tok)
    for question, answer in FACTS[:3]:
        enc = tok(prompt_text(tok, question), return_tensors="pt", add_special_tokens=False)
        out = model.generate(**enc, max_new_tokens=30, do_sample=False, eos_token_id=end,
                             pad_token_id=tok.pad_token_id)[0, enc["input_ids"].shape[1]:].tolist()
        assert out[-1] in end, "did not stop"
        assert len(out) < 30
        assert tok.decode(out[:-1]) == answer


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_stage_process_resumes_from_last_checkpoint(tmp_path: Path, tiny_model_dir: Path,
                                                           stage_files: dict[str, Path], sig: int) -> None:
    """Issue 8: the stage process killed mid-run; running it again continues, it does not start over."""
    import subprocess
    import sys
    import time

    from docent.training.resume import last_complete_checkpoint

    params = write_params(tmp_path / "params.yaml", tiny_model_dir, **{
        "train.max_steps": 400, "train.save_steps": 2, "train.eval_steps": 2, "train.save_total_limit": 3,
        "train.early_stopping_patience": 0, "lora.dropout": 0.0})
    cmd = [sys.executable, "-m", "stages.finetune", *stage_args(params, stage_files)]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        # read-only wait until a checkpoint of step >= 4 is complete (trainer_state.json is written last)
        while not any(int(p.parent.name.split("-")[1]) >= 4
                      for p in stage_files["checkpoints"].glob("checkpoint-*/trainer_state.json")):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not stage_files["out"].exists()  # killed runs leave no final output
    last = last_complete_checkpoint(stage_files["checkpoints"])
    assert last is not None
    killed_at = int(Path(last).name.split("-")[1])

    # run again (same params), stopped 2 steps later to keep the test short: the step count must
    # continue from the checkpoint, not from 0
    from docent.training.run import run_finetune

    p = load_params(params, *SECTIONS)
    resumed = run_finetune(p, train_path=stage_files["train"], val_path=stage_files["val"],
                           sentences_path=stage_files["sentences"], model_cache=stage_files["cache"],
                           checkpoints=stage_files["checkpoints"], out_dir=stage_files["out"],
                           live_dir=stage_files["live"], extra_callbacks=[StopAtStep(killed_at + 2)])
    assert resumed["resumed_from_step"] == killed_at


class StopAtStep(TrainerCallback):
    """End training cleanly at a given global step (keeps the resume test short)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control
