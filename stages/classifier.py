"""Stage `classifier`: data/split/*.jsonl -> models/classifier/ (skops + JSON) and metrics/classifier.json.

    python -m stages.classifier --params params.yaml --split-dir data/split \
        --sentences data/clean/sentences.jsonl --out models/classifier --metrics metrics/classifier.json
"""

from __future__ import annotations

import click

from docent.cli import log, log_params, metrics_option, params_option, stage_main
from docent.config import load_params
from docent.io import atomic_dir, write_metrics


@click.command()
@params_option
@click.option("--split-dir", required=True, type=click.Path(file_okay=False), help="folder of split JSONL files")
@click.option("--sentences", required=True, type=click.Path(dir_okay=False), help="domain sentences JSONL (clean)")
@click.option("--natural", required=True, type=click.Path(dir_okay=False),
              help="hand-written questions JSONL: those of assistant.domain are measured (natural_admitted; "
                   "those on held-out documents apart)")
@click.option("--everyday", required=True, type=click.Path(dir_okay=False),
              help="hand-written everyday questions, one a line: measured (everyday_admitted)")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="classifier folder to write")
@metrics_option
@stage_main
def main(params_path: str, split_dir: str, sentences: str, natural: str, everyday: str, out: str, metrics: str,
         machine_metrics: str) -> None:
    params = load_params(params_path, "classifier", "seed", "qa", "assistant")
    log_params("classifier", params.to_dict())

    from docent.evaluation.natural import everyday_questions, natural_questions
    from docent.relevance.classifier import save_classifier
    from docent.relevance.train import train_and_evaluate

    assert params.classifier is not None and params.seed is not None and params.qa is not None
    assert params.assistant is not None
    classifier, classifier_metrics = train_and_evaluate(
        split_dir, sentences, params.classifier, params.seed, params.qa.unrelated_sentences_per_article,
        natural=natural_questions(natural, params.assistant.domain), everyday=everyday_questions(everyday))
    with atomic_dir(out) as tmp:
        save_classifier(classifier, tmp, params.classifier, params.seed,
                        extra={"test_metrics": {k: classifier_metrics[k] for k in ("precision", "recall", "f1")}})
    write_metrics(metrics, classifier_metrics, machine_metrics)
    log.info("classifier: threshold %.3f, test precision %.3f recall %.3f F1 %.3f ROC-AUC %.3f",
             classifier.threshold, classifier_metrics["precision"], classifier_metrics["recall"],
             classifier_metrics["f1"], classifier_metrics["roc_auc"])


if __name__ == "__main__":
    main()
