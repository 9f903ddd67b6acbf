"""Training throughput: the finetune stage's path vs a plain Trainer baseline, same model, data, LoRA.

    .venv/bin/python benchmarks/train_throughput.py [--train data/split/train.jsonl] [--examples 32]
        [--context retrieved --index models/index]

Ours: params.yaml as is (packed rows without padding, attention per example, lm head only at
answer positions and fused with the loss, no backward through frozen blocks, batch train.batch_size).
Baseline: transformers Trainer, every example padded to 384 tokens, loss over every position,
batch 1 with gradient accumulation 4, no frozen blocks, same LoRA config.
Both see the same examples once; tokens/s counts real (non-pad) tokens per second of training.
--context retrieved: the examples carry their RAFT contexts (retrieval.k passages from the index,
as finetune builds them with train.context = retrieved); the baseline then pads to the longest
example rounded up to a multiple of 128 (384 cannot hold them), still with loss everywhere.
Not a test: numbers depend on the machine (and on what else runs on it).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINE_LEN = 384


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--train", default=str(ROOT / "data/split/train.jsonl"))
    parser.add_argument("--model-cache", default=str(ROOT / "models/cache"))
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--context", choices=("none", "retrieved"), default="none")
    parser.add_argument("--index", default=str(ROOT / "models/index"))
    args = parser.parse_args()

    import tempfile

    import torch
    from transformers import Trainer, TrainingArguments, set_seed

    from docent.config import load_params
    from docent.modeling.adapters import prepare_trainable_model
    from docent.modeling.loading import load_base_model, load_tokenizer, resolve_model_source
    from docent.modeling.prompt import answer_suffix, prompt_text
    from docent.runtime import physical_cores
    from docent.training.data import PackedCollator, read_qa, tokenize_rows
    from docent.training.trainer import PackedTrainer

    params = load_params(args.params, "seed", "model", "quant", "lora", "freeze", "train", "retrieval", "assistant")
    threads = params.train.threads or physical_cores()
    torch.set_num_threads(threads)
    rows = read_qa(args.train)[: args.examples]
    baseline_len = BASELINE_LEN
    if args.context == "retrieved":
        from docent.retrieval.index import load_index
        from docent.training.contexts import with_contexts

        rows, _ = with_contexts(rows, load_index(args.index), params.retrieval, params.assistant.abstain,
                                params.seed)
    source = resolve_model_source(params.model, args.model_cache)
    tok = load_tokenizer(source)
    print(f"model {params.model.name}, {len(rows)} examples from {args.train}, {threads} threads", flush=True)

    def fresh_model(freeze):
        set_seed(params.seed)
        model = load_base_model(params.model, args.model_cache)
        trained, _ = prepare_trainable_model(model, "lora", params.lora, freeze, False)
        return trained

    def targs(out: str, batch: int, accum: int, steps: int) -> TrainingArguments:
        return TrainingArguments(output_dir=out, per_device_train_batch_size=batch, gradient_accumulation_steps=accum,
                                 max_steps=steps, learning_rate=params.train.learning_rate, logging_steps=1,
                                 save_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True,
                                 remove_unused_columns=False, seed=params.seed, dataloader_num_workers=0)

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        # ---- ours
        ds, _ = tokenize_rows(tok, rows, params.train.max_seq_len)
        real_tokens = sum(ds["length"])
        batch = params.train.batch_size
        trainer = PackedTrainer(model=fresh_model(params.freeze), args=targs(tmp, batch, 1, math.ceil(len(ds) / batch)),
                                train_dataset=ds, data_collator=PackedCollator())
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
        results["ours"] = (real_tokens, wall)
        print(f"ours: {real_tokens} real tokens in {wall:.1f} s", flush=True)

        # ---- baseline
        texts = [prompt_text(tok, r["question"]) + r["answer"].strip() + answer_suffix(tok) for r in rows]
        if args.context == "retrieved":
            longest = max(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
            baseline_len = 128 * math.ceil(longest / 128)
        enc = [tok(t, add_special_tokens=False, truncation=True, max_length=baseline_len) for t in texts]
        real_base = sum(len(e["input_ids"]) for e in enc)

        def pad_collate(features):
            padded = tok.pad(features, padding="max_length", max_length=baseline_len, return_tensors="pt")
            labels = padded["input_ids"].clone()
            labels[padded["attention_mask"] == 0] = -100
            return {**padded, "labels": labels}

        base_trainer = Trainer(model=fresh_model(type(params.freeze)(layers=0, fraction=0.0)),
                               args=targs(tmp, 1, 4, math.ceil(len(enc) / 4)),
                               train_dataset=[{"input_ids": e["input_ids"], "attention_mask": e["attention_mask"]}
                                              for e in enc],
                               data_collator=pad_collate)
        start = time.perf_counter()
        base_trainer.train()
        wall = time.perf_counter() - start
        results["baseline"] = (real_base, wall)
        print(f"baseline: {real_base} real tokens ({len(enc) * baseline_len} with padding) in {wall:.1f} s",
              flush=True)

    ours = results["ours"][0] / results["ours"][1]
    base = results["baseline"][0] / results["baseline"][1]
    print(f"ours      {ours:8.1f} real tokens/s  (packed, per-example attention, fused answer-only head, "
          f"batch {batch}, freeze.layers={params.freeze.layers!r})")
    print(f"baseline  {base:8.1f} real tokens/s  (padded to {baseline_len}, all positions, batch 1 x accum 4)")
    print(f"speed-up  {ours / base:8.2f}x")


if __name__ == "__main__":
    main()
