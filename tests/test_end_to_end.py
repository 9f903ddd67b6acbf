"""The whole pipeline through DVC, on tiny params: repro, determinism, and the experiment workflow.

The repo is copied into a temporary git repo; `model.name` points at a tiny random Llama built by
the test, and the corpus is a handful of snapshot pages, so a full `dvc repro` takes about a minute.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from pipeline_copy import copy_pipeline
from tiny_models import REPO

pytestmark = pytest.mark.slow  # the whole pipeline through dvc repro, twice, and an experiment

# Keys that measure the machine, not the result: excluded from the determinism comparison.
MACHINE_KEYS = ("_s", "_per_s", "_mb", "device", "threads")

DATA_OUTPUTS = [
    "data/raw/pages.jsonl",
    "data/clean/sentences.jsonl",
    "data/qa/qa.jsonl",
    "data/qa/unrelated.jsonl",
    "data/split/train.jsonl",
    "data/split/val.jsonl",
    "data/split/test.jsonl",
    "data/split/test_unseen.jsonl",
    "data/split/test_absent.jsonl",
    "data/split/unrelated_train.jsonl",
    "data/split/unrelated_val.jsonl",
    "data/split/unrelated_test.jsonl",
]
METRICS = ["scrape", "clean", "qa", "split", "index", "classifier", "train", "eval"]
CHARTS = ["metrics/charts/loss.png", "metrics/charts/accuracy.png"]


def tiny_params(model_dir: Path) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["scrape"]["pages"] = ["Ho Chi Minh", "Hanoi", "Huế", "Trưng sisters", "Lê Lợi", "Vietnam War"]
    params["qa"]["unrelated_pages"] = 120
    params["split"]["absent_documents"] = 1
    params["classifier"].update(hash_bits=14, background_articles=300)
    params["model"]["name"] = str(model_dir)
    params["freeze"]["layers"] = 1
    params["lora"]["r"] = 8
    # the tiny model's word-level tokenizer has no GGUF form (the export stage's own tests write tiny
    # Llamas with byte-level BPE); disabled, the stage writes only its README and {"enabled": false}
    params["export"]["enabled"] = False
    params["train"].update(max_steps=4, batch_size=4, grad_accum=1, eval_steps=2, save_steps=2, threads=1)
    params["eval"].update(max_questions=4, max_new_tokens=6, batch_size=4, few_shot_k=1,
                          unrelated_questions=10, probe_questions=["Who was Ho Chi Minh?"])
    return params


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def result_metrics(repo: Path) -> dict[str, dict]:
    out = {}
    for name in METRICS:
        values = json.loads((repo / "metrics" / f"{name}.json").read_text(encoding="utf-8"))
        out[name] = {k: v for k, v in values.items() if not k.endswith(MACHINE_KEYS)}
    return out


@pytest.fixture(scope="module")
def pipeline_repo(tmp_path_factory, tiny_model_dir) -> Path:
    repo = copy_pipeline(tmp_path_factory.mktemp("pipeline"), tiny_params(tiny_model_dir))
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["dvc", "init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "pipeline"], repo)
    run(["dvc", "repro"], repo)
    return repo


def test_repro_writes_every_declared_output(pipeline_repo):
    for rel in DATA_OUTPUTS:
        assert (pipeline_repo / rel).stat().st_size > 0, rel
    for name in METRICS:
        assert (pipeline_repo / "metrics" / f"{name}.json").is_file()
    assert (pipeline_repo / "models" / "finetuned" / "docent.json").is_file()
    assert (pipeline_repo / "models" / "classifier").is_dir()
    assert (pipeline_repo / "models" / "index" / "manifest.json").is_file()
    # trained with retrieved passages (the default), and evaluated on the whole grid
    manifest = json.loads((pipeline_repo / "models" / "finetuned" / "docent.json").read_text(encoding="utf-8"))
    assert manifest["context"] == "retrieved" and manifest["retrieval_k"] == 3
    train = json.loads((pipeline_repo / "metrics" / "train.json").read_text(encoding="utf-8"))
    assert train["context_gold_present"] + train["context_gold_absent"] == train["train_examples"]
    evaluated = json.loads((pipeline_repo / "metrics" / "eval.json").read_text(encoding="utf-8"))
    for split in ("test", "test_unseen", "test_absent", "natural"):
        assert f"finetuned_rag.{split}.correct" in evaluated and f"base_rag.{split}.wrong" in evaluated
    report = (pipeline_repo / "metrics" / "report.md").read_text(encoding="utf-8")
    for chart in CHARTS:  # shown in report.md by paths relative to it
        assert f"]({Path(chart).relative_to('metrics').as_posix()})" in report, chart
        assert (pipeline_repo / chart).read_bytes().startswith(b"\x89PNG"), chart
    exported = json.loads((pipeline_repo / "metrics" / "export.json").read_text(encoding="utf-8"))
    assert exported == {"enabled": False} and (pipeline_repo / "models" / "export" / "README.md").is_file()
    status = run(["dvc", "status", "--json"], pipeline_repo)
    assert json.loads(status.stdout) == {}


def read_rows(repo: Path, rel: str) -> list[dict]:
    return [json.loads(line) for line in (repo / rel).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_outputs_agree_with_each_other(pipeline_repo, tiny_model_dir):
    """Each stage's output is what the next one read: counts and ids carry over, the split partitions."""
    metrics = {name: json.loads((pipeline_repo / "metrics" / f"{name}.json").read_text(encoding="utf-8"))
               for name in METRICS}
    sentences = read_rows(pipeline_repo, "data/clean/sentences.jsonl")
    qa = read_rows(pipeline_repo, "data/qa/qa.jsonl")
    unrelated = read_rows(pipeline_repo, "data/qa/unrelated.jsonl")
    assert len(qa) == metrics["qa"]["pairs"] and len(unrelated) == metrics["qa"]["unrelated"]
    assert len(sentences) == metrics["qa"]["sentences"]
    assert {r["doc_id"] for r in qa} <= {r["doc_id"] for r in sentences}
    assert len({r["id"] for r in qa}) == len(qa)

    split = {name: read_rows(pipeline_repo, f"data/split/{name}.jsonl")
             for name in ("train", "val", "test", "test_unseen", "test_absent")}
    ids = [r["id"] for rows in split.values() for r in rows]
    assert len(ids) == len(set(ids)) == len(qa) - metrics["split"]["dropped_duplicate_question"]
    assert set(ids) <= {r["id"] for r in qa}
    for name, rows in split.items():
        assert metrics["split"][f"{name}_questions"] == len(rows), name
    facts = {name: {r["fact_id"] for r in rows} for name, rows in split.items()}
    assert facts["test"] <= facts["train"]  # test: other phrasings of taught facts
    assert not facts["test_unseen"] & facts["train"]  # test_unseen: never taught
    absent_docs = {r["doc_id"] for r in split["test_absent"]}
    assert len(absent_docs) == 1 and not absent_docs & {r["doc_id"] for name in ("train", "val", "test", "test_unseen")
                                                        for r in split[name]}
    unrelated_split = [r["id"] for name in ("unrelated_train", "unrelated_val", "unrelated_test")
                       for r in read_rows(pipeline_repo, f"data/split/{name}.jsonl")]
    assert sorted(unrelated_split) == sorted(r["id"] for r in unrelated)

    manifest = json.loads((pipeline_repo / "models/finetuned/docent.json").read_text(encoding="utf-8"))
    assert manifest["base_model"] == str(tiny_model_dir)
    assert metrics["train"]["steps"] == 4  # train.max_steps

    evaluated = metrics["eval"]
    for name in ("test", "test_unseen", "test_absent"):
        assert evaluated[f"n_questions_available.{name}"] == len(split[name])
        assert evaluated[f"n_questions.{name}"] == min(4, len(split[name]))  # eval.max_questions
    with open(pipeline_repo / "metrics/answers.csv", encoding="utf-8", newline="") as fh:
        answers = list(csv.DictReader(fh))
    asked = {name: evaluated[f"n_questions.{name}"] for name in ("test", "test_unseen", "test_absent", "natural")}
    assert Counter(r["split"] for r in answers) == Counter({k: v for k, v in asked.items() if v})
    test_questions = {r["question"] for r in split["test"]}
    assert {r["question"] for r in answers if r["split"] == "test"} <= test_questions


def test_same_params_give_identical_outputs(pipeline_repo):
    """Issue 8: a forced second run reproduces data/ byte for byte and every result metric."""
    first_data = {rel: (pipeline_repo / rel).read_bytes() for rel in DATA_OUTPUTS + CHARTS}
    first_adapter = (pipeline_repo / "models/finetuned/adapter_model.safetensors").read_bytes()
    first_metrics = result_metrics(pipeline_repo)

    run(["dvc", "repro", "--force"], pipeline_repo)

    for rel, content in first_data.items():
        assert (pipeline_repo / rel).read_bytes() == content, f"{rel} differs between two runs"
    assert (pipeline_repo / "models/finetuned/adapter_model.safetensors").read_bytes() == first_adapter
    assert result_metrics(pipeline_repo) == first_metrics


def test_experiment_changes_are_visible_to_dvc(pipeline_repo):
    """Issue 5: `dvc exp run -S lora.r=4`, then exp show / metrics diff report what changed."""
    run(["git", "add", "-A"], pipeline_repo)
    run(["git", "commit", "-qm", "baseline run"], pipeline_repo)
    before = json.loads((pipeline_repo / "metrics/train.json").read_text())

    run(["dvc", "exp", "run", "-S", "lora.r=4"], pipeline_repo)

    shown = json.loads(run(["dvc", "exp", "show", "--json"], pipeline_repo).stdout)
    experiments = [exp for rev in shown for exp in (rev.get("experiments") or [])]
    assert experiments, "dvc exp show lists no experiment"
    exp_data = experiments[0]["revs"][0]["data"]
    assert exp_data["params"]["params.yaml"]["data"]["lora"]["r"] == 4
    exp_train = exp_data["metrics"]["metrics/train.json"]["data"]
    assert exp_train["trainable_params"] < before["trainable_params"]  # r 8 -> 4 halves the adapter

    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], pipeline_repo).stdout)
    train_diff = diff["metrics/train.json"]
    assert train_diff["trainable_params"]["old"] == before["trainable_params"]
    assert train_diff["trainable_params"]["new"] == exp_train["trainable_params"]
    assert "metrics/eval.json" in diff


def test_declared_plots_find_their_fields(pipeline_repo):
    """Every `y` field named in dvc.yaml's plots is a column of the file dvclive wrote."""
    proc = run(["dvc", "plots", "show", "--json"], pipeline_repo)
    assert "could not find provided field" not in proc.stderr, proc.stderr
    shown = json.loads(proc.stdout)["data"]
    for title, field in (("Training and eval loss", "loss"), ("Learning rate", "learning_rate")):
        rows = [row for plot in shown[title] for row in plot["content"]["data"]["values"]]
        assert rows and all(field in row and "step" in row for row in rows), (title, rows[:2])
