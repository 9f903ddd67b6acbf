"""Stage `finetune`: QA pairs -> a LoRA / QLoRA adapter (or full weights) that knows the facts.

    python -m stages.finetune --params params.yaml --train data/split/train.jsonl \
        --val data/split/val.jsonl --sentences data/clean/sentences.jsonl --index models/index \
        --model-cache models/cache \
        --checkpoints models/checkpoints --out models/finetuned --live-dir metrics/train \
        --metrics metrics/train.json

On several processes (GPUs, or CPU workers for a test), through accelerate; `train.*` is
unchanged, each process trains on its own shard and only the main one writes outputs:

    accelerate launch --config_file configs/accelerate/ddp.yaml -m stages.finetune <the options above>

Interrupted (Ctrl-C, SIGTERM, killed)? Re-run `dvc repro finetune`: it continues from the last
checkpoint in --checkpoints when params and data are unchanged.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from docent.cli import log_params, metrics_option, model_cache_option, params_option, stage_main
from docent.config import load_params
from docent.io import write_metrics

log = logging.getLogger("docent")

SECTIONS = ("seed", "model", "quant", "lora", "freeze", "train", "retrieval", "assistant")


@click.command()
@params_option
@click.option("--train", "train_path", required=True, type=click.Path(dir_okay=False), help="training QA JSONL")
@click.option("--val", "val_path", required=True, type=click.Path(dir_okay=False), help="validation QA JSONL")
@click.option("--sentences", required=True, type=click.Path(dir_okay=False),
              help="clean sentences JSONL (passages, train.mix_passages only)")
@click.option("--index", "index_dir", required=True, type=click.Path(file_okay=False),
              help="retrieval index folder (train.context = retrieved)")
@model_cache_option
@click.option("--checkpoints", required=True, type=click.Path(file_okay=False), help="checkpoints, for resume")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="fine-tuned model folder to write")
@click.option("--live-dir", required=True, type=click.Path(file_okay=False), help="dvclive folder (loss curves)")
@metrics_option
@stage_main
def main(params_path: str, train_path: str, val_path: str, sentences: str, index_dir: str, model_cache: str,
         checkpoints: str, out: str, live_dir: str, metrics: str, machine_metrics: str) -> None:
    params = load_params(params_path, *SECTIONS)
    log_params("finetune", params.to_dict())

    from docent.runtime import leave_process_group
    from docent.training.callbacks import TrainingInterrupted
    from docent.training.run import run_finetune

    try:
        train_metrics = run_finetune(
            params, train_path=Path(train_path), val_path=Path(val_path), sentences_path=Path(sentences),
            model_cache=Path(model_cache), checkpoints=Path(checkpoints), out_dir=Path(out),
            live_dir=Path(live_dir), index_dir=Path(index_dir),
        )
    except TrainingInterrupted as stop:
        log.warning("interrupted at step %d; checkpoint saved in %s. Re-run `dvc repro finetune` "
                    "(or this command) to resume from it.", stop.step, stop.checkpoint_dir)
        sys.exit(130)
    except KeyboardInterrupt:
        log.warning("interrupted; re-run `dvc repro finetune` to resume from the last checkpoint in %s",
                    checkpoints)
        sys.exit(130)
    finally:
        leave_process_group()
    if train_metrics is None:  # not the main process of a multi-process launch: it wrote nothing
        return
    write_metrics(metrics, train_metrics, machine_metrics)
    log.info("finetune: %s", ", ".join(f"{k}={v}" for k, v in train_metrics.items()))


if __name__ == "__main__":
    main()
