"""Stage `scrape`: page titles (or the user's documents) -> data/raw/pages.jsonl.

    python -m stages.scrape --params params.yaml --documents data/documents \
        --http-cache data/http_cache --out data/raw/pages.jsonl --metrics metrics/scrape.json
"""

from __future__ import annotations

from pathlib import Path

import click

from docent.cli import log_params, metrics_option, params_option, stage_main
from docent.config import load_params
from docent.io import write_jsonl, write_metrics

CACHEDIR_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# docent's HTTP cache (scrape.source=wikipedia)\n"


@click.command()
@params_option
@click.option("--documents", required=True, type=click.Path(file_okay=False),
              help="folder of .html/.htm/.md/.txt/.pdf/.docx documents (scrape.source=files)")
@click.option("--http-cache", required=True, type=click.Path(file_okay=False),
              help="on-disk HTTP cache (scrape.source=wikipedia); always created")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="pages JSONL to write")
@metrics_option
@stage_main
def main(params_path: str, documents: str, http_cache: str, out: str, metrics: str, machine_metrics: str) -> None:
    params = load_params(params_path, "scrape")
    log_params("scrape", params.to_dict())
    # dvc.yaml declares the cache as a persistent output, so it must exist whatever the source;
    # the standard cache tag keeps backup tools out of it (and the folder never empty for dvc).
    Path(http_cache).mkdir(parents=True, exist_ok=True)
    tag = Path(http_cache) / "CACHEDIR.TAG"
    if not tag.exists():
        tag.write_text(CACHEDIR_TAG, encoding="utf-8")

    from docent.sources import scrape

    assert params.scrape is not None
    pages, scrape_metrics = scrape(params.scrape, documents=Path(documents), http_cache=Path(http_cache))
    write_jsonl(out, (page.to_row() for page in pages))
    write_metrics(metrics, scrape_metrics, machine_metrics)


if __name__ == "__main__":
    main()
