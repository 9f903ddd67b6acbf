"""Stage `evaluate`: {base, fine-tuned} x {closed-book, retrieval} on every test split -> metrics, answers,
report, plot, charts.

    python -m stages.evaluate --params params.yaml --finetuned models/finetuned \
        --classifier models/classifier --split-dir data/split --index models/index \
        --natural data/eval/natural_questions.jsonl --model-cache models/cache \
        --live-dir metrics/train --metrics metrics/eval.json --answers metrics/answers.csv \
        --report metrics/report.md --plot metrics/eval_plot.json --charts metrics/charts
"""

from __future__ import annotations

from pathlib import Path

import click

from docent.cli import log_params, metrics_option, model_cache_option, params_option, stage_main
from docent.config import load_params
from docent.io import write_json, write_metrics


@click.command()
@params_option
@click.option("--finetuned", required=True, type=click.Path(file_okay=False),
              help="fine-tuned model folder written by finetune (adapter or full weights + docent.json)")
@click.option("--classifier", required=True, type=click.Path(file_okay=False), help="relevance classifier folder")
@click.option("--split-dir", required=True, type=click.Path(file_okay=False),
              help="folder with train/test/test_unseen/test_absent/unrelated_test .jsonl")
@click.option("--index", "index_dir", required=True, type=click.Path(file_okay=False), help="retrieval index folder")
@click.option("--natural", required=True, type=click.Path(dir_okay=False),
              help="hand-written questions JSONL (domain, question, answer, short_answer): those of "
                   "assistant.domain; a missing file is skipped")
@model_cache_option
@click.option("--live-dir", required=True, type=click.Path(file_okay=False),
              help="dvclive folder written by finetune (loss per step, for the loss chart)")
@metrics_option
@click.option("--answers", required=True, type=click.Path(dir_okay=False), help="per-question answers CSV to write")
@click.option("--report", required=True, type=click.Path(dir_okay=False), help="markdown report to write")
@click.option("--plot", required=True, type=click.Path(dir_okay=False), help="bar-chart data JSON to write")
@click.option("--charts", "charts_dir", required=True, type=click.Path(file_okay=False),
              help="folder for the chart images that report.md shows (replaced as a whole)")
@stage_main
def main(params_path: str, finetuned: str, classifier: str, split_dir: str, index_dir: str, natural: str,
         model_cache: str, live_dir: str, metrics: str, answers: str, report: str, plot: str, charts_dir: str,
         machine_metrics: str) -> None:
    params = load_params(params_path, "seed", "model", "quant", "eval", "retrieval", "assistant")
    log_params("evaluate", params.to_dict())

    from docent.evaluation.charts import params_hash, write_charts
    from docent.evaluation.report import plot_points, write_answers_csv, write_report
    from docent.evaluation.runner import run_evaluation
    from docent.modeling.loading import read_manifest

    result = run_evaluation(
        params,
        finetuned_dir=Path(finetuned),
        classifier_dir=Path(classifier),
        split_dir=Path(split_dir),
        model_cache=Path(model_cache),
        index_dir=Path(index_dir),
        natural_path=Path(natural),
    )
    write_answers_csv(answers, result)
    # the params that made the evaluated model (finetune's manifest) and those of this evaluation
    run_id = params_hash(read_manifest(finetuned).get("params", {}), params.to_dict())
    charts = write_charts(charts_dir, live_dir, result.metrics, run_id)
    write_report(report, result, charts=charts)
    write_json(plot, plot_points(result.metrics))
    write_metrics(metrics, result.metrics, machine_metrics)


if __name__ == "__main__":
    main()
