"""Stage `split`: data/qa/{qa,unrelated}.jsonl -> data/split/{train,val,test,test_unseen,unrelated_*}.jsonl.

    python -m stages.split --params params.yaml --qa data/qa/qa.jsonl \
        --unrelated data/qa/unrelated.jsonl --out-dir data/split --metrics metrics/split.json
"""

from __future__ import annotations

from pathlib import Path

import click

from docent.cli import log, log_params, metrics_option, params_option, stage_main
from docent.config import load_params
from docent.io import read_jsonl, write_jsonl, write_metrics
from docent.qa.records import QA_KEYS, UNRELATED_KEYS


@click.command()
@params_option
@click.option("--qa", "qa_path", required=True, type=click.Path(dir_okay=False), help="QA pairs JSONL")
@click.option("--unrelated", required=True, type=click.Path(dir_okay=False), help="unrelated questions JSONL")
@click.option("--out-dir", required=True, type=click.Path(file_okay=False), help="folder for the split files")
@metrics_option
@stage_main
def main(params_path: str, qa_path: str, unrelated: str, out_dir: str, metrics: str, machine_metrics: str) -> None:
    params = load_params(params_path, "split", "seed")
    log_params("split", params.to_dict())
    qa_rows = read_jsonl(qa_path, required=QA_KEYS, nonempty=("question", "answer"))
    unrelated_rows = read_jsonl(unrelated, required=UNRELATED_KEYS, nonempty=("question",))

    from docent.qa.split import split_all

    assert params.split is not None and params.seed is not None
    splits, split_metrics = split_all(qa_rows, unrelated_rows, params.split, params.seed)
    for name, rows in splits.items():
        write_jsonl(Path(out_dir) / f"{name}.jsonl", rows)
    write_metrics(metrics, split_metrics, machine_metrics)
    log.info("split: %s", ", ".join(f"{name} {len(rows)}" for name, rows in splits.items()))


if __name__ == "__main__":
    main()
