"""What a finished run leaves: the model folder (adapter or weights, tokenizer, manifest, the
merged model when train.merge) and its flat metrics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from docent.config import Params
from docent.io import atomic_dir, write_json
from docent.runtime import package_versions, peak_rss_mb
from docent.training.examples import RunExamples
from docent.training.resume import step_of


def save_model(out_dir: Path, trained: Any, tokenizer: Any, manifest: dict[str, Any], params: Params,
               model_cache: Path) -> None:
    """Written into a temporary folder that replaces out_dir only when complete."""
    from docent.modeling.adapters import merge_adapter
    from docent.modeling.loading import MANIFEST

    assert params.train and params.model and params.quant
    if hasattr(trained, "config"):
        trained.config.use_cache = True
    with atomic_dir(out_dir) as tmp:
        trained.save_pretrained(str(tmp), safe_serialization=True)
        sort_target_modules(tmp / "adapter_config.json")
        tokenizer.save_pretrained(str(tmp))
        write_json(tmp / MANIFEST, manifest)
        if manifest["merged"]:
            merged = merge_adapter(tmp, params.train.method, params.model, model_cache, params.quant)
            merged.config.use_cache = True
            merged.save_pretrained(str(tmp / "merged"), safe_serialization=True)
            tokenizer.save_pretrained(str(tmp / "merged"))


def sort_target_modules(config_path: Path) -> None:
    """peft keeps target_modules as a set and writes it in set order, which follows the
    interpreter's string-hash seed: the same adapter saved twice gave two adapter_config.json files,
    so dvc saw a new model folder after every finetune and re-ran evaluate and export. Sorted, the
    file is byte-identical from run to run (a regex or "all-linear" string is left as it is)."""
    import json

    if not config_path.is_file():  # train.method=full: no adapter
        return
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
        write_json(config_path, config)


def run_manifest(params: Params, used: dict[str, Any], examples: RunExamples, blocks: Any,
                 state: Any) -> dict[str, Any]:
    """manifest.json beside the weights: the resolved params, versions, data counts, and the prompt
    format answers must use (passages in the question turn, how many, the abstention)."""
    assert params.train and params.model
    train = params.train
    retrieved = train.context == "retrieved"
    return {
        "method": train.method,
        "base_model": params.model.name,
        "params": used,
        "versions": package_versions(),
        "train_examples": examples.qa_examples,
        "passage_examples": examples.passage_examples,
        "skipped_too_long": examples.skipped_too_long,
        "frozen_blocks": list(blocks.frozen),
        "decoder_blocks": blocks.count,
        "steps": state.global_step,
        "best_checkpoint_step": step_of(state.best_model_checkpoint) if state.best_model_checkpoint else None,
        "merged": bool(train.merge and train.method != "full"),
        "context": train.context,
        "retrieval_k": params.retrieval.k if params.retrieval and retrieved else 0,
        "abstain": params.assistant.abstain if params.assistant and retrieved else "",
    }


def run_metrics(params: Params, examples: RunExamples, trainer: Any, result: Any, base_metrics: dict[str, float],
                timing: dict[str, float], counts: dict[str, Any]) -> dict[str, Any]:
    """Flat metrics of the run; machine figures (`*_s`, `*_per_s`, `*_mb`, threads, device) go to
    their own file (docent.io.write_metrics)."""
    import torch

    assert params.train
    train, state = params.train, trainer.state
    has_eval = examples.val is not None
    last_train_loss = next((h["loss"] for h in reversed(state.log_history) if "loss" in h), float("nan"))
    metrics: dict[str, Any] = {
        "method": train.method,
        "train_loss": round(float(result.training_loss), 5),
        "final_train_loss": round(float(last_train_loss), 5),
        "steps": state.global_step,
        "max_steps": state.max_steps,
        "epochs": round(float(state.epoch or 0.0), 3),
        "resumed_from_step": counts["resumed_from_step"],
        "stopped_early": counts["stopped_early"],
        "train_examples": examples.qa_examples,
        "passage_examples": examples.passage_examples,
        "val_examples": len(examples.val) if examples.val is not None else 0,
        "skipped_too_long": examples.skipped_too_long + examples.passages_skipped_too_long,
        **{f"context_{k}": v for k, v in sorted(examples.context_counts.items())},
        "val_skipped_too_long": examples.val_skipped_too_long,
        "trainable_params": counts["trainable_params"],
        "total_params": counts["total_params"],
        "frozen_blocks": counts["frozen_blocks"],
        "processes": counts["processes"],
        "train_tokens": counts["train_tokens"],
        "tokens_per_s": round(counts["train_tokens"] / max(trainer.train_compute_s, 1e-9), 1),
        "train_s": round(timing["train_s"], 1),
        "total_s": round(timing["total_s"], 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "threads": counts["threads"],
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }
    if has_eval:
        eval_loss, base_loss = float(state.best_metric), float(base_metrics["base_eval_loss"])
        metrics["eval_loss"] = round(eval_loss, 5)
        metrics["base_eval_loss"] = round(base_loss, 5)
        metrics["eval_perplexity"] = round(math.exp(min(eval_loss, 50.0)), 4)
        metrics["base_eval_perplexity"] = round(math.exp(min(base_loss, 50.0)), 4)
        if train.eval_bleu:
            metrics["base_eval_bleu"] = round(float(base_metrics.get("base_eval_bleu", 0.0)), 4)
            bleus = [h["eval_bleu"] for h in state.log_history if "eval_bleu" in h]
            metrics["eval_bleu"] = round(float(bleus[-1]), 4) if bleus else 0.0
    if torch.cuda.is_available():
        metrics["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return metrics
