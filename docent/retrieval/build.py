"""The index stage's work: clean sentences -> passages -> passage index (BM25 and embeddings), and how
well it finds answers.

recall@k of a split: the share of its questions for which a passage holding the answer's source
sentence is among the k retrieved. The held-out documents of `test_absent` are not indexed (the
assistant must not find what the user never gave it), so that split has no recall.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docent.config import RetrievalParams
from docent.io import read_jsonl
from docent.qa.records import read_absent_split
from docent.retrieval.index import PassageIndex, stopwords_digest
from docent.retrieval.passages import Passage, build_passages, code_passages, gold_passages, row_key
from docent.text.normalize import fold_for_matching

RECALL_SPLITS = ("train", "val", "test", "test_unseen")
RECALL_AT = (1, 5)  # besides retrieval.k


def index_manifest(params: RetrievalParams) -> dict[str, Any]:
    """What an index was built from, and how it fuses its two scores: checked by whoever loads it."""
    libraries = ("bm25s", "PyStemmer", *(("sentence-transformers", params.embedding_model)
                                         if params.embedding_model else ()))
    return {"passage_words": params.passage_words, "resolve_references": params.resolve_references,
            "stopwords": stopwords_digest(),
            "embedding_model": params.embedding_model,
            "lexical_weight": params.lexical_weight if params.embedding_model else 1.0,
            "versions": {name: importlib.metadata.version(name) for name in libraries}}


def build_index(sentences_path: str | Path, code_path: str | Path, pages_path: str | Path, split_dir: str | Path,
                params: RetrievalParams, named: dict[str, str] | None = None) -> tuple[PassageIndex, dict[str, Any]]:
    """`named`: sentence key -> the text its passage reads instead (docent.retrieval.references;
    the index stage passes it when retrieval.resolve_references is on)."""
    started = time.perf_counter()
    sentences = read_jsonl(sentences_path, required=("doc_id", "title", "sent_id", "text"), nonempty=("text",))
    code = read_jsonl(code_path, required=("doc_id", "title", "code_id", "text"), nonempty=("text",),
                      allow_empty_file=True)
    pages = read_jsonl(pages_path, required=("id",), allow_empty_file=True)
    urls = {str(p["id"]): str(p.get("url") or "") for p in pages}
    _absent_rows, absent_docs = read_absent_split(split_dir)
    named = named or {}
    code_only = code_passages(code, params.code_lead_words, urls, exclude_docs=absent_docs)
    passages = build_passages([{**row, "text": named.get(row_key(row), row["text"])} for row in sentences],
                              params.passage_words, urls, exclude_docs=absent_docs) + code_only
    source = None
    if named:
        # training contexts come from the passages as the source words them (why:
        # retrieval.resolve_references in params.yaml), by BM25 alone as with every index
        source = PassageIndex.build(build_passages(sentences, params.passage_words, urls, exclude_docs=absent_docs)
                                    + code_only, {**index_manifest(params), "embedding_model": "",
                                                  "lexical_weight": 1.0, "resolve_references": False})
    index = PassageIndex.build(passages, index_manifest(params))
    index.source = source
    metrics: dict[str, Any] = {
        "passages": len(passages),
        "code_passages": len(code_only),
        "documents": len({p.doc_id for p in passages}),
        "documents_held_out": len(absent_docs),
        "sentences_with_references_named": len(named),
        "passage_words_mean": sum(len(p.text.split()) for p in passages) / len(passages),
        "build_s": time.perf_counter() - started,
    }
    ks = sorted({params.k, *RECALL_AT})
    if max(ks) > len(passages):
        metrics["k_clamped_to_passages"] = len(passages)
    for split in RECALL_SPLITS:
        rows = read_jsonl(Path(split_dir) / f"{split}.jsonl", required=("question", "sent_ids"), allow_empty_file=True)
        questions = [(str(r["question"]), gold_passages(passages, r["sent_ids"], str(r.get("doc_id", ""))))
                     for r in rows]
        recalls = recall_at(index, questions, ks)
        metrics.update({f"{split}.recall_at_{k}": v for k, v in recalls.items()})
    return index, metrics


def natural_gold(passages: list[Passage], sentence: str, sources: Sequence[dict[str, Any]] = ()) -> set[str]:
    """Passages holding a hand-written question's source sentence (matched folded: spacing may
    differ): in their text, or as one of their clean sentences (`sources`, clean's rows), which a
    passage that names its references (retrieval.resolve_references) no longer words as the source."""
    wanted = fold_for_matching(sentence)
    if not wanted:
        return set()
    keys = {row_key(r) for r in sources if wanted in fold_for_matching(str(r["text"]))}
    return {p.passage_id for p in passages if wanted in fold_for_matching(p.text) or keys & set(p.sent_ids)}


def recall_at(index: PassageIndex, questions: list[tuple[str, set[str]]], ks: list[int]) -> dict[int, float]:
    """{k: share of questions with a gold passage among the top k}; questions without gold are skipped."""
    scored = [(q, gold) for q, gold in questions if gold]
    if not scored:
        return {}
    top = max(ks)
    hits = {k: 0 for k in ks}
    for question, gold in scored:
        found = [r.passage.passage_id for r in index.retrieve(question, top)]
        for k in ks:
            hits[k] += bool(gold & set(found[:k]))
    return {k: hits[k] / len(scored) for k in ks}
