"""Stage `generate_qa`: data/clean/sentences.jsonl + code.jsonl -> data/qa/qa.jsonl + data/qa/unrelated.jsonl.

    python -m stages.generate_qa --params params.yaml --sentences data/clean/sentences.jsonl \
        --code data/clean/code.jsonl --model-cache models/cache --out data/qa/qa.jsonl \
        --unrelated-out data/qa/unrelated.jsonl --metrics metrics/qa.json
"""

from __future__ import annotations

import click

from docent.cli import log_params, metrics_option, model_cache_option, params_option, stage_main
from docent.config import load_params
from docent.io import write_jsonl, write_metrics


@click.command()
@params_option
@click.option("--sentences", required=True, type=click.Path(dir_okay=False), help="sentences JSONL from clean")
@click.option("--code", required=True, type=click.Path(dir_okay=False),
              help="code blocks JSONL from clean (their \"how do I\" questions)")
@model_cache_option
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="QA pairs JSONL to write")
@click.option("--unrelated-out", required=True, type=click.Path(dir_okay=False), help="unrelated questions JSONL")
@metrics_option
@stage_main
def main(params_path: str, sentences: str, code: str, model_cache: str, out: str, unrelated_out: str, metrics: str,
         machine_metrics: str) -> None:
    params = load_params(params_path, "qa", "model", "seed")
    assert params.model is not None
    log_params("generate_qa", {"seed": params.seed, "qa": params.to_dict()["qa"], "model.name": params.model.name})

    from docent.qa.generate import generate_all

    rows, unrelated, qa_metrics = generate_all(params, sentences, code, model_cache)
    write_jsonl(out, rows)
    write_jsonl(unrelated_out, unrelated)
    write_metrics(metrics, qa_metrics, machine_metrics)


if __name__ == "__main__":
    main()
