"""Stage `export`: the fine-tuned model as one GGUF file + an Ollama Modelfile + README, verified.

    python -m stages.export --params params.yaml --finetuned models/finetuned \
        --split-dir data/split --index models/index --model-cache models/cache \
        --out models/export --metrics metrics/export.json --machine-metrics metrics/machine/export.json

The adapter is merged into the base (QLoRA: the dequantised base), written with the `gguf`
package (no llama.cpp build), read back with transformers' GGUF loader and compared with the
merged model on the test prompts; the stage fails (exit 2) when it does not match, and then
leaves the previous export in place. See docent/export/.
"""

from __future__ import annotations

from pathlib import Path

import click

from docent.cli import log_params, metrics_option, model_cache_option, params_option, stage_main
from docent.config import load_params
from docent.io import write_metrics

SECTIONS = ("seed", "model", "quant", "eval", "retrieval", "assistant", "export")


@click.command()
@params_option
@click.option("--finetuned", required=True, type=click.Path(file_okay=False),
              help="fine-tuned model folder written by finetune (adapter or full weights + docent.json)")
@click.option("--split-dir", required=True, type=click.Path(file_okay=False),
              help="folder with test/test_unseen/test_absent .jsonl (verification prompts, tokenizer round trip)")
@click.option("--index", "index_dir", required=True, type=click.Path(file_okay=False),
              help="retrieval index folder (the prompts of a model trained with retrieved passages)")
@model_cache_option
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="export folder to write (model.gguf, Modelfile, README.md; replaced as a whole)")
@metrics_option
@stage_main
def main(params_path: str, finetuned: str, split_dir: str, index_dir: str, model_cache: str, out: str,
         metrics: str, machine_metrics: str) -> None:
    params = load_params(params_path, *SECTIONS)
    log_params("export", params.to_dict())

    from docent.export.run import run_export

    export_metrics = run_export(params, finetuned_dir=Path(finetuned), split_dir=Path(split_dir),
                                index_dir=Path(index_dir), model_cache=Path(model_cache), out_dir=Path(out))
    write_metrics(metrics, export_metrics, machine_metrics)


if __name__ == "__main__":
    main()
