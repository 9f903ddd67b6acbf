"""Stage `clean`: data/raw/pages.jsonl -> data/clean/sentences.jsonl and data/clean/code.jsonl.

    python -m stages.clean --params params.yaml --pages data/raw/pages.jsonl \
        --out data/clean/sentences.jsonl --code-out data/clean/code.jsonl --metrics metrics/clean.json

Sentence rows: doc_id, title, sent_id, text, section (heading path), kind (sentence | definition).
Code rows (code blocks, whole): doc_id, title, code_id, section, kind (code), language, context, text.
"""

from __future__ import annotations

import click

from docent.cli import UserError, log, log_params, metrics_option, params_option, stage_main
from docent.config import load_params
from docent.io import read_jsonl, write_jsonl, write_metrics


@click.command()
@params_option
@click.option("--pages", required=True, type=click.Path(dir_okay=False), help="pages JSONL from scrape")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="sentences JSONL to write")
@click.option("--code-out", required=True, type=click.Path(dir_okay=False),
              help="code blocks JSONL to write (kept apart from the sentences)")
@metrics_option
@stage_main
def main(params_path: str, pages: str, out: str, code_out: str, metrics: str, machine_metrics: str) -> None:
    params = load_params(params_path, "clean")
    log_params("clean", params.to_dict())
    rows = read_jsonl(pages, required=("id", "title", "format", "content"), nonempty=("id", "title"))

    from docent.text.clean import clean_pages, validate_pages

    validate_pages(rows, pages)
    assert params.clean is not None
    sentences, code, clean_metrics = clean_pages(rows, params.clean)
    if not sentences:
        raise UserError(
            f"{pages}: no sentence of {params.clean.min_words} to {params.clean.max_words} words in "
            f"{len(rows)} page(s)" + (f" ({len(code)} code block(s) alone are not a corpus)" if code else "")
            + "; check the pages or clean.min_words / clean.max_words"
        )
    write_jsonl(out, sentences)
    write_jsonl(code_out, code)
    write_metrics(metrics, clean_metrics, machine_metrics)
    log.info("clean: %d sentences and %d code blocks from %d documents (dropped: %s)", len(sentences), len(code),
             len(rows), ", ".join(f"{k[8:]} {v}" for k, v in clean_metrics.items() if k.startswith("dropped_")))
    if clean_metrics["documents_without_sentences"]:
        log.warning("documents without a sentence: %s", clean_metrics["documents_without_sentences_ids"])


if __name__ == "__main__":
    main()
