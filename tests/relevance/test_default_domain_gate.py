"""The relevance gate the default params build, on the real default domain (issue 3's "Done when").

`dvc repro classifier` with the repo's own params.yaml in a temporary copy (scrape -> clean ->
generate_qa -> split -> classifier on the offline snapshot, about 2 minutes), then questions a
kiosk visitor might type: none of them comes from the generator, so they test the topic the
classifier learnt, not its templates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_copy import copy_pipeline

from docent.relevance.classifier import load_classifier

pytestmark = pytest.mark.slow  # dvc repro classifier on the default params (scrape to classifier)

DOMAIN_QUESTIONS = [
    "who was uncle ho", "why did the french leave indochina", "What did the Trung sisters fight for?",
    "Tell me something about Hue", "Is Hanoi older than Saigon?", "how long is the mekong river",
    "What language do people speak in Vietnam?", "who was general giap", "What was Champa?",
    "When did the Vietnam War end?", "what did Le Loi do", "Who defeated the Mongols in Vietnam?",
    "What is Da Nang famous for?", "How many people live in Saigon today?", "What was the Khmer Empire?",
    "Which dynasty built the citadel in Hue?", "Who were the Khmer Rouge?",
    "Why is Ho Chi Minh City also called Saigon?", "Tell me about the Nguyen emperors", "What was French Indochina?",
]
EVERYDAY_QUESTIONS = [
    "How do I bake banana bread?", "What is 17 times 23?", "What is the capital of Peru?",
    "Who won the 2018 FIFA World Cup?", "How do I reset my router?", "What's a good recipe for lasagna?",
    "Solve x^2 - 4 = 0", "What is the population of Canada?", "Who was the first president of the United States?",
    "When did the Roman Empire fall?", "Who painted the Mona Lisa?", "What is the boiling point of water?",
    "How do vaccines work?", "Who wrote Hamlet?", "What currency does Brazil use?", "When was the Eiffel Tower built?",
    "What is the largest city in Australia?", "How many calories are in an apple?",
    "What is the best way to learn Python?", "What is the tallest mountain in Africa?",
]


@pytest.fixture(scope="module")
def default_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_pipeline(tmp_path_factory.mktemp("default-domain"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    for cmd in (["git", "init", "-q", "-b", "main"], ["dvc", "init", "-q"], ["dvc", "repro", "classifier"]):
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{cmd}: {proc.stderr[-3000:]}"
    return repo


def test_default_domain_has_hundreds_of_grounded_pairs(default_repo: Path) -> None:
    qa = json.loads((default_repo / "metrics/qa.json").read_text())
    assert qa["pairs"] >= 300
    rows = [json.loads(line) for line in (default_repo / "data/qa/qa.jsonl").read_text().splitlines()]
    sentences = {(r["doc_id"], r["sent_id"]): r["text"] for r in
                 map(json.loads, (default_repo / "data/clean/sentences.jsonl").read_text().splitlines())}
    for row in rows:  # every answer is one of its source sentences' text (or a pronoun-resolved form)
        assert row["answer"].endswith((".", "!", "?", '"', ")")), row
        assert all((row["doc_id"], sid) in sentences for sid in row["sent_ids"]), row


def test_default_classifier_reaches_its_targets(default_repo: Path) -> None:
    metrics = json.loads((default_repo / "metrics/classifier.json").read_text())
    # measured F1 0.900 (precision 0.840, recall 0.969, ROC-AUC 0.995) on 227 domain vs 1,608 unrelated
    # held-out questions with the forms of 3 December (0.819 before them). It was 0.907 on 472
    # unrelated ones before the visitor forms and the topic anchors, which made the unrelated pool
    # 3.5 times larger and closer to visitors' questions; the hand-written sets below gained (0 of
    # 20 domain questions refused, 5 before; README). The margin below absorbs a few flipped
    # questions on another CPU's floating point.
    assert metrics["f1"] >= 0.80 and metrics["roc_auc"] >= 0.98, metrics
    assert metrics["natural_admitted"] >= 0.85 and metrics["everyday_admitted"] <= 0.05, metrics
    size_mb = (default_repo / "models/classifier/classifier.skops").stat().st_size / 2**20
    assert size_mb < 16, f"classifier.skops is {size_mb:.1f} MB"


def test_default_gate_on_questions_nobody_generated(default_repo: Path) -> None:
    gate = load_classifier(default_repo / "models/classifier")
    refused_domain = [q for q in DOMAIN_QUESTIONS if not gate.is_related(q)[0]]
    admitted_everyday = [q for q in EVERYDAY_QUESTIONS if gate.is_related(q)[0]]
    # measured: 20 of 20 domain questions admitted (15 before the visitor forms were positives; the
    # lowest, "Tell me something about Hue", scores 0.22 against a threshold of 0.17), 18 of 20
    # everyday ones refused: "Who was the first president of the United States?" (0.86) and "Who
    # painted the Mona Lisa?" (0.18) get in, the next is "Who won the 2018 FIFA World Cup?" at 0.02.
    # The Mona Lisa came in with the question forms of 3 December (0.179 then, with 19 of 20 domain
    # questions admitted); one more admitted would mean the gate learnt "Who ...?" as the domain.
    assert len(refused_domain) <= 2, refused_domain
    assert len(admitted_everyday) <= 2, admitted_everyday
