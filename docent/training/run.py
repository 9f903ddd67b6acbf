"""One fine-tuning run: data -> trainable model -> Trainer (resumable) -> saved model + metrics.

Resume: models/checkpoints/docent_run.json holds a fingerprint of everything that shapes the
run (the params sections, the input files' hashes, the base model). A re-run whose fingerprint
matches an unfinished run continues from its last checkpoint (step count, optimizer, scheduler,
RNG and early-stopping state all restored by the Trainer); anything else starts fresh and says so.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import math
import os
import resource
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docent.cli import UserError
from docent.config import Params
from docent.io import atomic_dir, write_json

log = logging.getLogger(__name__)

RUN_STATE = "docent_run.json"
VERSIONED = ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "datasets")


def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads share one core's FPU: no gain for matmuls)."""
    import psutil

    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or allowed
    return max(1, min(physical, allowed))


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def run_fingerprint(params_dict: dict[str, Any], inputs: list[Path], model_source: str) -> str:
    payload = {
        "params": params_dict,
        "inputs": {str(p.name): file_digest(p) for p in inputs},
        "model_source": model_source,
        "versions": package_versions(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def checkpoint_to_resume(checkpoints: Path, fingerprint: str) -> str | None:
    """The last checkpoint of an unfinished run with the same fingerprint; else clear the folder."""
    state_file = checkpoints / RUN_STATE
    last = last_complete_checkpoint(checkpoints)
    if last is None:
        _clear(checkpoints)
        return None
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        state = {}
    if state.get("fingerprint") != fingerprint:
        log.warning("%s: checkpoints were made with different params, data or library versions; "
                    "starting fresh", checkpoints)
    elif state.get("status") == "done":
        log.info("%s: the last run with these params finished; training again from the start", checkpoints)
    else:
        log.info("resuming the interrupted run from %s", last)
        return last
    _clear(checkpoints)
    return None


def last_complete_checkpoint(checkpoints: Path) -> str | None:
    """The newest checkpoint-N that was saved completely.

    The Trainer writes a checkpoint's files one by one and trainer_state.json last, so a process
    killed (SIGKILL, power loss) in the middle of a save leaves a folder without a readable
    trainer_state.json. Such folders are removed and the one before is used.
    """
    if not checkpoints.is_dir():
        return None
    candidates = sorted((p for p in checkpoints.glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()),
                        key=lambda p: int(p.name[11:]), reverse=True)
    for folder in candidates:
        try:
            json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            log.warning("%s: incomplete checkpoint (interrupted while saving); removed", folder)
            shutil.rmtree(folder, ignore_errors=True)
            continue
        return str(folder)
    return None


def _clear(checkpoints: Path) -> None:
    if checkpoints.is_dir():
        for child in checkpoints.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    checkpoints.mkdir(parents=True, exist_ok=True)


def _step_of(checkpoint: str) -> int:
    return int(Path(checkpoint).name.rsplit("-", 1)[-1])


def peak_rss_mb() -> float:
    """Peak resident memory of this process (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_finetune(
    params: Params,
    train_path: Path,
    val_path: Path,
    sentences_path: Path,
    model_cache: Path,
    checkpoints: Path,
    out_dir: Path,
    live_dir: Path,
    index_dir: Path | None = None,
    extra_callbacks: Sequence[Any] = (),
) -> dict[str, Any] | None:
    """Train as params say; write out_dir (model + tokenizer + manifest); return flat metrics.

    Under `accelerate launch` (several processes, DDP or FSDP) every process trains on its own
    shard of the data, and only the main process decides about resuming, logs to dvclive and
    writes outputs; the others get None back.

    `extra_callbacks`: more TrainerCallbacks (tools and tests hook in here).
    """
    import torch
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list
    from dvclive import Live
    from transformers import EarlyStoppingCallback, set_seed

    from docent.modeling.adapters import count_parameters, merge_adapter, prepare_trainable_model
    from docent.modeling.loading import MANIFEST, load_base_model, load_tokenizer, resolve_model_source
    from docent.training.callbacks import DvcLiveLogger, GracefulInterrupt, TrainingInterrupted, truncate_live_history
    from docent.training.data import passage_rows, read_qa, tokenize_rows
    from docent.training.trainer import BLEU_SAMPLE, PackedTrainer, training_arguments

    assert params.train and params.model and params.lora and params.freeze and params.quant and params.seed is not None
    train, seed = params.train, params.seed
    started = time.perf_counter()
    # the process group (gloo on a CPU, nccl on GPUs) when launched with several processes; the
    # Trainer's own TrainingArguments later joins this same state
    processes = PartialState(cpu=not torch.cuda.is_available())
    main = processes.is_main_process
    # processes on one machine share its cores: 2 workers on 2 cores get 1 thread each
    # (torchrun sets LOCAL_WORLD_SIZE: the processes on this machine)
    threads = train.threads or max(1, physical_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    torch.set_num_threads(threads)
    set_seed(seed)

    # ---- data
    train_rows = read_qa(train_path)
    val_rows = read_qa(val_path, allow_empty=True)
    context_counts: dict[str, int] = {}
    if train.context == "retrieved":
        train_rows, val_rows, context_counts = _with_contexts(params, index_dir, train_rows, val_rows)
    with processes.main_process_first():  # the first use converts the embedded GGUF: once, not per process
        source = resolve_model_source(params.model, model_cache)
        tokenizer = load_tokenizer(source, params.model.trust_remote_code)
    train_ds, skipped = tokenize_rows(tokenizer, train_rows, train.max_seq_len)
    n_qa = len(train_ds)
    inputs = [train_path, val_path]
    if train.context == "retrieved" and index_dir is not None:
        inputs.append(index_dir / "manifest.json")  # it holds the passages' hash
    n_passages = passages_skipped = 0
    if train.mix_passages:
        from datasets import concatenate_datasets

        doc_ids = {str(r["doc_id"]) for r in train_rows if "doc_id" in r}
        passages = passage_rows(sentences_path, doc_ids, tokenizer, train.max_seq_len)
        passage_ds, passages_skipped = tokenize_rows(tokenizer, passages, train.max_seq_len) if passages else (None, 0)
        if passage_ds is not None:
            n_passages = len(passage_ds)
            train_ds = concatenate_datasets([train_ds, passage_ds])
        inputs.append(sentences_path)
    if len(train_ds) == 0:
        raise UserError(f"{train_path}: no example fits in train.max_seq_len = {train.max_seq_len} tokens "
                        f"({skipped} too long); raise train.max_seq_len")
    if skipped:
        log.warning("%d of %d training examples are longer than train.max_seq_len = %d tokens: skipped (counted)",
                    skipped, len(train_rows), train.max_seq_len)
    val_ds, val_skipped = tokenize_rows(tokenizer, val_rows, train.max_seq_len) if val_rows else (None, 0)
    has_eval = val_ds is not None and len(val_ds) > 0
    if not has_eval:
        log.warning("%s: no validation examples; no eval loss, no early stopping, last step kept", val_path)

    # ---- model
    method = train.method
    quant = params.quant if method == "qlora" else None
    with processes.main_process_first():
        model = load_base_model(params.model, model_cache, quant=quant)
    trained, blocks = prepare_trainable_model(model, method, params.lora, params.freeze, train.gradient_checkpointing)
    trainable_params, total_params = count_parameters(trained)
    log.info("%s: %s trainable of %s parameters", method, f"{trainable_params:,}", f"{total_params:,}")

    # ---- resume or start fresh
    used = {k: v for k, v in params.to_dict().items() if k in ("seed", "model", "quant", "lora", "freeze", "train")}
    if train.context == "retrieved":
        assert params.retrieval and params.assistant
        used["retrieval"] = {k: getattr(params.retrieval, k) for k in CONTEXT_KEYS}
        used["assistant"] = {"abstain": params.assistant.abstain}
    if method != "qlora":
        used.pop("quant", None)
    fingerprint = run_fingerprint(used, inputs, source)
    decision: list[str | None] = [None]
    if main:  # one process clears or keeps the checkpoints; the others follow its decision
        decision[0] = checkpoint_to_resume(checkpoints, fingerprint)
        write_json(checkpoints / RUN_STATE, {"fingerprint": fingerprint, "status": "running"})
    if processes.num_processes > 1:
        broadcast_object_list(decision)
    resume = decision[0]
    resumed_from = _step_of(resume) if resume else 0
    live = None
    if main:
        if resume:
            truncate_live_history(live_dir, resumed_from)
        live = Live(dir=str(live_dir), resume=resume is not None, dvcyaml=False, save_dvc_exp=False)

    interrupt = GracefulInterrupt()
    callbacks: list[Any] = [interrupt, *extra_callbacks]
    if live is not None:
        callbacks.insert(0, DvcLiveLogger(live, log_base_eval=resume is None))
    bleu_pairs: list[tuple[str, str]] = []
    if train.eval_bleu and has_eval:
        bleu_pairs = [(r["question"], r["answer"]) for r in val_rows[:BLEU_SAMPLE]]
    trainer = PackedTrainer(
        model=trained,
        args=training_arguments(train, seed, str(checkpoints), has_eval),
        train_dataset=train_ds,
        eval_dataset=val_ds if has_eval else None,
        data_collator=_collator(),
        processing_class=tokenizer,
        callbacks=callbacks,
        bleu_questions=bleu_pairs,
    )
    base_metrics = trainer.evaluate(metric_key_prefix="base_eval") if has_eval else {}
    if has_eval and train.early_stopping_patience > 0:  # added after the base eval, which it must not see
        trainer.add_callback(EarlyStoppingCallback(early_stopping_patience=train.early_stopping_patience))
    train_started = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=resume)
    except KeyboardInterrupt:
        raise TrainingInterrupted(trainer.state.global_step, str(checkpoints)) from None
    train_runtime = time.perf_counter() - train_started
    if interrupt.requested:
        raise TrainingInterrupted(trainer.state.global_step, str(checkpoints))
    # tokens trained on by all processes together (each counted its own shard)
    train_tokens = int(trainer.accelerator.reduce(torch.tensor(trainer.train_tokens, device=processes.device),
                                                  reduction="sum").item())
    if not main:
        processes.wait_for_everyone()  # until the main process has written the outputs
        return None

    state = trainer.state
    eval_loss = state.best_metric if has_eval else None
    stopped_early = bool(has_eval and train.early_stopping_patience > 0 and state.global_step < state.max_steps)
    if stopped_early:
        log.info("early stopping at step %d of %d: eval loss has not improved for %d evals (best %.4f)",
                 state.global_step, state.max_steps, train.early_stopping_patience, eval_loss)

    # ---- outputs
    if hasattr(trained, "config"):
        trained.config.use_cache = True
    manifest = {
        "method": method,
        "base_model": params.model.name,
        "params": used,
        "versions": package_versions(),
        "train_examples": n_qa,
        "passage_examples": n_passages,
        "skipped_too_long": skipped,
        "frozen_blocks": list(blocks.frozen),
        "decoder_blocks": blocks.count,
        "steps": state.global_step,
        "best_checkpoint_step": _step_of(state.best_model_checkpoint) if state.best_model_checkpoint else None,
        "merged": bool(train.merge and method != "full"),
        # the prompt format answers must use: passages in the question turn, and how many
        "context": train.context,
        "retrieval_k": params.retrieval.k if params.retrieval and train.context == "retrieved" else 0,
        "abstain": params.assistant.abstain if params.assistant and train.context == "retrieved" else "",
    }
    with atomic_dir(out_dir) as tmp:
        trained.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        write_json(tmp / MANIFEST, manifest)
        if train.merge and method != "full":
            merged = merge_adapter(tmp, method, params.model, model_cache, params.quant)
            merged.config.use_cache = True
            merged.save_pretrained(str(tmp / "merged"), safe_serialization=True)
            tokenizer.save_pretrained(str(tmp / "merged"))
    write_json(checkpoints / RUN_STATE, {"fingerprint": fingerprint, "status": "done"})

    last_train_loss = next((h["loss"] for h in reversed(state.log_history) if "loss" in h), float("nan"))
    metrics: dict[str, Any] = {
        "method": method,
        "train_loss": round(float(result.training_loss), 5),
        "final_train_loss": round(float(last_train_loss), 5),
        "steps": state.global_step,
        "max_steps": state.max_steps,
        "epochs": round(float(state.epoch or 0.0), 3),
        "resumed_from_step": resumed_from,
        "stopped_early": stopped_early,
        "train_examples": n_qa,
        "passage_examples": n_passages,
        "val_examples": len(val_ds) if has_eval else 0,
        "skipped_too_long": skipped + passages_skipped,
        **{f"context_{k}": v for k, v in sorted(context_counts.items())},
        "val_skipped_too_long": val_skipped,
        "trainable_params": trainable_params,
        "total_params": total_params,
        "frozen_blocks": len(blocks.frozen),
        "processes": processes.num_processes,
        "train_tokens": train_tokens,
        "tokens_per_s": round(train_tokens / max(trainer.train_compute_s, 1e-9), 1),
        "train_runtime_s": round(train_runtime, 1),
        "runtime_s": round(time.perf_counter() - started, 1),
        "peak_mem_mb": round(peak_rss_mb(), 1),
        "threads": threads,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }
    if has_eval:
        metrics["eval_loss"] = round(float(eval_loss), 5)
        metrics["base_eval_loss"] = round(float(base_metrics["base_eval_loss"]), 5)
        metrics["eval_perplexity"] = round(math.exp(min(float(eval_loss), 50.0)), 4)
        metrics["base_eval_perplexity"] = round(math.exp(min(float(base_metrics["base_eval_loss"]), 50.0)), 4)
        if bleu_pairs:
            metrics["base_eval_bleu"] = round(float(base_metrics.get("base_eval_bleu", 0.0)), 4)
            bleus = [h["eval_bleu"] for h in state.log_history if "eval_bleu" in h]
            metrics["eval_bleu"] = round(float(bleus[-1]), 4) if bleus else 0.0
    if torch.cuda.is_available():
        metrics["peak_gpu_mem_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    assert live is not None
    live.end()
    processes.wait_for_everyone()
    return metrics


# The retrieval params a context-trained run depends on (the index's own are in its manifest).
CONTEXT_KEYS = ("passage_words", "k", "p_gold", "abstain_share")


def _with_contexts(params: Params, index_dir: Path | None, train_rows: list[dict[str, Any]],
                   val_rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """train.context = retrieved: RAFT contexts for train and val (val: the same mix, so eval loss
    measures the task the model is trained for)."""
    from docent.retrieval.build import index_manifest
    from docent.retrieval.index import load_index
    from docent.training.contexts import with_contexts

    assert params.retrieval and params.assistant and params.seed is not None
    if index_dir is None:
        raise UserError("train.context = 'retrieved' needs the index (--index models/index); "
                        "or set train.context: none")
    index = load_index(index_dir, expect={"passage_words": params.retrieval.passage_words,
                                          "versions": index_manifest(params.retrieval)["versions"]})
    abstain = params.assistant.abstain
    train_rows, counts = with_contexts(train_rows, index, params.retrieval, abstain, params.seed)
    val_rows, val_counts = with_contexts(val_rows, index, params.retrieval, abstain, params.seed)
    counts.update({f"val_{k}": v for k, v in val_counts.items()})
    if params.retrieval.k > len(index.passages):
        counts["k_clamped_to_passages"] = len(index.passages)
    log.info("contexts: %s", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return train_rows, val_rows, dict(counts)


def leave_process_group() -> None:
    """Tear down the process group of a multi-process launch (no-op otherwise).

    Without this a worker can abort while exiting ("terminate called without an active
    exception"): gloo's threads outlive the interpreter's shutdown.
    """
    import sys

    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _collator() -> Any:
    from docent.training.data import PackedCollator

    return PackedCollator()
