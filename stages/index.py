"""Stage `index`: data/clean/sentences.jsonl and code.jsonl -> models/index/ (BM25 and embeddings of
passages) and metrics/index.json.

    python -m stages.index --params params.yaml --sentences data/clean/sentences.jsonl \
        --code data/clean/code.jsonl \
        --pages data/raw/pages.jsonl --split-dir data/split --natural data/eval/natural_questions.jsonl \
        --out models/index --metrics metrics/index.json
"""

from __future__ import annotations

import click

from docent.cli import log, log_params, metrics_option, params_option, stage_main
from docent.config import load_params
from docent.io import write_metrics


@click.command()
@params_option
@click.option("--sentences", required=True, type=click.Path(dir_okay=False), help="clean sentences JSONL")
@click.option("--code", "code_path", required=True, type=click.Path(dir_okay=False),
              help="clean code blocks JSONL (each a passage)")
@click.option("--pages", required=True, type=click.Path(dir_okay=False), help="scraped pages JSONL (for urls)")
@click.option("--split-dir", required=True, type=click.Path(file_okay=False),
              help="split folder: test_absent's documents are left out; recall is measured on the others")
@click.option("--natural", required=True, type=click.Path(dir_okay=False),
              help="hand-written questions JSONL (domain, question, sentence): those of assistant.domain")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="index folder to write")
@metrics_option
@stage_main
def main(params_path: str, sentences: str, code_path: str, pages: str, split_dir: str, natural: str, out: str,
         metrics: str, machine_metrics: str) -> None:
    params = load_params(params_path, "retrieval", "assistant")
    log_params("index", params.to_dict())

    from pathlib import Path

    from docent.evaluation.natural import natural_questions
    from docent.retrieval.build import RECALL_AT, build_index, natural_gold, recall_at

    assert params.retrieval is not None and params.assistant is not None
    named = None
    if params.retrieval.resolve_references:
        from docent.retrieval.references import named_references

        named = named_references(sentences)
    index, index_metrics = build_index(sentences, code_path, pages, split_dir, params.retrieval, named)
    rows = [r for r in natural_questions(Path(natural), params.assistant.domain) if r.get("sentence")]
    if rows:
        ks = sorted({params.retrieval.k, *RECALL_AT})
        from docent.io import read_jsonl

        sources = read_jsonl(sentences, required=("doc_id", "sent_id", "text"))
        recalls = recall_at(index, [(str(r["question"]), natural_gold(index.passages, str(r["sentence"]), sources))
                                    for r in rows], ks)
        index_metrics.update({f"natural.recall_at_{k}": v for k, v in recalls.items()})
    index.save(out)
    write_metrics(metrics, {k: round(v, 6) if isinstance(v, float) else v for k, v in index_metrics.items()},
                  machine_metrics)
    log.info("index: %d passages from %d documents; recall@%d test %.3f test_unseen %.3f",
             index_metrics["passages"], index_metrics["documents"], params.retrieval.k,
             index_metrics.get(f"test.recall_at_{params.retrieval.k}", float("nan")),
             index_metrics.get(f"test_unseen.recall_at_{params.retrieval.k}", float("nan")))


if __name__ == "__main__":
    main()
