"""`python -m docent.relevance "question" ...`: score questions with the trained relevance classifier."""

from __future__ import annotations

import click

from docent.cli import setup_logging


@click.command()
@click.argument("questions", nargs=-1, required=True)
@click.option("--model", "model_dir", default="models/classifier", show_default=True,
              type=click.Path(file_okay=False), help="classifier folder written by the classifier stage")
def main(questions: tuple[str, ...], model_dir: str) -> None:
    """Print related/unrelated and P(related) for each QUESTION."""
    setup_logging()
    from docent.relevance.classifier import load_classifier

    classifier = load_classifier(model_dir)
    for question in questions:
        related, score = classifier.is_related(question)
        verdict = "related" if related else "unrelated"
        click.echo(f"{verdict}\t{score:.3f}\t(threshold {classifier.threshold:.3f})\t{question}")


if __name__ == "__main__":
    main()
