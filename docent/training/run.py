"""One fine-tuning run, top to bottom: examples -> trainable model -> Trainer (resumable) -> outputs.

The pieces it composes: docent.runtime (process group, threads), docent.training.examples (rows,
RAFT contexts, tokenizing), docent.modeling (base model, LoRA / QLoRA / full), docent.training.resume
(fingerprint, checkpoint to continue from), docent.training.outputs (model folder, manifest, metrics).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docent.config import Params

log = logging.getLogger(__name__)

# the params sections a run reads (its fingerprint and manifest record them)
RUN_SECTIONS = ("seed", "model", "quant", "lora", "freeze", "train")
# The retrieval params a context-trained run depends on (the index's own are in its manifest).
CONTEXT_KEYS = ("passage_words", "k", "p_gold", "abstain_share", "distractor_pool", "absent_document_share",
                "gold_position")


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
    writes outputs; the others get None back. `extra_callbacks`: more TrainerCallbacks (tools
    and tests hook in here).
    """
    import torch
    from transformers import EarlyStoppingCallback, set_seed

    from docent.modeling.adapters import count_parameters, prepare_trainable_model
    from docent.modeling.loading import load_base_model, load_tokenizer, resolve_model_source
    from docent.runtime import join_processes
    from docent.training.callbacks import DvcLiveLogger, GracefulInterrupt, TrainingInterrupted
    from docent.training.examples import run_examples
    from docent.training.outputs import run_manifest, run_metrics, save_model
    from docent.training.resume import agree_on_resume, mark_run_done, run_fingerprint, step_of

    assert params.train and params.model and params.lora and params.freeze and params.quant and params.seed is not None
    train, seed = params.train, params.seed
    started = time.perf_counter()
    processes, threads = join_processes(train.threads)
    set_seed(seed)

    with processes.main_process_first():  # the first use converts the embedded GGUF: once, not per process
        source = resolve_model_source(params.model, model_cache)
        tokenizer = load_tokenizer(source, params.model.trust_remote_code)
    examples = run_examples(params, tokenizer, train_path, val_path, sentences_path, index_dir)
    with processes.main_process_first():
        model = load_base_model(params.model, model_cache, quant=params.quant if train.method == "qlora" else None)
    trained, blocks = prepare_trainable_model(model, train.method, params.lora, params.freeze,
                                              train.gradient_checkpointing)
    trainable_params, total_params = count_parameters(trained)
    log.info("%s: %s trainable of %s parameters", train.method, f"{trainable_params:,}", f"{total_params:,}")

    used = run_params(params)
    fingerprint = run_fingerprint(used, examples.inputs, source)
    resume = agree_on_resume(processes, checkpoints, fingerprint)
    live = _open_live(live_dir, resume) if processes.is_main_process else None
    interrupt = GracefulInterrupt()
    has_eval = examples.val is not None
    trainer = _trainer(params, trained, tokenizer, examples, checkpoints,
                       [*([DvcLiveLogger(live, log_base_eval=resume is None)] if live else []), interrupt,
                        *extra_callbacks], processes.num_processes)
    base_metrics = trainer.evaluate(metric_key_prefix="base_eval") if has_eval else {}
    if has_eval and train.early_stopping_patience > 0:  # added after the base eval, which it must not see
        trainer.add_callback(EarlyStoppingCallback(early_stopping_patience=train.early_stopping_patience))
    train_started = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=resume)
    except KeyboardInterrupt:
        raise TrainingInterrupted(trainer.state.global_step, str(checkpoints)) from None
    train_s = time.perf_counter() - train_started
    if interrupt.requested:
        raise TrainingInterrupted(trainer.state.global_step, str(checkpoints))
    # tokens trained on by all processes together (each counted its own shard)
    train_tokens = int(trainer.accelerator.reduce(torch.tensor(trainer.train_tokens, device=processes.device),
                                                  reduction="sum").item())
    if not processes.is_main_process:
        processes.wait_for_everyone()  # until the main process has written the outputs
        return None

    state = trainer.state
    stopped_early = bool(has_eval and train.early_stopping_patience > 0 and state.global_step < state.max_steps)
    if stopped_early:
        log.info("early stopping at step %d of %d: eval loss has not improved for %d evals (best %.4f)",
                 state.global_step, state.max_steps, train.early_stopping_patience, state.best_metric)
    save_model(out_dir, trained, tokenizer, run_manifest(params, used, examples, blocks, state), params, model_cache)
    mark_run_done(checkpoints, fingerprint)
    metrics = run_metrics(params, examples, trainer, result, base_metrics,
                          timing={"train_s": train_s, "total_s": time.perf_counter() - started},
                          counts={"resumed_from_step": step_of(resume) if resume else 0,
                                  "stopped_early": stopped_early, "trainable_params": trainable_params,
                                  "total_params": total_params, "frozen_blocks": len(blocks.frozen),
                                  "processes": processes.num_processes, "train_tokens": train_tokens,
                                  "threads": threads})
    assert live is not None
    live.end()
    processes.wait_for_everyone()
    return metrics


def run_params(params: Params) -> dict[str, Any]:
    """What shapes the run: its params sections (quant only for qlora) and, with contexts, the
    retrieval keys and the abstention (recorded in the fingerprint and the manifest)."""
    assert params.train
    used = {k: v for k, v in params.to_dict().items() if k in RUN_SECTIONS}
    if params.train.method != "qlora":
        used.pop("quant", None)
    if params.train.context == "retrieved":
        assert params.retrieval and params.assistant
        used["retrieval"] = {k: getattr(params.retrieval, k) for k in CONTEXT_KEYS}
        used["assistant"] = {"abstain": params.assistant.abstain}
    return used


def _open_live(live_dir: Path, resume: str | None) -> Any:
    """dvclive for the loss curves; on resume its history is cut back to the checkpoint's step."""
    from dvclive import Live

    from docent.training.callbacks import truncate_live_history
    from docent.training.resume import step_of

    if resume:
        truncate_live_history(live_dir, step_of(resume))
    return Live(dir=str(live_dir), resume=resume is not None, dvcyaml=False, save_dvc_exp=False)


def _trainer(params: Params, trained: Any, tokenizer: Any, examples: Any, checkpoints: Path,
             callbacks: list[Any], processes: int = 1) -> Any:
    """The Trainer over packed rows.

    Effective batch = train.batch_size x train.grad_accum x processes packed rows per
    optimizer step, and steps per epoch = ceil(packed rows / effective batch): the default
    4 x 2 x 1 = 8 rows per step.
    """
    from docent.training.data import PackedCollator
    from docent.training.trainer import PackedTrainer, resolve_max_steps, training_arguments

    assert params.train and params.seed is not None
    train, has_eval = params.train, examples.val is not None
    bleu_pairs = ([(r["question"], r["answer"]) for r in examples.val_rows[:train.eval_bleu_questions]]
                  if train.eval_bleu and has_eval else [])
    max_steps = resolve_max_steps(train, len(examples.train), processes)
    if max_steps != train.max_steps:
        log.info("%d examples give fewer than train.min_steps = %d steps in %g epochs: training %d steps",
                 len(examples.train), train.min_steps, train.epochs, max_steps)
    return PackedTrainer(
        model=trained, args=training_arguments(train, params.seed, str(checkpoints), has_eval, max_steps),
        train_dataset=examples.train, eval_dataset=examples.val, data_collator=PackedCollator(),
        processing_class=tokenizer, callbacks=callbacks,
        bleu_questions=bleu_pairs, bleu_max_new_tokens=train.eval_bleu_max_new_tokens,
    )
