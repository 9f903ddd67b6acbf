"""Passages that name what their sentence calls "It", "He" or "the river" (retrieval.resolve_references).

A passage is mostly one sentence (`retrieval.passage_words` 20), so "It is oriented toward the
west" in "Angkor Wat" named Angkor Wat neither for BM25 and the embedding nor for the model, while
the QA answers the model was trained to give say the name. The index stage reads such a sentence
as the QA generator resolves it, in the source's words otherwise
(docent.qa.rules.generator.named_references). Only the index stage imports this module: the
spaCy parse is its cost, about a second per hundred sentences.
"""

from __future__ import annotations

from pathlib import Path


def named_references(sentences_path: str | Path) -> dict[str, str]:
    """{sentence key: text} for clean's sentences whose references the QA generator names."""
    from docent.io import read_jsonl
    from docent.qa.records import SENTENCE_KEYS, sentences_from_rows
    from docent.qa.rules import load_spacy
    from docent.qa.rules.generator import named_references as resolve

    rows = read_jsonl(sentences_path, required=SENTENCE_KEYS, nonempty=("doc_id", "title"))
    return resolve(load_spacy(), sentences_from_rows(rows, str(sentences_path)))
