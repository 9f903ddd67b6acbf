"""The classifier stage's work: split files -> trained, thresholded classifier + flat metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from docent.config import ClassifierParams
from docent.io import read_jsonl
from docent.relevance.classifier import (
    RelevanceClassifier,
    binary_metrics,
    choose_threshold,
    train_classifier,
)

SPLIT_FILES = ("train", "val", "test", "test_unseen", "unrelated_train", "unrelated_val", "unrelated_test")


def read_questions(split_dir: str | Path) -> dict[str, list[str]]:
    """Every split file must exist and be non-empty: an empty split would give a meaningless model."""
    return {name: [r["question"] for r in read_jsonl(Path(split_dir) / f"{name}.jsonl", required=("question",),
                                                    nonempty=("question",))]
            for name in SPLIT_FILES}


def labelled(related: list[str], unrelated: list[str]) -> tuple[list[str], np.ndarray]:
    return related + unrelated, np.array([1] * len(related) + [0] * len(unrelated))


def topic_request(title: str) -> str:
    """The open request users type ("Tell me about the Trưng sisters"), made for both classes alike so
    the phrase itself carries no class: only the topic named in it does."""
    return f"Tell me about {title}."


def domain_texts(sentences_path: str | Path) -> list[str]:
    """The domain corpus itself: it names every entity of the domain, including those of facts no
    train question asks about (the classifier must know the domain, not just the taught facts)."""
    rows = read_jsonl(sentences_path, required=("text", "title"), nonempty=("text",))
    titles = sorted({str(r["title"]) for r in rows})
    return [r["text"] for r in rows] + [topic_request(t) for t in titles]


def unrelated_texts(unrelated_train: list[dict[str, Any]]) -> list[str]:
    """The lead sentences of the unrelated_train source articles, so both classes hold declarative text as
    well as questions (otherwise "is a statement" alone would predict "related"). Sources that are not
    snapshot articles (qa.unrelated_extra files) add nothing."""
    from collections import Counter

    from docent.qa.unrelated import split_sentences
    from docent.sources.snapshot import load_snapshot

    snapshot = load_snapshot()
    titles = sorted({str(r["source"]) for r in unrelated_train} & set(snapshot))
    articles = [(t, snapshot[t].get("extract") or "") for t in titles]
    return [s.text for s in split_sentences(articles, Counter())] + [topic_request(t) for t in titles]


def train_and_evaluate(split_dir: str | Path, sentences_path: str | Path, params: ClassifierParams,
                       seed: int) -> tuple[RelevanceClassifier, dict[str, Any]]:
    questions = read_questions(split_dir)
    unrelated_train = read_jsonl(Path(split_dir) / "unrelated_train.jsonl", required=("question", "source"))
    related_text = questions["train"] + domain_texts(sentences_path)
    negative_text = questions["unrelated_train"] + unrelated_texts(unrelated_train)
    pipeline = train_classifier(related_text, negative_text, params, seed)
    classifier = RelevanceClassifier(pipeline=pipeline, threshold=0.5)
    val_texts, val_labels = labelled(questions["val"], questions["unrelated_val"])
    classifier.threshold = choose_threshold(classifier.score(val_texts), val_labels, params.min_recall)
    metrics: dict[str, Any] = {"threshold": classifier.threshold, "n_related_texts": len(related_text),
                               "n_unrelated_texts": len(negative_text),
                               **{f"n_{name}": len(q) for name, q in questions.items()}}
    val = binary_metrics(classifier.score(val_texts), val_labels, classifier.threshold)
    metrics.update({f"val_{k}": v for k, v in val.items()})
    # the headline numbers: held-out domain questions (taught and unseen facts) vs held-out unrelated
    test_texts, test_labels = labelled(questions["test"] + questions["test_unseen"], questions["unrelated_test"])
    metrics.update(binary_metrics(classifier.score(test_texts), test_labels, classifier.threshold))
    for name in ("test", "test_unseen"):
        scores = classifier.score(questions[name])
        metrics[f"{name}_recall"] = float((scores >= classifier.threshold).mean())
    metrics["unrelated_test_false_positive_rate"] = float(
        (classifier.score(questions["unrelated_test"]) >= classifier.threshold).mean())
    return classifier, {k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()}
