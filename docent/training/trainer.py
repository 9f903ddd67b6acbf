"""The transformers Trainer, taught packed rows and answer-only loss.

compute_loss: the model's lm head runs only at positions whose next token is an answer token
(`logits_to_keep` = those indices): with a 49k-token vocabulary the head is the costliest
layer per position, and prompt positions need no logits. Where the architecture allows, the
head and the cross-entropy run as one chunked step (docent.training.head_loss). The shifted
cross-entropy is summed and divided by the answer-token count of the whole accumulated batch
(`num_items_in_batch`), so gradient accumulation gives the same gradient as one big batch.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from transformers import Trainer, TrainingArguments

from docent.config import TrainParams
from docent.modeling.prompt import IGNORE_INDEX

log = logging.getLogger(__name__)

CUDA_ONLY_OPTIMIZERS = ("adamw_8bit", "paged_adamw_32bit", "paged_adamw_8bit")


def packed_loss(model: torch.nn.Module, inputs: dict[str, torch.Tensor],
                num_items: torch.Tensor | int | None) -> tuple[torch.Tensor, Any]:
    """Sum of next-token CE over answer positions / num_items (the batch's answer-token count)."""
    from transformers.modeling_outputs import CausalLMOutputWithPast

    from docent.training.head_loss import fusable_head, head_bypassed, head_cross_entropy_sum

    shift = inputs["shift_labels"][0]
    keep = (shift != IGNORE_INDEX).nonzero().squeeze(-1)
    bounds = inputs["cu_seq_lens"]
    longest = int((bounds[1:] - bounds[:-1]).max())
    # the examples' boundaries reach the attention function (per-example attention, see
    # docent.modeling.packed_attention) under transformers' varlen kwarg names
    model_inputs = {"input_ids": inputs["input_ids"], "position_ids": inputs["position_ids"],
                    "cu_seq_lens_q": bounds, "cu_seq_lens_k": bounds, "max_length_q": longest,
                    "max_length_k": longest, "logits_to_keep": keep, "use_cache": False}
    denom = num_items if num_items is not None else keep.numel()
    head = fusable_head(model)
    if head is None:
        outputs = model(**model_inputs)
        logits = outputs.logits[0].float()  # [len(keep), vocab]
        loss_sum = torch.nn.functional.cross_entropy(logits, shift[keep], reduction="sum")
        return loss_sum / denom, outputs
    with head_bypassed(model, head):
        hidden = model(**model_inputs).logits[0]  # [len(keep), hidden]: the head is bypassed
    loss = head_cross_entropy_sum(hidden, head.weight, shift[keep]) / denom
    return loss, CausalLMOutputWithPast(loss=loss)


class PackedTrainer(Trainer):
    """Trainer over PackedCollator rows; counts real tokens and the time spent training on them."""

    def __init__(self, *args: Any, bleu_questions: Sequence[tuple[str, str]] = (), bleu_max_new_tokens: int = 64,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from docent.modeling.packed_attention import use_segment_attention

        assert self.model is not None
        use_segment_attention(self.model)
        # our loss is normalized by num_items_in_batch, so make the Trainer count it and not
        # divide by the accumulation steps again
        self.model_accepts_loss_kwargs = True
        self.loss_is_scaled_for_ga = True
        self.bleu_questions = list(bleu_questions)
        self.bleu_max_new_tokens = bleu_max_new_tokens
        self.train_tokens = 0         # real (non-pad; there is no pad) tokens through forward+backward
        self.train_compute_s = 0.0    # time in forward+backward+optimizer, without eval/save

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, torch.Tensor], return_outputs: bool = False,
                     num_items_in_batch: torch.Tensor | int | None = None) -> Any:
        loss, outputs = packed_loss(model, inputs, num_items_in_batch)
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model: torch.nn.Module, inputs: dict[str, Any],
                      num_items_in_batch: torch.Tensor | int | None = None) -> torch.Tensor:
        start = time.perf_counter()
        self.train_tokens += int(inputs["input_ids"].numel())
        loss = super().training_step(model, inputs, num_items_in_batch)
        self.train_compute_s += time.perf_counter() - start
        return loss

    def evaluate(self, eval_dataset: Any = None, ignore_keys: list[str] | None = None,
                 metric_key_prefix: str = "eval") -> dict[str, float]:
        metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        if self.bleu_questions:
            assert self.model is not None
            bleu = generation_bleu(self.model, self.processing_class, self.bleu_questions, self.bleu_max_new_tokens)
            metrics[f"{metric_key_prefix}_bleu"] = bleu
            self.log({f"{metric_key_prefix}_bleu": bleu})
        return metrics


def generation_bleu(model: torch.nn.Module, tokenizer: Any, pairs: Sequence[tuple[str, str]],
                    max_new_tokens: int) -> float:
    """Corpus BLEU (0-1) of greedy answers against the reference answers.

    The evaluate stage's batched generation (docent.modeling.generation) and sacrebleu's corpus
    BLEU with its defaults, as evaluate's `corpus_bleu`, so the number logged during training is
    computed the way evaluate computes it.
    """
    import sacrebleu

    from docent.modeling.generation import generate_answers
    from docent.modeling.prompt import prompt_text, stop_token_ids

    was_training = model.training
    model.eval()  # no dropout while answering
    try:
        answers = generate_answers(model, tokenizer, [prompt_text(tokenizer, q) for q, _ in pairs],
                                   max_new_tokens=max_new_tokens, batch_size=len(pairs),
                                   stop_ids=stop_token_ids(tokenizer))
    finally:
        if was_training:
            model.train()
    return float(sacrebleu.corpus_bleu([a.text for a in answers], [[a for _, a in pairs]]).score) / 100.0


def resolve_optimizer(name: str) -> str:
    """bitsandbytes' 8-bit / paged optimizers need CUDA; on a CPU use adamw_torch (one warning)."""
    if name in CUDA_ONLY_OPTIMIZERS and not torch.cuda.is_available():
        log.warning("train.optimizer = %s needs a CUDA GPU; using adamw_torch on this CPU", name)
        return "adamw_torch"
    return name


def resolve_max_steps(train: TrainParams, examples: int, processes: int) -> int:
    """The Trainer's max_steps: train.max_steps when set; else -1 (train.epochs), unless those
    epochs come to fewer than train.min_steps optimizer steps, which a small corpus then repeats
    epochs to reach. Steps per epoch = ceil(examples / (batch_size x grad_accum x processes)), and
    the Trainer rounds epochs x steps per epoch up the same way."""
    if train.max_steps > 0:
        return train.max_steps
    per_epoch = math.ceil(examples / (train.batch_size * train.grad_accum * processes))
    if math.ceil(per_epoch * train.epochs) < train.min_steps:
        return train.min_steps
    return -1


def training_arguments(train: TrainParams, seed: int, checkpoints_dir: str, has_eval: bool,
                       max_steps: int | None = None) -> TrainingArguments:
    """TrainingArguments from params.yaml's train section (nothing else sets a hyperparameter);
    max_steps: resolve_max_steps' answer (None: train.max_steps as it stands)."""
    scheduler = {"linear": "linear", "cosine": "cosine",
                 "constant": "constant_with_warmup" if train.warmup_ratio > 0 else "constant"}[train.scheduler]
    eval_kwargs: dict[str, Any] = {"eval_strategy": "no"}
    if has_eval:
        eval_kwargs = {
            "eval_strategy": "steps",
            "eval_steps": train.eval_steps,
            "per_device_eval_batch_size": train.batch_size,
            "load_best_model_at_end": True,
            "metric_for_best_model": "eval_loss",
            "greater_is_better": False,
        }
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    return TrainingArguments(
        output_dir=checkpoints_dir,
        optim=resolve_optimizer(train.optimizer),
        learning_rate=train.learning_rate,
        weight_decay=train.weight_decay,
        lr_scheduler_type=scheduler,
        warmup_steps=train.warmup_ratio,   # a float < 1 is a fraction of the total steps
        num_train_epochs=train.epochs,
        max_steps=train.max_steps if max_steps is None else max_steps,
        per_device_train_batch_size=train.batch_size,
        gradient_accumulation_steps=train.grad_accum,
        max_grad_norm=train.max_grad_norm,
        seed=seed,
        data_seed=seed,
        logging_strategy="steps",
        logging_steps=1,
        save_strategy="steps",
        save_steps=train.save_steps,
        save_total_limit=train.save_total_limit,
        restore_callback_states_from_checkpoint=True,  # early-stopping patience survives a resume
        prediction_loss_only=True,
        remove_unused_columns=False,
        label_names=["labels"],
        report_to="none",
        disable_tqdm=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda,
        bf16=bf16,  # autocast on GPUs with bf16; CPU trains in float32
        use_cpu=not cuda,
        **eval_kwargs,
    )
